"""Strict JSON and content-type rules of request bodies."""

from __future__ import annotations

import pytest

from tidings.errors import MalformedRequest, UnsupportedMediaType
from tidings_ingest.body import depth_of, parse_json, require_json


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/problem+json",
        "Application/JSON",
    ],
)
def test_json_media_types_are_accepted(content_type: str) -> None:
    require_json(content_type)


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "application/xml", "application/json; charset=latin-1"]
)
def test_other_media_types_are_415(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        require_json(content_type)


@pytest.mark.parametrize(
    "raw",
    [b"{", b"\xff", b'"\\ud800"', b"NaN", b"[1,]", b'{"a": 1, "a": 2}', b'{"x": {"b": 1, "b": 1}}'],
)
def test_malformed_or_ambiguous_json_is_400(raw: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_json(raw, max_depth=32)


def test_nesting_beyond_the_limit_is_400() -> None:
    with pytest.raises(MalformedRequest):
        parse_json(b"[" * 5 + b"]" * 5, max_depth=4)


def test_nesting_within_the_limit_parses() -> None:
    assert parse_json(b'{"a": [{"b": 1}]}', max_depth=3) == {"a": [{"b": 1}]}


def test_depth_counts_objects_and_arrays() -> None:
    assert (depth_of(1), depth_of([]), depth_of({"a": [1]})) == (0, 1, 2)
