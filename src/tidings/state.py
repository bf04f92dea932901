"""Explicit processing state: stages, their order, and the record each writer emits.

Several writers touch one event's state (ingest, resolver, fan-out), so every record carries
a ``seq`` derived from its stage and attempt. Later stages always have a higher ``seq``, and
the writers' order on the log matches it (ingest writes ``accepted`` in the same transaction
as the event; the resolver and fan-out write only after reading committed input), so neither
compaction nor a view can move an event backwards. Views keep the highest ``seq`` regardless.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any


class Stage(StrEnum):
    ACCEPTED = "accepted"
    RESOLVING = "resolving"
    RETRYING = "retrying"
    RESOLVED = "resolved"
    DISPATCHED = "dispatched"
    FAILED = "failed"
    REJECTED = "rejected"


TERMINAL = frozenset({Stage.DISPATCHED, Stage.FAILED, Stage.REJECTED})
_MAX_ATTEMPTS = 10_000


def state_seq(stage: Stage, attempt: int = 0) -> int:
    """Total order of one event's states: accepted < resolving(n) < retrying(n) <
    resolving(n+1) < ... < resolved < dispatched, and failed/rejected above everything."""
    attempt = max(0, min(attempt, _MAX_ATTEMPTS))
    match stage:
        case Stage.ACCEPTED:
            return 0
        case Stage.RESOLVING:
            return 10 * attempt + 1
        case Stage.RETRYING:
            return 10 * attempt + 5
        case Stage.RESOLVED:
            return 10 * (_MAX_ATTEMPTS + 1)
        case Stage.DISPATCHED:
            return 10 * (_MAX_ATTEMPTS + 2)
        case Stage.FAILED | Stage.REJECTED:
            return 10 * (_MAX_ATTEMPTS + 3)
    raise ValueError(stage)


def now_ms() -> int:
    return int(time.time() * 1000)


def state_record(
    event_id: str,
    tenant: str,
    stage: Stage,
    *,
    attempt: int = 0,
    type_: str | None = None,
    recipients: int | None = None,
    chunks: int | None = None,
    deliveries: dict[str, int] | None = None,
    skipped: dict[str, int] | None = None,
    next_attempt_at: int | None = None,
    error_class: str | None = None,
    detail: str | None = None,
    directory_offset: int | None = None,
    replay_id: str | None = None,
    at: int | None = None,
) -> dict[str, Any]:
    """The value of one state record (schema ``state``)."""
    return {
        "event_id": event_id,
        "tenant": tenant,
        "stage": stage.value,
        "seq": state_seq(stage, attempt),
        "at": at if at is not None else now_ms(),
        "type": type_,
        "recipients": recipients,
        "chunks": chunks,
        "deliveries": deliveries or {},
        "skipped": skipped or {},
        "attempt": attempt,
        "next_attempt_at": next_attempt_at,
        "error_class": error_class,
        "detail": detail,
        "directory_offset": directory_offset,
        "replay_id": replay_id,
    }


def newer(candidate: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """Whether ``candidate`` should replace ``current`` in a view (never backwards)."""
    return current is None or int(candidate["seq"]) >= int(current["seq"])


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """What a client may see of a state record over HTTP (no internal offsets)."""
    return {
        "id": record["event_id"],
        "status": record["stage"],
        "type": record.get("type"),
        "updated_at": record["at"],
        "attempt": record.get("attempt", 0),
        "next_attempt_at": record.get("next_attempt_at"),
        "recipients": record.get("recipients"),
        "deliveries": record.get("deliveries") or {},
        "skipped": record.get("skipped") or {},
        "error": record.get("error_class"),
        "detail": record.get("detail"),
    }
