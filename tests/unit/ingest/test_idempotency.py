"""Idempotency-Key parsing and the replay / reuse / in-flight decisions."""

from __future__ import annotations

import time

import pytest

from tidings.domain.idempotency import parse_header as parse_key
from tidings.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidIdempotencyKey
from tidings_ingest.idempotency import Completed, IdempotencyStore


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
    assert parse_key(raw) == key


@pytest.mark.parametrize("raw", ["", '""', "x" * 256, "caf\u00e9", '"open', "a\x01"])
def test_malformed_keys_are_400(raw: str) -> None:
    with pytest.raises(InvalidIdempotencyKey):
        parse_key(raw)


def done(fingerprint: str = "f1", expires_in_ms: int = 60_000) -> Completed:
    return Completed(fingerprint, "id-1", 202, "{}", int(time.time() * 1000) + expires_in_ms)


def test_first_use_marks_the_key_in_flight() -> None:
    store = IdempotencyStore()
    assert store.begin("acme", "k", "f1") is None
    with pytest.raises(IdempotencyKeyInFlight):
        store.begin("acme", "k", "f1")


def test_completed_key_replays_for_the_same_fingerprint() -> None:
    store = IdempotencyStore()
    store.begin("acme", "k", "f1")
    store.finish("acme", "k", done())
    replay = store.begin("acme", "k", "f1")
    assert replay is not None
    assert (replay.event_id, replay.status) == ("id-1", 202)


def test_completed_key_with_another_fingerprint_is_reused() -> None:
    store = IdempotencyStore()
    store.finish("acme", "k", done("f1"))
    with pytest.raises(IdempotencyKeyReused):
        store.begin("acme", "k", "f2")


def test_keys_are_scoped_to_the_tenant() -> None:
    store = IdempotencyStore()
    store.finish("acme", "k", done("f1"))
    assert store.begin("globex", "k", "f2") is None


def test_failed_request_releases_the_key() -> None:
    store = IdempotencyStore()
    store.begin("acme", "k", "f1")
    store.finish("acme", "k", None)
    assert store.begin("acme", "k", "f2") is None


def test_expired_key_is_usable_again_and_purged() -> None:
    store = IdempotencyStore()
    store.finish("acme", "k", done("f1", expires_in_ms=-1))
    assert store.purge_expired() == 1
    assert store.begin("acme", "k", "f2") is None


def test_topic_records_other_than_completed_are_ignored() -> None:
    store = IdempotencyStore()
    store.apply({"status": "in_flight", "tenant": "acme", "key": "k"})
    assert len(store) == 0
