"""Many records through one durable producer, with delivery callbacks and one flush: the write
path of operator tools (replay, state rebuild). Returns how many the broker acknowledged."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tidings.kafka.producer import durable_producer, produce
from tidings.kafka.records import Outgoing
from tidings.settings import Settings


def write_all(
    settings: Settings,
    suffix: str,
    records: Iterable[Outgoing],
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
        produce(producer, rec, on_delivery)
    producer.flush(timeout_s)
    return acked
