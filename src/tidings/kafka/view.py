"""Materialized views of compacted topics.

A view reads every partition from the beginning on a thread of its own, applies each record
to an in-memory model, and reports ready only once it reached the high watermarks that
existed when it started (karapace's ``_is_ready``). It then keeps tailing, so changes (a
revoked client, a new directory entry) are seen within the poll interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

from confluent_kafka import Message

from tidings.errors import Unavailable
from tidings.kafka.consumer import BEGINNING, PartitionReader
from tidings.kafka.records import RawRecord
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)


class Applier(Protocol):
    def __call__(
        self, key: bytes | None, value: bytes | None, partition: int, offset: int
    ) -> None: ...


class Replayable(Protocol):
    """A view of a compacted topic: ``CompactedView``, or a model that holds one."""

    def start(self) -> object: ...
    def wait_ready(self, timeout_s: float | None = None) -> bool: ...
    def stop(self) -> None: ...


R = TypeVar("R", bound=Replayable)


@contextmanager
def replayed(view: R, what: str, timeout_s: float) -> Iterator[R]:
    """``view`` started and caught up with the high watermarks it found, stopped on leaving:
    a tool's one read of a compacted topic. ``Unavailable`` when ``what`` (the topic) could
    not be read within ``timeout_s``."""
    view.start()
    try:
        if not view.wait_ready(timeout_s):
            raise Unavailable(f"could not read {what} in {timeout_s}s")
        yield view
    finally:
        view.stop()


class CompactedView:
    """Replays ``topic`` into ``apply``; ``wait_ready`` blocks until caught up."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        apply: Applier,
        *,
        name: str | None = None,
        read_committed: bool = True,
        apply_record: Callable[[RawRecord], None] | None = None,
        window_ms: int | None = None,
        prefetch_kbytes: int | None = None,
        partitions: Collection[int] | None = None,
    ) -> None:
        """``apply_record`` (instead of ``apply``) receives whole records, headers and
        timestamp included. ``window_ms`` reads only what was appended within that window
        before the start (a view of recent records of a log that is kept forever).
        ``partitions``: only these (default: every partition of the topic)."""
        self.topic = topic
        self._only = None if partitions is None else sorted(set(partitions))
        self.name = name or topic
        self._apply = apply
        self._apply_record = apply_record
        self._window_ms = window_ms
        self._waiters = 0
        self._reader = PartitionReader(
            settings,
            f"view-{self.name}",
            topic,
            read_committed=read_committed,
            prefetch_kbytes=prefetch_kbytes,
        )
        self._settings = settings
        self._barrier: PartitionReader | None = None  # made on first use
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._positions: dict[int, int] = {}
        self._lock = threading.Condition()
        self.error: str | None = None
        self.records = 0
        self._thread = threading.Thread(target=self._run, name=f"view-{self.name}", daemon=True)

    def start(self) -> CompactedView:
        self._thread.start()
        return self

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        return self._ready.wait(timeout_s)

    def position(self) -> dict[int, int]:
        """Next offset to read per partition (what the view has applied)."""
        with self._lock:
            return dict(self._positions)

    def wait_for(self, partition: int, offset: int, timeout_s: float) -> bool:
        """Read-your-writes: block until the record at ``offset`` has been applied."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._waiters += 1
            try:
                while self._positions.get(partition, 0) <= offset:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._lock.wait(remaining)
            finally:
                self._waiters -= 1
        return True

    def high_watermarks(self) -> dict[int, int]:
        """Where every partition of the view ends now (a read-your-writes target).

        Asks the broker through a consumer of its own: the view's consumer is busy on the
        view's thread, and librdkafka serialises calls on one handle behind ``consume``."""
        with self._lock:
            if self._barrier is None:
                self._barrier = PartitionReader(
                    self._settings, f"view-{self.name}-barrier", self.topic
                )
            barrier = self._barrier
        return barrier.high_watermarks(self._only)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=5)

    def _targets(self) -> dict[int, int]:
        return self._reader.high_watermarks(self._only)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                targets = self._targets()
                break
            except Exception as exc:  # broker not up yet: the view is simply not ready
                self.error = type(exc).__name__
                log.warning("view_waiting_for_topic", view=self.name, error=str(exc))
                self._stop.wait(1.0)
        else:
            return
        starts = self._starts(targets)
        if starts is None:  # stopped while preparing
            return
        self._reader.assign(starts)
        started = time.monotonic()
        self._check_ready(targets, started)
        while not self._stop.is_set():
            self._consume(self._reader.take(1000, wait_s=0.2))
            if not self._ready.is_set():
                self._refresh_positions(targets)
                self._check_ready(targets, started)
            elif self._waiters:
                # Someone waits for an offset that may be a transaction marker (never
                # delivered as a record): the consumer's position moves past it.
                self._refresh_positions(targets)
        self._reader.close()
        if self._barrier is not None:
            self._barrier.close()

    def _starts(self, targets: dict[int, int]) -> dict[int, int] | None:
        """Where to start reading each partition (a view over local stores resumes from its
        checkpoints); None when the view was stopped meanwhile."""
        if self._window_ms is None:
            return dict.fromkeys(targets, BEGINNING)
        since = int(time.time() * 1000) - self._window_ms
        found = self._reader.offsets_for_time(targets, since)
        # Nothing in the window: start at the end as it is now. What lies before the start is,
        # for this view, already applied (a consumer reports no position for a partition it
        # has consumed nothing from, so readiness could not see it otherwise).
        starts = {p: (o if o >= 0 else targets[p]) for p, o in found.items()}
        with self._lock:
            self._positions.update(starts)
        return starts

    def _consume(self, msgs: list[Message]) -> None:
        """Apply one ``take`` of records, then publish how far each partition got."""
        for msg in msgs:
            partition, offset = msg.partition(), msg.offset()
            if partition is None or offset is None:
                continue
            try:
                if self._apply_record is not None:
                    self._apply_record(RawRecord.of(msg))
                else:
                    self._apply(msg.key(), msg.value(), partition, offset)
            except Exception:  # one bad record must not stop the view
                log.exception("view_apply_failed", view=self.name, offset=offset)
            self.records += 1
            with self._lock:
                self._positions[partition] = offset + 1
                self._lock.notify_all()

    def _refresh_positions(self, targets: dict[int, int]) -> None:
        # Compaction and transaction markers leave gaps: the consumer's position, not the last
        # record's offset, says how far a partition has been read.
        positions = self._reader.positions(targets)
        with self._lock:
            for partition, offset in positions.items():
                self._positions[partition] = max(self._positions.get(partition, 0), offset)
            self._lock.notify_all()

    def _check_ready(self, targets: dict[int, int], started: float) -> None:
        with self._lock:
            behind = [
                p for p, high in targets.items() if high > 0 and self._positions.get(p, 0) < high
            ]
        if not behind:
            self._ready.set()
            log.info(
                "view_ready",
                view=self.name,
                records=self.records,
                seconds=round(time.monotonic() - started, 3),
            )


def apply_with(
    decode: Callable[[bytes], object],
    put: Callable[[bytes, object], None],
    delete: Callable[[bytes], None],
) -> Applier:
    """An applier from a decoder and put/delete callbacks (tombstones delete)."""

    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        if value is None:
            delete(key)
        else:
            put(key, decode(value))

    return apply
