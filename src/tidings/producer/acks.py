"""Per-event acknowledgement reports: did the broker take the event (acks=all) or not."""

from __future__ import annotations

from dataclasses import dataclass

from tidings.errors import TidingsError


@dataclass(frozen=True)
class Ack:
    """The outcome of one event. ``error`` set means not acknowledged: with ``retriable`` the
    outcome may be unknown (librdkafka's "possibly persisted"), so retry with the same
    Idempotency-Key and the deterministic event id makes the retry safe."""

    event_id: str
    partition: int | None = None
    offset: int | None = None
    error: TidingsError | None = None

    @property
    def acknowledged(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "acknowledged": self.acknowledged,
            "partition": self.partition,
            "offset": self.offset,
            "error": self.error.code if self.error else None,
        }
