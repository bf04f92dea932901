"""The Idempotency-Key rule: header forms and the key itself, one rule for HTTP and library."""

from __future__ import annotations

import pytest

from tidings.domain.idempotency import check_key, parse_header, scoped_key
from tidings.errors import InvalidIdempotencyKey


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("abc", "abc"),
        ('"abc"', "abc"),
        ('"a\\"b"', 'a"b'),
        ("a b", "a b"),
        ("x" * 255, "x" * 255),
        (None, None),
    ],
)
def test_valid_keys(raw: str | None, key: str | None) -> None:
    assert parse_header(raw) == key


@pytest.mark.parametrize("raw", ["", '""', "x" * 256, "caf\u00e9", '"open', "a\x01"])
def test_malformed_keys_are_400(raw: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        parse_header(raw)


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "a\x01"])
def test_the_library_refuses_what_the_header_refuses(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        check_key(key)


def test_an_organizations_keys_are_its_own() -> None:
    assert scoped_key("k", None) == "k"  # tenant-wide clients: the key as it is
    assert len({scoped_key("k", None), scoped_key("k", "north"), scoped_key("k", "south")}) == 3
    # the key that would spell south's "k" in the tenant's scope is refused at the door
    with pytest.raises(InvalidIdempotencyKey):
        check_key("south\nk")
