"""Materialized views of compacted topics.

A view reads every partition from the beginning on a thread of its own, applies each record
to an in-memory model, and reports ready only once it reached the high watermarks that
existed when it started (karapace's ``_is_ready``). It then keeps tailing, so changes (a
revoked client, a new directory entry) are seen within the poll interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from tidings.kafka.consumer import BEGINNING, PartitionReader
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)


class Applier(Protocol):
    def __call__(
        self, key: bytes | None, value: bytes | None, partition: int, offset: int
    ) -> None: ...


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
    ) -> None:
        self.topic = topic
        self.name = name or topic
        self._apply = apply
        self._reader = PartitionReader(
            settings, f"view-{self.name}", topic, read_committed=read_committed
        )
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
            while self._positions.get(partition, 0) <= offset:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def high_watermarks(self) -> dict[int, int]:
        """Where every partition of the topic ends now (a read-your-writes target)."""
        return self._reader.high_watermarks()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _targets(self) -> dict[int, int]:
        return self._reader.high_watermarks()

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
        self._reader.assign(dict.fromkeys(targets, BEGINNING))
        started = time.monotonic()
        self._check_ready(targets, started)
        while not self._stop.is_set():
            for msg in self._reader.take(1000, wait_s=0.2):
                partition, offset = msg.partition(), msg.offset()
                if partition is None or offset is None:
                    continue
                try:
                    self._apply(msg.key(), msg.value(), partition, offset)
                except Exception:  # one bad record must not stop the view
                    log.exception("view_apply_failed", view=self.name, offset=offset)
                self.records += 1
                with self._lock:
                    self._positions[partition] = offset + 1
                    self._lock.notify_all()
            if not self._ready.is_set():
                self._refresh_positions(targets)
                self._check_ready(targets, started)
        self._reader.close()

    def _refresh_positions(self, targets: dict[int, int]) -> None:
        # Compaction and transaction markers leave gaps: the consumer's position, not the last
        # record's offset, says how far a partition has been read.
        for partition, offset in self._reader.positions(targets).items():
            with self._lock:
                self._positions[partition] = max(self._positions.get(partition, 0), offset)

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
