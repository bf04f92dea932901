"""The accepted-time index of the state stores (``tidings.stores.listing``): one entry per
event, newest first, resumable after any entry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import Stage, state_record
from tidings.contracts.topics import TopicSpec, state_key
from tidings.stores.changelog import Change, ChangelogStores
from tidings.stores.kv import index_prefix
from tidings.stores.listing import (
    INDEX,
    ListedStateStore,
    accepted_before,
    listing_member,
    member_parts,
)

SPEC = TopicSpec("t.state", "state", 4, {"cleanup.policy": "compact"})
CODEC = Codec()
PARTITION = tenant_partition("acme", SPEC.partitions)


@pytest.fixture
def listed(tmp_path: Path) -> Iterator[tuple[ListedStateStore, ChangelogStores]]:
    states = ListedStateStore(CODEC)
    stores = ChangelogStores(tmp_path, "state", SPEC, states.table)
    stores.open([PARTITION], {PARTITION: (0, 0)})
    states.attach(stores, None)  # type: ignore[arg-type]  # no view: the stores are fed here
    try:
        yield states, stores
    finally:
        stores.close_all()


def change(offset: int, event: str, stage: Stage, accepted_at: int, tenant: str = "acme") -> Change:
    record = state_record(event, tenant, stage, accepted_at=accepted_at, at=accepted_at + 5)
    return Change(PARTITION, offset, state_key(tenant, event), CODEC.encode("state", record))


def test_members_sort_newest_first_then_by_id() -> None:
    members = [listing_member(1_000, "b"), listing_member(2_000, "z"), listing_member(1_000, "a")]
    assert sorted(members) == [
        listing_member(2_000, "z"),
        listing_member(1_000, "a"),
        listing_member(1_000, "b"),
    ]
    assert member_parts(listing_member(1_700_000_000_000, "e-1")) == (1_700_000_000_000, "e-1")


def test_an_event_is_indexed_once_however_many_states_it_goes_through(
    listed: tuple[ListedStateStore, ChangelogStores],
) -> None:
    states, stores = listed
    stores.apply(
        [
            change(0, "e1", Stage.RESOLVING, 100),
            change(1, "e1", Stage.RESOLVED, 100),
            change(2, "e1", Stage.DISPATCHED, 100),
        ]
    )
    store = stores.get(PARTITION)
    assert store is not None
    assert len(list(store.iter_keys(index_prefix(INDEX, "acme")))) == 1
    assert list(states.newest("acme")) == [listing_member(100, "e1")]


def test_newest_lists_a_tenant_newest_first_and_resumes_after_an_entry(
    listed: tuple[ListedStateStore, ChangelogStores],
) -> None:
    states, stores = listed
    stores.apply([change(i, f"e{i}", Stage.RESOLVED, 100 + i) for i in range(5)])
    members = list(states.newest("acme"))
    assert [member_parts(m)[1] for m in members] == ["e4", "e3", "e2", "e1", "e0"]
    assert list(states.newest("acme", after=members[1])) == members[2:]
    assert list(states.newest("globex")) == []


def test_resuming_after_any_entry_yields_exactly_the_older_ones(
    listed: tuple[ListedStateStore, ChangelogStores],
) -> None:
    states, stores = listed
    times = [1_700_000_000_000 + t for t in (0, 1, 1, 9, 10, 99, 100, 5_000, 98_765, 10**9)]
    stores.apply([change(i, f"e{i}", Stage.RESOLVED, t) for i, t in enumerate(times)])
    members = list(states.newest("acme"))
    assert members == sorted(members)
    assert len(members) == len(times)
    for i, member in enumerate(members):
        assert list(states.newest("acme", after=member)) == members[i + 1 :]


def test_a_time_bound_seeks_past_every_newer_entry(
    listed: tuple[ListedStateStore, ChangelogStores],
) -> None:
    states, stores = listed
    stores.apply([change(i, f"e{i}", Stage.RESOLVED, 1_000 + i) for i in range(5)])
    older = list(states.newest("acme", after=accepted_before(1_003)))
    assert [member_parts(m)[0] for m in older] == [1_002, 1_001, 1_000]
