"""Strict JSON and content-type rules of request bodies."""

from __future__ import annotations

import asyncio

import pytest

from tidings.errors import MalformedRequest, RequestTimeout, UnsupportedMediaType
from tidings_ingest.body import depth_of, parse_json, read_capped, require_json


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
    [
        b"{",
        b"\xff",
        b'"\\ud800"',
        b"NaN",
        b"[1,]",
        b'{"a": 1, "a": 2}',
        b'{"x": {"b": 1, "b": 1}}',
        b'{"a": "x:y", "a": 1}',  # a colon in a string must not hide the duplicate
    ],
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


def test_a_wide_body_within_the_depth_limit_parses() -> None:
    """More brackets than the limit, but side by side: the count alone refuses nothing."""
    assert parse_json(b"[[1], [2], [3], [4], [5]]", max_depth=2) == [[1], [2], [3], [4], [5]]


def test_colons_inside_strings_are_not_keys() -> None:
    raw = b'{"url": "https://example.test/a:b", "at": "12:00"}'
    assert parse_json(raw, max_depth=2) == {"url": "https://example.test/a:b", "at": "12:00"}


class Upload:
    """The part of a Starlette request ``read_capped`` uses: headers and ASGI ``receive``."""

    def __init__(self, chunks: list[bytes], pause_s: float = 0.0) -> None:
        self.headers: dict[str, str] = {}
        self._chunks, self._pause_s = list(chunks), pause_s

    async def receive(self) -> dict[str, object]:
        await asyncio.sleep(self._pause_s)
        body = self._chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self._chunks)}


async def test_a_body_that_arrives_in_time_is_read_whole() -> None:
    assert await read_capped(Upload([b"ab", b"c"]), 10, timeout_s=5) == b"abc"  # type: ignore[arg-type]


async def test_a_body_that_does_not_arrive_in_time_is_408_and_the_request_goes_on() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RequestTimeout):
        await read_capped(Upload([b"a"], pause_s=30), 10, timeout_s=0.3)  # type: ignore[arg-type]
    assert 0.3 <= loop.time() - started < 10  # cut off, not waited out (the pause is 30 s)
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # the cut-off's cancel is taken back
    await asyncio.sleep(0)  # and nothing is pending for the next await


async def test_a_cancellation_from_elsewhere_is_not_taken_for_a_timeout() -> None:
    reading = asyncio.create_task(read_capped(Upload([b"a"], pause_s=30), 10, timeout_s=5))  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
