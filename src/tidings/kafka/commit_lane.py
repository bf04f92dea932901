"""One commit lane of the group-commit publisher: a thread owning a transactional producer.

The lane takes whatever requests arrived within ``batch_linger_ms`` (up to ``batch_max``)
from the publisher's shared queue, writes them in ONE Kafka transaction and settles every
request's future after the commit; a failed or timed-out commit is aborted and the whole
batch gets 503. Several lanes overlap their commits (one waits for the broker while the
next gathers), each under a stable transactional id of its own (``…-lane-N``), so a restart
fences and aborts exactly what the crashed predecessor's same lane had left open.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, KafkaException, Producer

from tidings.errors import TidingsError, Unavailable
from tidings.kafka.producer import produce, transactional_producer
from tidings.logs import get_logger
from tidings.settings import Settings

if TYPE_CHECKING:
    from tidings.kafka.group_commit import Pending

log = get_logger(__name__)


class CommitLane:
    def __init__(
        self,
        settings: Settings,
        index: int,
        pending: queue.Queue[Pending],
        stopping: threading.Event,
        settle: Callable[[list[Pending], TidingsError | None, float], None],
        others_ready: Callable[[], bool],
    ) -> None:
        ingest = settings.ingest
        self._settings = settings
        self.txn_id = f"{settings.topic_prefix}ingest.{ingest.instance_id}-lane-{index}"
        self._timeout_s = ingest.produce_timeout_s
        self._linger_s = ingest.batch_linger_ms / 1000
        self._batch_max = ingest.batch_max
        self._queue, self._stopping = pending, stopping
        self._settle, self._others_ready = settle, others_ready
        self.producer: Producer | None = None
        self.thread = threading.Thread(target=self._run, name=f"commit-lane-{index}", daemon=True)

    def _run(self) -> None:
        while not (self._stopping.is_set() and self._queue.empty()):
            if self.producer is None and not self._init():
                self._stopping.wait(1.0)
                # An unready lane leaves the work to ready ones; with none ready, fail fast.
                if self._queue.empty() or self._others_ready():
                    continue
            try:
                first = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self._commit(self._gather(first))
        if self.producer is not None:
            self.producer.flush(5)

    def _gather(self, first: Pending) -> list[Pending]:
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
        return batch

    def _init(self) -> bool:
        producer = transactional_producer(self._settings, "ingest", self.txn_id)
        try:
            producer.init_transactions(self._timeout_s)  # fences this lane's predecessor
        except KafkaException as exc:
            log.warning("init_transactions_failed", error=str(exc), lane=self.txn_id)
            return False
        self.producer = producer
        log.info("publisher_ready", transactional_id=self.txn_id)
        return True

    def _commit(self, batch: list[Pending]) -> None:
        started = time.monotonic()
        error: TidingsError | None = None
        producer = self.producer
        if producer is None:
            error = Unavailable("the event store is not reachable")
        else:
            try:
                producer.begin_transaction()
                for pending in batch:
                    for record in pending.records:
                        produce(producer, record)
                producer.commit_transaction(self._timeout_s)
            except (KafkaException, BufferError) as exc:
                error = Unavailable("the event store did not confirm the write in time")
                log.warning("transaction_failed", error=str(exc), requests=len(batch))
                self._recover(producer, exc)
        self._settle(batch, error, time.monotonic() - started)

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
        self.producer = None
