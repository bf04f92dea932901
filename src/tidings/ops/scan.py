"""Bounded reads of a project topic for operator tools: a selection in, records out.

A scan reads from the selection's start (beginning, a time, or an offset) up to the high
watermark that existed when it started (or the selection's end offset), so a dump, a replay
count and the replay itself see exactly the same records even while producers keep writing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tidings.contracts.partitioning import tenant_partition
from tidings.errors import Unavailable
from tidings.kafka.consumer import BEGINNING, END, PartitionReader
from tidings.kafka.records import RawRecord
from tidings.settings import Settings


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


def _starts(reader: PartitionReader, sel: Selection, parts: list[int]) -> dict[int, int]:
    if sel.offsets:
        return {p: sel.offsets[p][0] for p in parts}
    if sel.start_ms is None:
        return dict.fromkeys(parts, BEGINNING)
    return reader.offsets_for_time(parts, sel.start_ms)


def scan(
    settings: Settings, topic: str, sel: Selection, *, timeout_s: float = 30.0
) -> Iterator[RawRecord]:
    """Every committed record of the selection, partition order kept, then stop."""
    reader = PartitionReader(settings, "scan", topic)
    try:
        parts = sel.partitions(reader.partitions())
        ends = {}
        for p, high in reader.high_watermarks(parts).items():
            last = sel.offsets[p][1] + 1 if p in sel.offsets else high
            ends[p] = min(high, last)
        starts = _starts(reader, sel, parts)
        for p, start in starts.items():
            if start == END or (start >= 0 and start >= ends[p]):
                ends[p] = 0  # nothing selected in this partition
        reader.assign(starts)
        yield from _read(reader, sel, ends, timeout_s)
    finally:
        reader.close()


def _read(
    reader: PartitionReader, sel: Selection, ends: dict[int, int], timeout_s: float
) -> Iterator[RawRecord]:
    open_parts = {p for p, end in ends.items() if end > 0}
    deadline = time.monotonic() + timeout_s
    while open_parts:
        batch = reader.take(500, wait_s=0.5)
        for msg in batch:
            p, offset = msg.partition(), msg.offset()
            if p is None or offset is None or p not in open_parts or offset >= ends[p]:
                continue
            record = RawRecord.of(msg)
            if sel.end_ms is not None and record.timestamp > sel.end_ms:
                continue
            yield record
        # Transaction markers and compaction leave gaps: the position says how far we are.
        for p in [p for p in open_parts if reader.caught_up({p: ends[p]})]:
            open_parts.discard(p)
        if batch:
            deadline = time.monotonic() + timeout_s
        elif time.monotonic() > deadline:
            raise Unavailable(f"could not read {reader.topic} up to its end in time")


def follow(settings: Settings, topic: str, from_beginning: bool) -> Iterator[RawRecord]:
    """Every partition from the beginning (or the end), forever: ``tail``."""
    reader = PartitionReader(settings, "tail", topic)
    try:
        reader.assign(dict.fromkeys(reader.partitions(), BEGINNING if from_beginning else END))
        while True:
            for msg in reader.take(500, wait_s=0.5):
                yield RawRecord.of(msg)
    finally:
        reader.close()
