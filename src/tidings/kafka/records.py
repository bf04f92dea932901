"""The two record shapes every Kafka path shares: one consumed (``RawRecord``) and one to be
produced (``Outgoing``), plus the one conversion of librdkafka's headers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Message

from tidings.contracts.headers import Headers


def header_pairs(raw: Iterable[tuple[str, str | bytes | None]] | None) -> list[tuple[str, bytes]]:
    """A consumed record's headers as (name, bytes) pairs in record order (a missing value is
    empty bytes); ``contracts.headers.to_dict`` gives the last-value-wins lookup."""
    return [
        (str(name), value.encode() if isinstance(value, str) else (value or b""))
        for name, value in raw or []
    ]


@dataclass(frozen=True)
class RawRecord:
    """One consumed record, detached from librdkafka (safe to keep, compare and pass on)."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, msg: Message) -> RawRecord:
        ts_type, ts = msg.timestamp()
        return cls(
            msg.topic() or "",
            msg.partition() or 0,
            msg.offset() or 0,
            ts if ts_type else 0,
            msg.key(),
            msg.value(),
            header_pairs(msg.headers()),  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class Outgoing:
    """One record to produce. ``partition`` is explicit only for co-partitioned topics (state,
    resolved, retry: the tenant's partition); otherwise murmur2 of the key decides."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default_factory=list)
    partition: int | None = None
