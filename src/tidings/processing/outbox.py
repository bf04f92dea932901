"""What a handler writes inside the current transaction, and what it counts once committed."""

from __future__ import annotations

from collections import Counter

from tidings.contracts.headers import Headers
from tidings.kafka.producer import Producer, produce
from tidings.kafka.records import Outgoing


class Defer(Exception):
    """Raised by a handler for a record that may not be processed before ``not_before_ms``:
    the loop pauses that partition and comes back to the same offset later."""

    def __init__(self, not_before_ms: int) -> None:
        super().__init__(not_before_ms)
        self.not_before_ms = not_before_ms


class Outbox:
    """Produces into the open transaction; nothing here is visible to read_committed
    readers until the loop commits, and all of it disappears if the loop aborts."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self.produced: Counter[str] = Counter()
        self.total = 0
        self.transitions: Counter[str] = Counter()
        self.retries = 0
        self.dead_letters: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.handled = 0  # input records handled in this transaction

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None = None,
        partition: int | None = None,
    ) -> None:
        produce(self._producer, Outgoing(topic, key, value, headers or [], partition))
        self.produced[topic] += 1
        self.total += 1
