"""Retry backoff and the in-memory state table used for dedupe (no broker)."""

from __future__ import annotations

from tidings.contracts.codec import Codec
from tidings.contracts.state import Stage, state_record
from tidings.processing.deadletter import backoff_ms
from tidings.processing.restore import PartitionedStates


def test_backoff_doubles_from_base_up_to_cap() -> None:
    assert [backoff_ms(a, 500, 3000) for a in (2, 3, 4, 5, 6)] == [500, 1000, 2000, 3000, 3000]


def apply(states: PartitionedStates, codec: Codec, stage: Stage, **kw: int) -> None:
    record = state_record("e1", "acme", stage, **kw)
    states.apply(0, record, codec.encode("state", record))


def test_state_table_never_moves_an_event_backwards() -> None:
    codec = Codec()
    states = PartitionedStates(codec)
    apply(states, codec, Stage.RESOLVED, chunks_done=2)
    apply(states, codec, Stage.ACCEPTED)
    current = states.get(0, "acme", "e1")
    assert current is not None
    assert current["stage"] == "resolved"


def test_revoked_partitions_are_forgotten() -> None:
    codec = Codec()
    states = PartitionedStates(codec)
    apply(states, codec, Stage.RESOLVING, attempt=1)
    states.keep_only([1, 2])
    assert states.get(0, "acme", "e1") is None
