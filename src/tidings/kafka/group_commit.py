"""The transactional group-commit publisher: many requests, one Kafka transaction.

Requests hand their records (event, ``accepted`` state, completed idempotency record) to a
bounded queue and await a future. ``ingest.lanes`` commit lanes (``commit_lane``) drain
it, each batching whatever arrived within ``batch_linger_ms`` into ONE Kafka transaction and
settling every future after the commit, so a request is answered 202 only once its records
are committed; a failed or timed-out commit is aborted and every request of that batch gets
503: nothing half-written is ever visible to a read_committed reader. Lanes overlap their
commit round trips; each has a stable transactional id, so a restart fences its predecessor.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaException

from tidings.errors import TidingsError, Unavailable
from tidings.kafka.commit_lane import CommitLane
from tidings.kafka.records import Outgoing
from tidings.settings import Settings


@dataclass
class Pending:
    records: list[Outgoing]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


def _settle(future: asyncio.Future[None], error: TidingsError | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class _AllLanes:
    """``initialized.is_set()``: every lane holds an initialized transactional producer."""

    def __init__(self, lanes: list[CommitLane]) -> None:
        self._lanes = lanes

    def is_set(self) -> bool:
        return all(lane.producer is not None for lane in self._lanes)


class GroupCommitPublisher:
    """``await publish(records)`` returns once they are committed, or raises ``Unavailable``."""

    def __init__(self, settings: Settings, on_batch: Callable[[int, float], None] | None = None):
        ingest = settings.ingest
        self._timeout_s = ingest.produce_timeout_s
        self._queue: queue.Queue[Pending] = queue.Queue(maxsize=ingest.max_pending)
        self._stopping = threading.Event()
        self._on_batch = on_batch or (lambda size, seconds: None)
        self.lanes: list[CommitLane] = []
        self.lanes.extend(
            CommitLane(
                settings, i, self._queue, self._stopping, self._settle_batch, self._any_ready
            )
            for i in range(max(1, ingest.lanes))
        )
        self.initialized = _AllLanes(self.lanes)

    def _any_ready(self) -> bool:
        return any(lane.producer is not None for lane in self.lanes)

    def _settle_batch(self, batch: list[Pending], error: TidingsError | None, took: float) -> None:
        self._on_batch(len(batch), took)
        for pending in batch:
            pending.loop.call_soon_threadsafe(_settle, pending.future, error)

    def start(self) -> GroupCommitPublisher:
        for lane in self.lanes:
            lane.thread.start()
        return self

    async def publish(self, records: list[Outgoing]) -> None:
        if self._stopping.is_set():
            raise Unavailable("the service is shutting down")
        loop = asyncio.get_running_loop()
        pending = Pending(records, loop, loop.create_future())
        try:
            self._queue.put_nowait(pending)
        except queue.Full:  # backpressure is a 503, never unbounded memory
            raise Unavailable("too many writes in flight") from None
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), self._timeout_s * 2 + 5)
        except TimeoutError:
            raise Unavailable("the event store did not confirm the write in time") from None

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop taking requests, commit what is queued, close the producers."""
        self._stopping.set()
        for lane in self.lanes:
            lane.thread.join(timeout_s)

    def broker_answers(self, timeout_s: float) -> bool:
        """A metadata round trip through a producer (readiness: the broker answers now)."""
        producer = next((lane.producer for lane in self.lanes if lane.producer), None)
        if producer is None:
            return False
        try:
            producer.list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return True
