"""Idempotency decisions: first use in the log wins, replay or 422, 409 while in flight."""

from __future__ import annotations

import time

import pytest

from tests.support.recent import recent_events
from tidings.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
from tidings.stores.events import Appended
from tidings_ingest.idempotency import KeysInFlight, replay_of


def appended(
    event_id: str = "e-1", fingerprint: str = "f1", offset: int = 1, age_ms: int = 0
) -> Appended:
    return Appended(
        event_id=event_id,
        tenant="acme",
        type="content.approved",
        version=1,
        fingerprint=fingerprint,
        accepted_at=int(time.time() * 1000) - age_ms,
        client_id="c1",
        source_reference=None,
        partition=0,
        offset=offset,
    )


def test_a_key_in_flight_is_409_until_finished() -> None:
    keys = KeysInFlight()
    keys.begin("acme", "k")
    with pytest.raises(IdempotencyKeyInFlight):
        keys.begin("acme", "k")
    keys.finish("acme", "k")
    keys.begin("acme", "k")


def test_keys_in_flight_are_scoped_to_the_tenant() -> None:
    keys = KeysInFlight()
    keys.begin("acme", "k")
    keys.begin("globex", "k")


def test_keys_in_flight_are_scoped_to_the_organization() -> None:
    keys = KeysInFlight()
    keys.begin("acme", "k", "north")
    keys.begin("acme", "k", "south")
    keys.begin("acme", "k")
    with pytest.raises(IdempotencyKeyInFlight):
        keys.begin("acme", "k", "north")
    keys.finish("acme", "k", "north")
    keys.begin("acme", "k", "north")


def test_the_same_request_replays_the_first_event() -> None:
    assert replay_of(appended(fingerprint="f1"), "f1").event_id == "e-1"


def test_another_request_under_the_key_is_422() -> None:
    with pytest.raises(IdempotencyKeyReused):
        replay_of(appended(fingerprint="f1"), "f2")


def test_the_first_record_of_a_key_wins() -> None:
    with recent_events(window_ms=60_000) as events:
        events.add(appended("e-1", "f1", offset=1), "k")
        events.add(appended("e-1", "f2", offset=2), "k")
        first = events.first("acme", "k")
    assert first is not None
    assert (first.offset, first.fingerprint) == (1, "f1")


def test_keys_are_scoped_to_the_tenant() -> None:
    with recent_events(window_ms=60_000) as events:
        events.add(appended(), "k")
        assert events.first("globex", "k") is None


def test_an_organizations_keys_are_its_own() -> None:
    with recent_events(window_ms=60_000) as events:
        events.add(appended("e-north", "f1"), "k", org="north")
        north = events.first("acme", "k", "north")
        assert north is not None
        assert north.event_id == "e-north"
        assert events.first("acme", "k", "south") is None
        assert events.first("acme", "k") is None  # nor the tenant-wide clients'
        events.add(appended("e-tenant", "f2", offset=2), "k")
        tenant = events.first("acme", "k")
        assert tenant is not None
        assert tenant.event_id == "e-tenant"
        north = events.first("acme", "k", "north")
        assert north is not None
        assert north.event_id == "e-north"


def test_a_key_older_than_the_window_is_no_longer_first_and_is_purged() -> None:
    with recent_events(window_ms=1_000) as events:
        events.add(appended(age_ms=5_000), "k")
        assert events.first("acme", "k") is None
        assert events.purge() == 1
        assert events.event("acme", "e-1") is None


def test_a_key_used_again_after_the_window_belongs_to_its_new_first_event() -> None:
    with recent_events(window_ms=1_000) as events:
        events.add(appended("e-old", "f1", age_ms=5_000), "k")
        events.add(appended("e-new", "f2"), "k")
        first = events.first("acme", "k")
        assert first is not None
        assert first.event_id == "e-new"
        events.purge()  # the old event leaves; the key stays with the new one
        first = events.first("acme", "k")
        assert first is not None
        assert first.event_id == "e-new"
