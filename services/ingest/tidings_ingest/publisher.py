"""The transactional group-commit publisher (briefing decision 1).

One writer thread owns a transactional producer. Requests hand it their records (event,
``accepted`` state, completed idempotency record) and await a future; the thread gathers
whatever arrived within ``batch_linger_ms`` (up to ``batch_max`` requests) into ONE Kafka
transaction and settles every future after the commit. A failed or timed-out commit is
aborted and every request of the batch gets 503: nothing half-written is ever visible to a
read_committed reader. The transactional.id is stable per replica, so a restart fences a
crashed predecessor and aborts its open transaction.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Producer

from tidings.errors import TidingsError, Unavailable
from tidings.headers import Headers
from tidings.kafka.config import assert_durable, producer_config
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes
    headers: Headers = field(default_factory=list)
    partition: int | None = None  # explicit for co-partitioned topics (state)


@dataclass
class _Pending:
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


class GroupCommitPublisher:
    """``await publish(records)`` returns once they are committed, or raises ``Unavailable``."""

    def __init__(self, settings: Settings, on_batch: Callable[[int, float], None] | None = None):
        ingest = settings.ingest
        self._settings = settings
        self._txn_id = f"{settings.topic_prefix}ingest.{ingest.instance_id}"
        self._timeout_s = ingest.produce_timeout_s
        self._linger_s = ingest.batch_linger_ms / 1000
        self._batch_max = ingest.batch_max
        self._queue: queue.Queue[_Pending] = queue.Queue(maxsize=ingest.max_pending)
        self._producer: Producer | None = None
        self._stopping = threading.Event()
        self._on_batch = on_batch or (lambda size, seconds: None)
        self.initialized = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)

    def start(self) -> GroupCommitPublisher:
        self._thread.start()
        return self

    async def publish(self, records: list[Outgoing]) -> None:
        if self._stopping.is_set():
            raise Unavailable("the service is shutting down")
        loop = asyncio.get_running_loop()
        pending = _Pending(records, loop, loop.create_future())
        try:
            self._queue.put_nowait(pending)
        except queue.Full:  # backpressure is a 503, never unbounded memory
            raise Unavailable("too many writes in flight") from None
        try:
            await asyncio.wait_for(asyncio.shield(pending.future), self._timeout_s * 2 + 5)
        except TimeoutError:
            raise Unavailable("the event store did not confirm the write in time") from None

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop taking requests, commit what is queued, close the producer."""
        self._stopping.set()
        self._thread.join(timeout_s)

    # --- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            if self._producer is None and not self._init():
                self._stopping.wait(1.0)
                if self._queue.empty():
                    continue
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self._linger_s
            while len(batch) < self._batch_max:
                remaining = deadline - time.monotonic()
                try:
                    batch.append(
                        self._queue.get(timeout=remaining)
                        if remaining > 0
                        else self._queue.get_nowait()
                    )
                except queue.Empty:
                    break
            self._commit(batch)
        if self._producer is not None:
            self._producer.flush(5)

    def _init(self) -> bool:
        conf = producer_config(self._settings, "ingest", transactional_id=self._txn_id)
        assert_durable(conf)
        producer = Producer(conf)
        try:
            producer.init_transactions(self._timeout_s)
        except KafkaException as exc:
            log.warning("init_transactions_failed", error=str(exc))
            return False
        self._producer = producer
        self.initialized.set()
        log.info("publisher_ready", transactional_id=self._txn_id)
        return True

    def _commit(self, batch: list[_Pending]) -> None:
        started = time.monotonic()
        error: TidingsError | None = None
        producer = self._producer
        if producer is None:
            error = Unavailable("the event store is not reachable")
        else:
            try:
                producer.begin_transaction()
                for pending in batch:
                    for r in pending.records:
                        if r.partition is None:
                            producer.produce(r.topic, r.value, r.key, headers=r.headers)
                        else:
                            producer.produce(
                                r.topic, r.value, r.key, partition=r.partition, headers=r.headers
                            )
                producer.commit_transaction(self._timeout_s)
            except (KafkaException, BufferError) as exc:
                error = Unavailable("the event store did not confirm the write in time")
                log.warning("transaction_failed", error=str(exc), requests=len(batch))
                self._recover(producer, exc)
        self._on_batch(len(batch), time.monotonic() - started)
        for pending in batch:
            pending.loop.call_soon_threadsafe(_settle, pending.future, error)

    def _recover(self, producer: Producer, exc: BaseException) -> None:
        """Abort the open transaction; if that is impossible, drop the producer so the next
        batch re-initializes it (init_transactions fences and aborts what was left open)."""
        err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        if err is None or not err.fatal():
            try:
                producer.abort_transaction(self._timeout_s)
                return
            except KafkaException as abort_exc:
                log.warning("abort_failed", error=str(abort_exc))
        self._producer = None
        self.initialized.clear()

    def broker_answers(self, timeout_s: float) -> bool:
        """A metadata round trip through the producer (readiness: the broker answers now)."""
        producer = self._producer
        if producer is None:
            return False
        try:
            producer.list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return True
