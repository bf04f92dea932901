"""The recent events of the key window (``tidings.stores.events``) in local stores: first
use of a key, the events not resolved yet in list order, a window that moves, and a store
that resumes where it stopped."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.recent import EVENTS, recent_events
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.stores.changelog import Change, ChangelogStores
from tidings.stores.events import Appended, RecentEvents
from tidings.stores.listing import listing_member


def appended(event_id: str, tenant: str = "acme", age_ms: int = 0) -> Appended:
    at = int(time.time() * 1000) - age_ms
    partition = tenant_partition(tenant, EVENTS.partitions)
    return Appended(event_id, tenant, "content.approved", 1, "f", at, "c", None, partition, 0)


def test_recent_events_list_one_tenant_newest_first_and_resume_after_a_member() -> None:
    with recent_events(60_000) as events:
        first, second = appended("e1", age_ms=20), appended("e2")
        events.add(first, None)
        events.add(second, None)
        events.add(appended("g1", tenant="globex"), None)
        members = list(events.newest("acme"))
        assert members == [
            listing_member(second.accepted_at, "e2"),
            listing_member(first.accepted_at, "e1"),
        ]
        assert list(events.newest("acme", after=members[0])) == members[1:]
        assert list(events.newest("initech")) == []


def test_an_event_leaves_the_window_only_once_it_has_a_state() -> None:
    with recent_events(1_000) as events:
        events.add(appended("e1", age_ms=5_000), "k")
        assert events.purge(has_state=lambda tenant, event_id: False) == 0
        assert events.first("acme", "k") is None  # the key is out of the window all the same
        assert events.event("acme", "e1") is not None  # GET still answers accepted
        assert list(events.newest("acme"))
        assert events.purge() == 1
        assert events.event("acme", "e1") is None
        assert list(events.newest("acme")) == []


def test_what_a_store_holds_survives_a_restart_with_its_checkpoint(tmp_path: Path) -> None:
    with recent_events(60_000, root=tmp_path) as events:
        events.add(appended("e1"), "k")
    with recent_events(60_000, root=tmp_path) as again:
        found = again.first("acme", "k")
    assert found is not None
    assert found.event_id == "e1"


def test_a_record_whose_origin_does_not_verify_is_not_indexed(tmp_path: Path) -> None:
    codec = Codec()
    events = RecentEvents(60_000, codec, verify=lambda *_: None)
    stores = ChangelogStores(tmp_path, "events", EVENTS, events.table)
    partition = tenant_partition("acme", EVENTS.partitions)
    stores.open([partition], {})
    events.attach(stores, None)
    try:
        stores.apply([Change(partition, 0, b"acme", b"not even an event")])
        assert list(events.newest("acme")) == []
        assert stores.checkpoints()[partition] == 1  # read past, not stuck on it
    finally:
        stores.close_all()
