"""All-or-nothing appends: the Kafka transaction behind ``POST /api/v1/notifications/batch``.

Single creates keep their idempotent producer (one record needs no transaction); a batch is
several records that must become visible together or not at all, so they are produced in one
transaction and read by every consumer with ``read_committed`` (views, resolver, tests).

The transactional id is ``<prefix>ingest.<instance id>``: every ingest process claims an
instance id of its own (tidings/instance_id.py), so two live processes never fence each other,
and a restarted one fences its crashed predecessor's open transaction at ``init``. One
producer runs one transaction at a time, so batches of one process are serialised here (a
batch of 100 is one round of produce + commit, a few milliseconds). The producer is made on
the first batch: a process that never gets one opens no transactional session.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tidings.contracts.headers import Headers
from tidings.errors import Unavailable
from tidings.kafka.errors import kafka_error_of
from tidings.kafka.producer import (
    DeliveryCallback,
    Producer,
    commit_transaction,
    transactional_producer,
)
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: Headers
    timestamp_ms: int


@dataclass(frozen=True)
class Placed:
    partition: int
    offset: int


def transactional_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}ingest.{settings.ingest.instance_id}"


class TransactionalAppender:
    """``append(records)`` commits every record or none (blocking: call it off the loop)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._txn_id = transactional_id(settings)
        self._timeout_s = settings.kafka.delivery_timeout_ms / 1000
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def _ready(self) -> Producer:
        if self._producer is None:
            suffix = f"ingest-batch-{self._settings.ingest.instance_id}"
            producer = transactional_producer(self._settings, suffix, self._txn_id)
            producer.init_transactions(self._timeout_s)  # fences a predecessor's transaction
            self._producer = producer
        return self._producer

    def append(self, records: Sequence[Record]) -> list[Placed]:
        """Where each record landed, in order, once the transaction committed; ``Unavailable``
        when it did not (aborted, or the outcome is unknown: retry with the same keys)."""
        with self._lock:
            try:
                producer = self._ready()
            except Exception as exc:  # librdkafka's KafkaException: no broker, no coordinator
                log.warning("batch_producer_unavailable", error=_reason(exc))
                raise Unavailable("the event store is not available") from None
            placed: list[Any] = [None] * len(records)  # delivered Messages
            failures: list[Any] = []  # KafkaErrors

            def delivered(index: int) -> DeliveryCallback:
                def on_delivery(err: Any, msg: Any) -> None:
                    # Served by this thread inside produce/commit (flush), never another one.
                    if err is not None:
                        failures.append(err)
                    else:
                        placed[index] = msg

                return on_delivery

            try:
                producer.begin_transaction()
                for index, record in enumerate(records):
                    producer.produce(
                        record.topic,
                        key=record.key,
                        value=record.value,
                        headers=record.headers,
                        timestamp=record.timestamp_ms,
                        on_delivery=delivered(index),
                    )
                commit_transaction(producer, self._timeout_s)
                producer.poll(0)
            except Exception as exc:  # KafkaException from librdkafka, BufferError: queue full
                self._abort(producer, exc)
                raise Unavailable("the batch was not committed; nothing of it is visible") from None
            if failures or any(msg is None for msg in placed):
                # Committed means every record was acknowledged; anything else is a bug.
                log.error("batch_delivery_unconfirmed", failures=[str(f) for f in failures])
                raise Unavailable("the event store did not confirm the batch")
            return [_placed(m) for m in placed if m is not None]

    def _abort(self, producer: Producer, exc: BaseException) -> None:
        log.warning("batch_transaction_failed", error=_reason(exc))
        error = kafka_error_of(exc)
        fatal = error is not None and error.fatal()
        if not fatal:
            try:
                producer.abort_transaction(self._timeout_s)
                return
            except Exception as abort_exc:
                log.warning("batch_abort_failed", error=_reason(abort_exc))
        # Fenced, fatal, or the abort itself failed: a new producer's init_transactions
        # aborts whatever this one left open (same transactional id).
        self._producer = None

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.flush(self._timeout_s)
                self._producer = None


def _reason(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else type(exc).__name__


def _placed(msg: Any) -> Placed:
    partition, offset = msg.partition(), msg.offset()
    # Set on every delivered record.
    assert partition is not None
    assert offset is not None
    return Placed(partition, offset)
