"""Bounded reads of a project topic for operator tools: a selection in, records out.

A scan reads from the selection's start (beginning, a time, or an offset) up to the high
watermark that existed when it started (or the selection's end offset), so a dump, a replay
count and the replay itself see exactly the same records even while producers keep writing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, Message, TopicPartition

from tidings.contracts.partitioning import tenant_partition
from tidings.errors import Unavailable
from tidings.kafka.config import consumer_config
from tidings.settings import Settings

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class RawRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    @classmethod
    def of(cls, msg: Message) -> RawRecord:
        ts_type, ts = msg.timestamp()
        return cls(
            msg.topic() or "",
            msg.partition() or 0,
            msg.offset() or 0,
            ts if ts_type else 0,
            msg.key(),
            msg.value(),
            _headers(msg),
        )


def _headers(msg: Message) -> Headers:
    out: Headers = []
    for pair in msg.headers() or []:
        key, value = pair[0], pair[1]
        out.append((str(key), value.encode() if isinstance(value, str) else (value or b"")))
    return out


@dataclass(frozen=True)
class Selection:
    """Which records: a tenant (its partition only), a time range, or per-partition offsets
    (inclusive ``first..last``). Times are epoch milliseconds of the record timestamp."""

    tenant: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)

    def partitions(self, available: list[int]) -> list[int]:
        if self.offsets:
            return sorted(p for p in self.offsets if p in available)
        if self.tenant is not None:
            return [tenant_partition(self.tenant, len(available))]
        return sorted(available)


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if meta is None or meta.error is not None:
        raise Unavailable(f"topic {topic} is not available")
    return sorted(meta.partitions)


def _starts(consumer: Consumer, topic: str, sel: Selection, parts: list[int]) -> dict[int, int]:
    if sel.offsets:
        return {p: sel.offsets[p][0] for p in parts}
    if sel.start_ms is None:
        return dict.fromkeys(parts, OFFSET_BEGINNING)
    found = consumer.offsets_for_times([TopicPartition(topic, p, sel.start_ms) for p in parts], 10)
    return {tp.partition: tp.offset if tp.offset >= 0 else OFFSET_END for tp in found}


def scan(
    settings: Settings, topic: str, sel: Selection, *, timeout_s: float = 30.0
) -> Iterator[RawRecord]:
    """Every committed record of the selection, partition order kept, then stop."""
    consumer = Consumer(consumer_config(settings, "scan", None))
    try:
        parts = sel.partitions(_partitions(consumer, topic))
        ends = {}
        for p in parts:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            last = sel.offsets[p][1] + 1 if p in sel.offsets else high
            ends[p] = min(high, last)
        starts = _starts(consumer, topic, sel, parts)
        for p, start in starts.items():
            if start == OFFSET_END or (start >= 0 and start >= ends[p]):
                ends[p] = 0  # nothing selected in this partition
        consumer.assign([TopicPartition(topic, p, starts[p]) for p in parts])
        yield from _read(consumer, topic, sel, ends, timeout_s)
    finally:
        consumer.close()


def _read(
    consumer: Consumer, topic: str, sel: Selection, ends: dict[int, int], timeout_s: float
) -> Iterator[RawRecord]:
    open_parts = {p for p, end in ends.items() if end > 0}
    deadline = time.monotonic() + timeout_s
    while open_parts:
        batch = consumer.consume(500, timeout=0.5)
        for msg in batch:
            p, offset = msg.partition(), msg.offset()
            if msg.error() is not None or p is None or offset is None or p not in open_parts:
                continue
            if offset >= ends[p]:
                continue
            record = RawRecord.of(msg)
            if sel.end_ms is not None and record.timestamp > sel.end_ms:
                continue
            yield record
        # Transaction markers and compaction leave gaps: the position says how far we are.
        for tp in consumer.position([TopicPartition(topic, p) for p in list(open_parts)]):
            if tp.offset >= ends[tp.partition]:
                open_parts.discard(tp.partition)
        if batch:
            deadline = time.monotonic() + timeout_s
        elif time.monotonic() > deadline:
            raise Unavailable(f"could not read {topic} up to its end in time")


def follow(settings: Settings, topic: str, from_beginning: bool) -> Iterator[RawRecord]:
    """Every partition from the beginning (or the end), forever: ``tail``."""
    consumer = Consumer(consumer_config(settings, "tail", None))
    try:
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        consumer.assign([TopicPartition(topic, p, start) for p in _partitions(consumer, topic)])
        while True:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    yield RawRecord.of(msg)
    finally:
        consumer.close()
