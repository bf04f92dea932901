"""Producers: a blocking one for tools and an asyncio bridge for services.

The asyncio bridge follows karapace's AsyncKafkaProducer: librdkafka delivery callbacks run
on our poll thread, and the only way back into the event loop is ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message
from confluent_kafka import Producer as Producer  # re-exported: the type of durable_producer

from tidings.contracts.headers import Headers
from tidings.errors import Unavailable
from tidings.kafka.config import assert_durable, producer_config
from tidings.kafka.errors import kafka_error_of, translate_kafka_error
from tidings.kafka.records import Outgoing
from tidings.logs import get_logger
from tidings.settings import Settings


def durable_producer(settings: Settings, client_suffix: str, **overrides: Any) -> Producer:
    """A producer that is idempotent with acks=all, checked before it is built."""
    conf = {**producer_config(settings, client_suffix), **overrides}
    assert_durable(conf)
    return Producer(conf)


def transactional_producer(
    settings: Settings, client_suffix: str, transactional_id: str
) -> Producer:
    """A durable producer with a transactional id (initialise it with ``init_transactions``,
    which also fences the same id's crashed predecessor)."""
    conf = producer_config(settings, client_suffix, transactional_id=transactional_id)
    assert_durable(conf)
    return Producer(conf)


log = get_logger(__name__)
DeliveryCallback = Callable[[KafkaError | None, Message], None]


def commit_transaction(producer: Producer, timeout_s: float) -> None:
    """Commit, retrying while librdkafka says a retry may still succeed (its contract for
    ``commit_transaction``): the coordinator may already have taken the commit whose answer
    was lost in a failover, and aborting then would guess at a decided outcome. Raises what
    the last attempt raised (about ``timeout_s`` after the first, at most twice that)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            producer.commit_transaction(timeout_s)
            return
        except KafkaException as exc:
            error = kafka_error_of(exc)
            if error is None or not error.retriable() or time.monotonic() > deadline:
                raise
            log.warning("commit_retried", error=str(exc))
            time.sleep(0.1)


def produce(
    producer: Producer, record: Outgoing, on_delivery: DeliveryCallback | None = None
) -> None:
    """Queue one record; a full local queue is waited out by serving delivery callbacks, so
    memory stays bounded and nothing is dropped (the one produce loop of every writer)."""
    kwargs: dict[str, Any] = {"key": record.key, "value": record.value, "headers": record.headers}
    if record.partition is not None:
        kwargs["partition"] = record.partition
    if on_delivery is not None:
        kwargs["on_delivery"] = on_delivery
    while True:
        try:
            producer.produce(record.topic, **kwargs)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)


def produce_sync(
    producer: Producer,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None = None,
    timeout_s: float = 30.0,
) -> Message:
    """Produce one record and wait for its acknowledgement (tools and tests, not hot paths)."""
    result: list[tuple[KafkaError | None, Message]] = []
    producer.produce(
        topic,
        key=key,
        value=value,
        headers=headers,
        on_delivery=lambda err, msg: result.append((err, msg)),
    )
    producer.flush(timeout_s)
    if not result:
        raise Unavailable("no acknowledgement in time")
    err, msg = result[0]
    if err is not None:
        raise translate_kafka_error(err)
    return msg


class AsyncProducer:
    """``await produce(...)`` resolves once the broker acknowledged (acks=all) or failed."""

    def __init__(self, settings: Settings, client_suffix: str, **overrides: Any) -> None:
        self._producer = durable_producer(settings, client_suffix, **overrides)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._poll, name=f"poll-{client_suffix}", daemon=True
        )
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    async def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        timestamp_ms: int = 0,
    ) -> Message:
        """``timestamp_ms`` (0: now) becomes the record's CreateTime: the events topic's time
        index then finds an event by its ``accepted_at``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Message] = loop.create_future()

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            # librdkafka thread: hand the result to the loop, never touch the future here.
            loop.call_soon_threadsafe(_settle, future, err, msg)

        try:
            self._producer.produce(
                topic,
                key=key,
                value=value,
                headers=headers,
                on_delivery=on_delivery,
                timestamp=timestamp_ms,
            )
        except BufferError as exc:  # local queue full: backpressure, not memory growth
            raise Unavailable("too many writes in flight") from exc
        return await future

    def broker_answers(self, timeout_s: float) -> bool:
        """A metadata round trip (readiness: the broker answers now)."""
        try:
            self._producer.list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return True

    def flush(self, timeout_s: float = 10.0) -> int:
        return int(self._producer.flush(timeout_s))

    def close(self, timeout_s: float = 10.0) -> None:
        self.flush(timeout_s)
        self._stop.set()
        self._thread.join(timeout=2)


def _settle(future: asyncio.Future[Message], err: KafkaError | None, msg: Message) -> None:
    if future.done():
        return
    if err is not None:
        future.set_exception(translate_kafka_error(err))
    else:
        future.set_result(msg)
