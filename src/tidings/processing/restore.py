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

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.errors import Unavailable
from tidings.kafka.config import consumer_config
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
        self._topic = Topics(settings).state.name
        self._codec = codec
        self._apply = apply
        self._timeout_s = settings.processing.restore_timeout_s
        self._consumer = Consumer(consumer_config(settings, f"state-{suffix}", None))
        self._partitions: list[int] = []
        self.records = 0

    def assign(self, partitions: Iterable[int]) -> None:
        """Start over for ``partitions`` (from the beginning) and read up to now."""
        self._partitions = sorted(set(partitions))
        tps = [TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in self._partitions]
        self._consumer.assign(tps)
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
        targets: dict[int, int] = {}
        for p in wanted:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, p), timeout=10
            )
            targets[p] = high
        deadline = time.monotonic() + self._timeout_s
        while not self._reached(targets):
            if time.monotonic() > deadline:
                raise Unavailable("state topic could not be read up to its end in time")
            for msg in self._consumer.consume(num_messages=1000, timeout=0.2):
                partition, value = msg.partition(), msg.value()
                if msg.error() is not None or partition is None or value is None:
                    continue
                try:
                    _, record = self._codec.decode(value, expect="state")
                except Exception:  # a foreign record on the state topic must not stop us
                    log.warning("state_record_undecodable", partition=partition)
                    continue
                self.records += 1
                self._apply(partition, record, value)

    def _reached(self, targets: dict[int, int]) -> bool:
        if not targets:
            return True
        positions = self._consumer.position([TopicPartition(self._topic, p) for p in targets])
        # Transaction markers and compaction leave gaps: the position, not the last record's
        # offset, says how far a partition has been read (a fresh partition has no position).
        return all(
            tp.offset >= targets[tp.partition] or targets[tp.partition] == 0 for tp in positions
        )

    def catch_up_view(self, view: CompactedView, timeout_s: float = 5.0) -> bool:
        """Read-your-writes for another view (e.g. clients): wait until it has applied
        everything its topic held when called."""
        meta = self._consumer.list_topics(view.topic, timeout=10).topics.get(view.topic)
        if meta is None:
            return False
        ok = True
        for partition in meta.partitions:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(view.topic, partition), timeout=10
            )
            if high > 0:
                ok = view.wait_for(partition, high - 1, timeout_s) and ok
        return ok

    def close(self) -> None:
        self._consumer.close()


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
        if current is None or seq >= current[0]:
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
