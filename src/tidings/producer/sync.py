"""``NotificationProducer``: the direct path for internal systems, synchronous flavour.

``send`` validates and encodes on the caller's thread (a bad request raises at once with the
endpoint's error) and buffers the event. The buffer is signed as one batch (one Ed25519
signature over its Merkle root) and handed to librdkafka when it holds ``batch_size``
events, when its first event has waited ``batch_linger_ms`` (the linger thread), or on
``poll``/``flush``. The broker's answer arrives in a delivery callback, served on the caller's
thread inside ``send``, ``poll`` and ``flush``: ``send`` never waits for the broker, ``flush``
waits for everything and returns one ``Ack`` per event.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message

from tidings.errors import Unavailable
from tidings.kafka.errors import translate_kafka_error
from tidings.kafka.producer import DeliveryCallback, durable_producer, produce
from tidings.kafka.records import Outgoing
from tidings.producer.acks import Ack
from tidings.producer.base import PreparingProducer, Request
from tidings.producer.prepare import PreparedEvent
from tidings.settings import Settings

AckCallback = Callable[[Ack], None]
_RETRY_FULL_QUEUE_S = 0.005
_IDLE_S = 1.0  # an idle linger thread looks again this often (is its producer still there?)


def _linger(ref: weakref.ref[NotificationProducer], wake: threading.Condition) -> None:
    while True:
        with wake:
            producer = ref()
            if producer is None or producer._closed:
                return
            timeout = producer._linger_step()
            del producer
            wake.wait(timeout)


class NotificationProducer(PreparingProducer):
    """Writes validated, signed events of one tenant straight to the events topic."""

    def _open(self, settings: Settings, client_suffix: str, overrides: dict[str, Any]) -> None:
        # idempotence, acks=all, murmur2_random: checked, or it refuses to start
        self._producer = durable_producer(settings, client_suffix, **overrides)
        self._done: deque[Ack] = deque()  # appended by callbacks (run inside poll/flush)
        self._in_flight: dict[str, int] = {}  # event id -> events sent, not yet answered
        # The buffer, the signed records not yet queued and the linger thread share one lock.
        # Reentrant: a delivery callback (served under it) may call send.
        self._wake = threading.Condition(threading.RLock())
        self._buffer: list[tuple[PreparedEvent, AckCallback | None]] = []
        self._first_at = 0.0  # when the oldest buffered event arrived
        self._signed: deque[tuple[PreparedEvent, DeliveryCallback]] = deque()
        self._queueing = False
        self._closed = False
        # The thread holds the producer weakly: one never closed is still collected (and its
        # librdkafka handle with it), and the thread ends within a second.
        self._linger = threading.Thread(
            target=_linger, args=(weakref.ref(self), self._wake), name=f"linger-{client_suffix}"
        )
        self._linger.daemon = True
        self._linger.start()

    def send(
        self,
        request: Request,
        *,
        idempotency_key: str | None = None,
        on_ack: AckCallback | None = None,
    ) -> str:
        """Validate, encode and queue one event; returns its id. Raises a ``TidingsError`` for
        a request the endpoint would refuse; the broker's answer comes with ``flush``."""
        return self.send_prepared(self.preparer.encode(request, idempotency_key), on_ack)

    def send_prepared(self, event: PreparedEvent, on_ack: AckCallback | None = None) -> str:
        """Queue an event from ``preparer.encode`` (signed with its batch) or from ``prepare``
        (already signed: written as it is, after the events sent before it)."""
        with self._wake:
            self._in_flight[event.event_id] = self._in_flight.get(event.event_id, 0) + 1
            if event.signed:
                self._seal()
                self._signed.append((event, self._callback(event.event_id, on_ack)))
            else:
                if not self._buffer:
                    self._first_at = time.monotonic()
                    self._wake.notify()
                self._buffer.append((event, on_ack))
                waited = time.monotonic() - self._first_at
                if len(self._buffer) >= self.batch_size or waited >= self.batch_linger_s:
                    self._seal()
            self._queue(block=True)
        return event.event_id

    def _seal(self) -> None:
        """Sign the buffered events as one batch (lock held)."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        signed = self.preparer.sign([event for event, _ in batch])
        for event, (_, on_ack) in zip(signed, batch, strict=True):
            self._signed.append((event, self._callback(event.event_id, on_ack)))

    def _queue(self, *, block: bool) -> None:
        """Hand the signed records to librdkafka, in order (lock held). A full local queue is
        waited out by serving callbacks (``block``: the caller's thread), or left for the
        next call (the linger thread, which never runs a callback)."""
        if self._queueing:  # a callback called send inside our own loop: that loop goes on
            return
        self._queueing = True
        try:
            while self._signed:
                event, callback = self._signed[0]
                record = Outgoing(self.topic, event.key, event.value, event.headers)
                if block:
                    produce(self._producer, record, callback)
                else:
                    try:
                        self._producer.produce(
                            record.topic,
                            key=record.key,
                            value=record.value,
                            headers=record.headers,
                            on_delivery=callback,
                        )
                    except BufferError:
                        return
                self._signed.popleft()
        finally:
            self._queueing = False

    def _linger_step(self) -> float:
        """Seal a batch that waited its linger and queue what is signed (the linger thread,
        lock held); how long until there may be work again."""
        timeout = _IDLE_S
        if self._buffer:
            timeout = self._first_at + self.batch_linger_s - time.monotonic()
            if timeout <= 0:
                self._seal()
                timeout = _IDLE_S
        if self._signed:
            self._queue(block=False)
            if self._signed:  # local queue full: try again shortly
                timeout = min(timeout, _RETRY_FULL_QUEUE_S)
        return timeout

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

    def _hand_over(self) -> None:
        """Sign what is buffered and queue everything signed (the caller's thread)."""
        with self._wake:
            self._seal()
            self._queue(block=True)

    def poll(self, timeout_s: float = 0.0) -> int:
        """Write what is buffered and serve delivery callbacks without waiting for everything
        (long-running producers)."""
        self._hand_over()
        return int(self._producer.poll(timeout_s))

    def flush(self, timeout_s: float = 30.0) -> list[Ack]:
        """Wait for every event sent; one ``Ack`` per event sent since the last flush.

        An event still unanswered at the deadline is reported ``unavailable`` (outcome
        unknown: it may yet be written, so retry it with the same Idempotency-Key)."""
        deadline = time.monotonic() + timeout_s
        self._hand_over()
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
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._linger.join(timeout=5)
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
