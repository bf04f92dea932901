"""Retry backoff and the state table used for dedupe (local stores, no broker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings.contracts.codec import Codec
from tidings.contracts.state import Stage, state_record
from tidings.contracts.topics import TopicSpec
from tidings.processing.deadletter import backoff_ms
from tidings.processing.restore import PartitionedStates
from tidings.stores.changelog import ChangelogStores
from tidings.stores.state import LatestStates, processing_key

CODEC = Codec()


def test_backoff_doubles_from_base_up_to_cap() -> None:
    assert [backoff_ms(a, 500, 3000) for a in (2, 3, 4, 5, 6)] == [500, 1000, 2000, 3000, 3000]


@pytest.fixture
def states(tmp_path: Path) -> Iterator[PartitionedStates]:
    spec = TopicSpec("t.state", "state", 4, {"cleanup.policy": "compact"})
    stores = ChangelogStores(tmp_path, "state", spec, LatestStates(CODEC, processing_key))
    stores.open([0, 1, 2], {})
    yield PartitionedStates(CODEC, stores)
    stores.close_all()


def apply(
    states: PartitionedStates, stage: Stage, *, attempt: int = 0, chunks_done: int = 0
) -> None:
    record = state_record("e1", "acme", stage, attempt=attempt, chunks_done=chunks_done)
    states.apply(0, record, CODEC.encode("state", record))


def test_state_table_never_moves_an_event_backwards(states: PartitionedStates) -> None:
    apply(states, Stage.RESOLVED, chunks_done=2)
    apply(states, Stage.ACCEPTED)
    current = states.get(0, "acme", "e1")
    assert current is not None
    assert current["stage"] == "resolved"


def test_revoked_partitions_are_forgotten(states: PartitionedStates) -> None:
    apply(states, Stage.RESOLVING, attempt=1)
    states.keep_only([1, 2])
    assert states.get(0, "acme", "e1") is None


def test_a_replay_has_a_state_of_its_own(states: PartitionedStates) -> None:
    apply(states, Stage.DISPATCHED)
    replay = state_record("e1", "acme", Stage.ACCEPTED, replay_id="r1")
    states.apply(0, replay, CODEC.encode("state", replay))
    original = states.get(0, "acme", "e1")
    again = states.get(0, "acme", "e1", "r1")
    assert original is not None
    assert again is not None
    assert (original["stage"], again["stage"]) == ("dispatched", "accepted")
