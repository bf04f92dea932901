"""The Idempotency-Key rule: header forms and the key itself, one rule for HTTP and library."""

from __future__ import annotations

import pytest

from tidings.domain.idempotency import check_key, parse_header
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
