"""Processing state of the partitions a consumer owns, rebuilt from the compacted state topic.

State records are co-partitioned with the input (explicit tenant partition), so the owner of
input partition N restores exactly state partition N. The tail reads ``read_committed`` up to
the high watermark of the moment: an open transaction of a fenced predecessor holds it back
until that transaction ends, so what is restored matches the committed input offsets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.state import supersedes
from tidings.contracts.topics import Topics
from tidings.errors import Unavailable
from tidings.kafka.consumer import BEGINNING, PartitionReader
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)

StateRecord = dict[str, Any]
Apply = Callable[[int, StateRecord, bytes], None]


class StateTail:
    """An assign-only reader of some state partitions; ``catch_up`` is a read-your-writes barrier
    (everything committed before the call has been applied when it returns)."""

    def __init__(self, settings: Settings, codec: Codec, suffix: str, apply: Apply) -> None:
        self._codec = codec
        self._apply = apply
        self._timeout_s = settings.processing.restore_timeout_s
        self._reader = PartitionReader(settings, f"state-{suffix}", Topics(settings).state.name)
        self._partitions: list[int] = []
        self.records = 0

    def assign(self, partitions: Iterable[int]) -> None:
        """Start over for ``partitions`` (from the beginning) and read up to now."""
        self._partitions = sorted(set(partitions))
        self._reader.assign(dict.fromkeys(self._partitions, BEGINNING))
        started = time.monotonic()
        self.catch_up()
        log.info(
            "state_restored",
            partitions=self._partitions,
            records=self.records,
            seconds=round(time.monotonic() - started, 3),
        )

    def catch_up(self, partitions: Iterable[int] | None = None) -> None:
        wanted = sorted(set(partitions)) if partitions is not None else self._partitions
        targets = self._reader.high_watermarks(wanted)
        deadline = time.monotonic() + self._timeout_s
        while not self._reader.caught_up(targets):
            if time.monotonic() > deadline:
                raise Unavailable("state topic could not be read up to its end in time")
            for msg in self._reader.take(1000, wait_s=0.2):
                partition, value = msg.partition(), msg.value()
                if partition is None or value is None:
                    continue
                try:
                    _, record = self._codec.decode(value, expect="state")
                except Exception:  # a foreign record on the state topic must not stop us
                    log.warning("state_record_undecodable", partition=partition)
                    continue
                self.records += 1
                self._apply(partition, record, value)

    def catch_up_view(self, view: CompactedView, timeout_s: float = 5.0) -> bool:
        """Read-your-writes for another view (e.g. clients): wait until it has applied
        everything its topic held when called."""
        try:
            highs = view.high_watermarks()
        except Unavailable:
            return False
        ok = True
        for partition, high in highs.items():
            if high > 0:
                ok = view.wait_for(partition, high - 1, timeout_s) and ok
        return ok

    def close(self) -> None:
        self._reader.close()


def identity(record: StateRecord) -> tuple[str, str, str]:
    """What one processing is: the event, and the forced redelivery it belongs to, if any."""
    return (str(record["tenant"]), str(record["event_id"]), str(record.get("replay_id") or ""))


class PartitionedStates:
    """Latest state per (tenant, event id, replay id), grouped by partition so a revoked partition's
    entries can be dropped. Kept as (seq, encoded record): a million events stay small, and
    a record is decoded only when an event is seen again. Never moves an event backwards."""

    def __init__(self, codec: Codec) -> None:
        self._codec = codec
        self._by_partition: dict[int, dict[tuple[str, str, str], tuple[int, bytes]]] = {}

    def apply(self, partition: int, record: StateRecord, value: bytes) -> None:
        table = self._by_partition.setdefault(partition, {})
        key = identity(record)
        seq = int(record["seq"])
        current = table.get(key)
        if supersedes(seq, None if current is None else current[0]):
            table[key] = (seq, value)

    def get(
        self, partition: int, tenant: str, event_id: str, replay_id: str | None = None
    ) -> StateRecord | None:
        entry = self._by_partition.get(partition, {}).get((tenant, event_id, replay_id or ""))
        return self._codec.decode(entry[1], expect="state")[1] if entry else None

    def keep_only(self, partitions: Iterable[int]) -> None:
        keep = set(partitions)
        for p in list(self._by_partition):
            if p not in keep:
                del self._by_partition[p]

    def __len__(self) -> int:
        return sum(len(t) for t in self._by_partition.values())
