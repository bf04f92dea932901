"""``NotificationProducer``: the direct path for internal systems, synchronous flavour.

``send`` validates and signs on the caller's thread (a bad request raises at once with the
endpoint's error), then hands the record to librdkafka's queue and returns the event id; the
broker's answer arrives in a delivery callback. Throughput comes from batching: ``send`` never
waits, ``flush`` waits for everything queued and returns one ``Ack`` per event.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message

from tidings.errors import Unavailable
from tidings.kafka.errors import translate_kafka_error
from tidings.kafka.producer import durable_producer, produce
from tidings.kafka.records import Outgoing
from tidings.producer.acks import Ack
from tidings.producer.base import PreparingProducer, Request
from tidings.producer.prepare import PreparedEvent
from tidings.settings import Settings

AckCallback = Callable[[Ack], None]


class NotificationProducer(PreparingProducer):
    """Writes validated, signed events of one tenant straight to the events topic."""

    def _open(self, settings: Settings, client_suffix: str, overrides: dict[str, Any]) -> None:
        # idempotence, acks=all, murmur2_random: checked, or it refuses to start
        self._producer = durable_producer(settings, client_suffix, **overrides)
        self._done: deque[Ack] = deque()  # appended by callbacks (run inside poll/flush)
        self._in_flight: dict[str, int] = {}  # event id -> records not yet answered

    def send(
        self,
        request: Request,
        *,
        idempotency_key: str | None = None,
        on_ack: AckCallback | None = None,
    ) -> str:
        """Validate, sign and queue one event; returns its id. Raises a ``TidingsError`` for a
        request the endpoint would refuse; the broker's answer comes with ``flush``."""
        return self.send_prepared(self.prepare(request, idempotency_key), on_ack)

    def send_prepared(self, event: PreparedEvent, on_ack: AckCallback | None = None) -> str:
        callback = self._callback(event.event_id, on_ack)
        produce(
            self._producer, Outgoing(self.topic, event.key, event.value, event.headers), callback
        )
        self._in_flight[event.event_id] = self._in_flight.get(event.event_id, 0) + 1
        self._producer.poll(0)
        return event.event_id

    def _callback(
        self, event_id: str, on_ack: AckCallback | None
    ) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                ack = Ack(event_id, error=translate_kafka_error(err))
            else:
                ack = Ack(event_id, msg.partition(), msg.offset())
            self._settle(event_id)
            self._done.append(ack)
            if on_ack is not None:
                on_ack(ack)

        return on_delivery

    def _settle(self, event_id: str) -> None:
        left = self._in_flight.get(event_id, 0) - 1
        if left > 0:
            self._in_flight[event_id] = left
        else:
            self._in_flight.pop(event_id, None)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Serve delivery callbacks without waiting for everything (long-running producers)."""
        return int(self._producer.poll(timeout_s))

    def flush(self, timeout_s: float = 30.0) -> list[Ack]:
        """Wait for every queued event; one ``Ack`` per event sent since the last flush.

        An event still unanswered at the deadline is reported ``unavailable`` (outcome
        unknown: it may yet be written, so retry it with the same Idempotency-Key)."""
        deadline = time.monotonic() + timeout_s
        while self._in_flight and time.monotonic() < deadline:
            self._producer.flush(max(0.0, min(1.0, deadline - time.monotonic())))
        acks = [self._done.popleft() for _ in range(len(self._done))]
        for event_id, count in self._in_flight.items():
            acks += [Ack(event_id, error=Unavailable("not acknowledged in time"))] * count
        self._in_flight.clear()
        return acks

    def send_many(
        self, requests: Iterable[tuple[Request, str | None]], timeout_s: float = 30.0
    ) -> list[Ack]:
        """Queue (request, idempotency key) pairs, then one flush for all of them."""
        for request, key in requests:
            self.send(request, idempotency_key=key)
        return self.flush(timeout_s)

    def close(self, timeout_s: float = 30.0) -> list[Ack]:
        acks = self.flush(timeout_s)
        self._stop_registry()
        return acks

    def __enter__(self) -> NotificationProducer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
