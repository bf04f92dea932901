"""The Idempotency-Key rule: header forms and the key itself, one rule for HTTP and library."""

from __future__ import annotations

import pytest

from tidings.domain.idempotency import check_key, parse_header, require_key_owner, scoped_key
from tidings.errors import IdempotencyKeyExpired, IdempotencyKeyReused, InvalidIdempotencyKey


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


WINDOW = 1000


@pytest.mark.parametrize(("first", "again"), [("f1", "f1"), (None, "f2"), (None, None)])
def test_the_keys_event_again_is_a_duplicate_at_the_resolver(
    first: str | None, again: str | None
) -> None:
    """Same fingerprint, or none known for the key's event: nothing to refuse."""
    require_key_owner(first, 0, again, 10 * WINDOW, WINDOW)


@pytest.mark.parametrize("again", ["f2", None])
def test_another_body_under_a_key_is_reused_within_the_window(again: str | None) -> None:
    with pytest.raises(IdempotencyKeyReused):
        require_key_owner("f1", 0, again, WINDOW - 1, WINDOW)


def test_another_body_under_a_key_after_the_window_is_expired() -> None:
    with pytest.raises(IdempotencyKeyExpired):
        require_key_owner("f1", 0, "f2", WINDOW, WINDOW)
