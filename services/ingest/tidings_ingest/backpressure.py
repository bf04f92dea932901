"""Backpressure that tells the truth: refuse creates the resolver could not drain in time.

A tenant's events all go to one partition of the events topic, so a create joins the queue
of that partition. Its backlog is the partition's end (last stable offset) minus the
resolver group's committed offset; its drain rate is how fast that committed offset moved
over the last ``backlog_window_s``, counting only the intervals between two samples that
both saw a backlog: while the resolver keeps up, the offset moves as fast as events arrive,
which says nothing of how fast it could go. A create is answered 503 ``backlog_exceeded``
when ``backlog / rate`` exceeds ``backlog_bound_s``, with ``Retry-After`` the seconds until
the backlog is back within the bound at that rate. With a backlog and no drain at all (the
resolver stopped), the time is unbounded: a backlog above ``backlog_stalled_events`` is
refused, and ``Retry-After`` is the ingest's default (nothing measured says more).

The broker is asked on a thread of its own every ``backlog_refresh_s``, by a plain consumer
that carries the resolver's group id but never subscribes (kafka/groups.py GroupPositions; no
AdminClient: periodic admin requests in this long-running process aborted it inside
librdkafka during a broker outage); requests read the last sample (a dictionary lookup),
never the broker. A sample older than a few refreshes is
not trusted: creates are then admitted (the broker's own failures answer 503 already).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.errors import BacklogExceeded
from tidings.kafka.background import Background
from tidings.kafka.groups import GroupPositions
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)
STALE_REFRESHES = 5  # samples older than this many refresh intervals are not trusted


@dataclass(frozen=True, slots=True)
class Sample:
    """One partition as last measured."""

    end: int  # last stable offset of the events partition
    committed: int  # the resolver group's committed offset (log start if never committed)
    rate: float | None  # events/s drained while there was a backlog; None: it kept up

    @property
    def backlog(self) -> int:
        return max(0, self.end - self.committed)


def retry_after(sample: Sample, bound_s: float, stalled_events: int, default_s: int) -> int | None:
    """Seconds to wait before creating on this partition, or None to admit now."""
    if bound_s <= 0 or sample.backlog == 0 or sample.rate is None:
        return None
    if sample.rate <= 0:
        return default_s if sample.backlog > stalled_events else None
    drain_s = sample.backlog / sample.rate
    if drain_s <= bound_s:
        return None
    return max(1, math.ceil(drain_s - bound_s))


class DrainMeter:
    """Committed offsets over a sliding window: the measured drain rate of each partition."""

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._seen: dict[int, deque[tuple[float, int, int]]] = {}

    def observe(self, at: float, partition: int, committed: int, end: int) -> float | None:
        """Record ``committed`` and ``end`` at monotonic time ``at``; the drain rate over the
        window's intervals that had a backlog at both ends (None: there was none)."""
        seen = self._seen.setdefault(partition, deque())
        if seen and committed < seen[-1][1]:  # the group was reset: measure afresh
            seen.clear()
        seen.append((at, committed, end))
        while len(seen) > 2 and at - seen[1][0] >= self._window_s:
            seen.popleft()  # keep the oldest sample that still spans the window
        drained, busy_s = 0, 0.0
        for (t0, c0, e0), (t1, c1, e1) in zip(seen, list(seen)[1:], strict=False):
            if e0 > c0 and e1 > c1 and t1 > t0:
                drained, busy_s = drained + c1 - c0, busy_s + t1 - t0
        return drained / busy_s if busy_s > 0 else None


class Backpressure(Background):
    """The resolver's backlog per events partition, refreshed in the background."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ingest = settings.ingest
        self._topic = Topics(settings).events.name
        self._partitions = Topics(settings).events.partitions
        self._group = f"{settings.topic_prefix}resolver"
        self._meter = DrainMeter(settings.ingest.backlog_window_s)
        self._samples: dict[int, Sample] = {}
        self._sampled_at = 0.0  # monotonic time of the last complete sample (0: none yet)
        super().__init__("backpressure", enabled=settings.ingest.backlog_bound_s > 0)

    def check(self, tenant: str) -> None:
        """Raise ``BacklogExceeded`` when a create of ``tenant`` would wait too long."""
        sample = self.sample(tenant_partition(tenant, self._partitions))
        if sample is None:
            return
        wait = retry_after(
            sample,
            self._ingest.backlog_bound_s,
            self._ingest.backlog_stalled_events,
            self._ingest.retry_after_s,
        )
        if wait is not None:
            drain = f"{sample.rate:.1f} events/s" if sample.rate else "not draining"
            raise BacklogExceeded(
                f"{sample.backlog} events are waiting ahead on this tenant's partition "
                f"({drain}); retry later",
                retry_after_s=wait,
            )

    def sample(self, partition: int) -> Sample | None:
        """The last trusted sample of ``partition`` (None: not measured, or too old)."""
        stale_s = STALE_REFRESHES * self._ingest.backlog_refresh_s
        if not self._sampled_at or time.monotonic() - self._sampled_at > stale_s:
            return None
        return self._samples.get(partition)

    def place(self, partition: int, offset: int, now_ms: int) -> tuple[int, int | None] | None:
        """(events ahead of the event at ``offset``, when it should be dispatched in epoch ms
        or None while nothing drains); None when the backlog is not measured."""
        sample = self.sample(partition)
        if sample is None:
            return None
        ahead = max(0, offset - sample.committed)
        if sample.rate is None:  # the resolver keeps up: it is next
            return ahead, now_ms
        if sample.rate <= 0:  # nothing drains: no estimate is true
            return ahead, None
        return ahead, now_ms + math.ceil(ahead / sample.rate * 1000)

    def _run(self) -> None:
        positions = GroupPositions(self._settings, self._group, self._topic, self._partitions)
        timeout = max(1.0, self._ingest.backlog_refresh_s * 2)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._measure(positions.read(timeout))
                except Exception as exc:  # broker away: samples go stale, creates are admitted
                    log.warning("backlog_sample_failed", error=type(exc).__name__)
                elapsed = time.monotonic() - started
                self._stop.wait(max(0.0, self._ingest.backlog_refresh_s - elapsed))
        finally:
            positions.close()

    def _measure(self, positions: dict[int, tuple[int, int]]) -> None:
        at = time.monotonic()
        samples: dict[int, Sample] = {}
        for partition, (committed, end) in positions.items():
            rate = self._meter.observe(at, partition, committed, end)
            samples[partition] = Sample(end, committed, rate)
        self._samples = samples  # one reference swap: readers see a whole sample
        self._sampled_at = at
