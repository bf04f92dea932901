"""Many records through one durable producer, with delivery callbacks and one flush: the write
path of operator tools (replay, state rebuild). Returns how many the broker acknowledged."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tidings.contracts.headers import Headers
from tidings.kafka.producer import durable_producer
from tidings.settings import Settings


@dataclass(frozen=True)
class Out:
    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    partition: int | None = None  # explicit for co-partitioned topics (state)


def write_all(
    settings: Settings,
    suffix: str,
    records: Iterable[Out],
    advance: Callable[[int], None],
    timeout_s: float = 60.0,
) -> int:
    producer = durable_producer(settings, suffix)
    acked = 0

    def on_delivery(err: object, msg: object) -> None:
        nonlocal acked
        acked += err is None
        advance(1)

    for rec in records:
        while True:
            try:
                producer.produce(
                    rec.topic,
                    key=rec.key,
                    value=rec.value,
                    headers=rec.headers,
                    # -1 is librdkafka's "unassigned": the partitioner (murmur2) decides.
                    partition=-1 if rec.partition is None else rec.partition,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:  # local queue full: serve callbacks, bounded memory
                producer.poll(0.05)
        producer.poll(0)
    producer.flush(timeout_s)
    return acked
