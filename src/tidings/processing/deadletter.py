"""Dead-letter and retry records: the original record kept whole, with every attempt."""

from __future__ import annotations

from typing import Any

from tidings.contracts.headers import to_dict
from tidings.contracts.state import now_ms
from tidings.kafka.records import RawRecord


def attempt_entry(
    attempt: int, error_class: str, detail: str, at: int | None = None
) -> dict[str, Any]:
    at = now_ms() if at is None else at
    return {"attempt": attempt, "at": at, "error_class": error_class, "detail": detail[:500]}


def backoff_ms(attempt: int, base_ms: int, cap_ms: int) -> int:
    """Delay before ``attempt`` (2 = the first retry): base, 2 base, 4 base, … up to cap."""
    return int(min(cap_ms, base_ms * 2 ** max(0, attempt - 2)))


def dead_letter(
    msg: RawRecord,
    *,
    outcome: str,
    error_class: str,
    detail: str,
    event_id: str | None,
    tenant: str | None,
    attempts: list[dict[str, Any]] | None = None,
    original: tuple[bytes | None, bytes | None, dict[str, bytes]] | None = None,
    at: int | None = None,
) -> dict[str, Any]:
    """A ``dead_letter`` value. ``original`` overrides the message's own key/value/headers
    (a retry record dead-letters the event it carried, not its envelope)."""
    key, value, headers = original or (msg.key, msg.value, to_dict(msg.headers))
    return {
        "event_id": event_id,
        "tenant": tenant,
        "outcome": outcome,
        "error_class": error_class,
        "detail": detail[:1000],
        "source_topic": msg.topic,
        "source_partition": msg.partition,
        "source_offset": msg.offset,
        "original_key": key,
        "original_value": value,
        "original_headers": headers,
        "attempts": attempts or [],
        "at": now_ms() if at is None else at,
    }


def retry_record(
    event_id: str,
    tenant: str,
    value: bytes,
    headers: dict[str, bytes],
    attempt: int,
    not_before: int,
    attempts: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "tenant": tenant,
        "original_value": value,
        "original_headers": headers,
        "attempt": attempt,
        "not_before": not_before,
        "attempts": attempts,
    }
