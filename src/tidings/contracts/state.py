"""Explicit processing state: stages, their order, and the record each writer emits.

Several writers touch one event's state (ingest, resolver, fan-out), so every record carries
a ``seq`` derived from its stage and attempt. Later stages always have a higher ``seq``, and
the writers' order on the log matches it (ingest writes ``accepted`` in the same transaction
as the event; the resolver and fan-out write only after reading committed input), so neither
compaction nor a view can move an event backwards. Views keep the highest ``seq`` regardless.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
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
MAX_ATTEMPTS = 10_000
MAX_CHUNKS = 100_000_000
_RESOLVED_BASE = 200_000
_DISPATCHED = 500_000_000
_ENDED = 600_000_000
UNPROVEN = -1


def state_seq(
    stage: Stage, attempt: int = 0, chunks_done: int = 0, *, unproven: bool = False
) -> int:
    """Total order of one event's states (fits Avro int):

    accepted < resolving(1) < retrying(1) < resolving(2) < ... < resolved(0 chunks fanned out)
    < resolved(1 chunk) < ... < dispatched, and failed/rejected above everything.
    ``chunks_done`` lets fan-out record progress per chunk without ever moving backwards.

    A rejection of a record whose origin was not proven ranks *below* ``accepted``: a forger
    who guesses a genuine event's id and gets there first must not make the genuine event
    look done (it would then be dropped as a duplicate)."""
    if unproven:
        return UNPROVEN
    attempt = max(0, min(attempt, MAX_ATTEMPTS))
    match stage:
        case Stage.ACCEPTED:
            return 0
        case Stage.RESOLVING:
            return 10 * attempt + 1
        case Stage.RETRYING:
            return 10 * attempt + 5
        case Stage.RESOLVED:
            return _RESOLVED_BASE + max(0, min(chunks_done, MAX_CHUNKS))
        case Stage.DISPATCHED:
            return _DISPATCHED
        case Stage.FAILED | Stage.REJECTED:
            return _ENDED
    raise ValueError(stage)


def now_ms() -> int:
    return int(time.time() * 1000)


def state_record(
    event_id: str,
    tenant: str,
    stage: Stage,
    *,
    attempt: int = 0,
    chunks_done: int = 0,
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
    unproven: bool = False,
    accepted_at: int | None = None,
    history: list[dict[str, Any]] | None = None,
    client_id: str | None = None,
    source_reference: str | None = None,
    fingerprint: str | None = None,
) -> dict[str, Any]:
    """The value of one state record (schema ``state``). ``history`` is every stage before
    this one; this record's own stage is appended to it here, so the newest record (all that
    compaction keeps) carries the whole story."""
    at = at if at is not None else now_ms()
    return {
        "event_id": event_id,
        "tenant": tenant,
        "stage": stage.value,
        "seq": state_seq(stage, attempt, chunks_done, unproven=unproven),
        "at": at,
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
        "accepted_at": accepted_at,
        "history": with_stage(history or [], stage, at, attempt),
        "client_id": client_id,
        "source_reference": source_reference,
        "fingerprint": fingerprint,
    }


def stage_time(stage: Stage, at: int, attempt: int = 0) -> dict[str, Any]:
    """One history entry."""
    return {"stage": stage.value, "at": at, "attempt": attempt}


def with_stage(
    history: list[dict[str, Any]], stage: Stage, at: int, attempt: int = 0
) -> list[dict[str, Any]]:
    """``history`` plus this stage, unless its last entry is already this stage (fan-out's
    progress records repeat ``resolved``; the story names it once)."""
    if history and history[-1]["stage"] == stage.value:
        return list(history)
    return [*history, stage_time(stage, at, attempt)]


def supersedes(candidate_seq: int, current_seq: int | None) -> bool:
    """THE rule every view, restore, rebuild and replay applies: a state record replaces the
    one held unless it is older, so an event never moves backwards (an equal ``seq`` is the
    same stage written again and may refresh it)."""
    return current_seq is None or candidate_seq >= current_seq


def chunks_done(record: dict[str, Any]) -> int:
    """How many chunks fan-out has fanned out by this record: what a ``resolved`` record's
    ``seq`` counts above ``state_seq(RESOLVED)`` (the inverse of its ``chunks_done``); 0 for
    any other stage."""
    if record["stage"] != Stage.RESOLVED:
        return 0
    return int(record["seq"]) - _RESOLVED_BASE


def newer(candidate: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """``supersedes`` for decoded records."""
    return supersedes(int(candidate["seq"]), None if current is None else int(current["seq"]))


def latest_per_event(records: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest state of each original event (forced redeliveries have their own)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in records:
        if record.get("replay_id"):
            continue
        key = (record["tenant"], record["event_id"])
        if newer(record, latest.get(key)):
            latest[key] = record
    return latest


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """What a client may see of a state record over HTTP (no internal offsets)."""
    return {
        "id": record["event_id"],
        "status": record["stage"],
        "type": record.get("type"),
        "accepted_at": record.get("accepted_at"),
        "updated_at": record["at"],
        "attempt": record.get("attempt", 0),
        "next_attempt_at": record.get("next_attempt_at"),
        "recipients": record.get("recipients"),
        "deliveries": record.get("deliveries") or {},
        "skipped": record.get("skipped") or {},
        "error": record.get("error_class"),
        "detail": record.get("detail"),
        "history": [
            {
                "stage": h["stage"],
                "at": h["at"],
                **({"attempt": h["attempt"]} if h.get("attempt") else {}),
            }
            for h in record.get("history") or []
        ],
    }
