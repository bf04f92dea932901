"""What one resolution writes: the resolved chunks (frozen record of who and why) and the
state records around them, all in the caller's transaction."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings import tracing
from tidings.contracts import headers as h
from tidings.contracts.state import Stage, now_ms, stage_time, state_record, with_stage
from tidings.contracts.topics import resolved_key
from tidings.processing.outbox import Outbox
from tidings.processing.writes import PendingStates, Writes
from tidings_resolver.resolution import Resolution


def event_state(event: Mapping[str, Any], stage: Stage, **fields: Any) -> dict[str, Any]:
    """A state record of this event: who created it and when travel with every stage."""
    source = event.get("source") or {}
    return state_record(
        str(event["event_id"]),
        str(event["tenant"]),
        stage,
        type_=str(event["type"]),
        replay_id=event.get("replay_id"),
        accepted_at=event.get("accepted_at"),
        client_id=source.get("client_id"),
        source_reference=source.get("reference"),
        fingerprint=event.get("fingerprint"),
        **fields,
    )


def history_until_now(
    event: Mapping[str, Any], past: list[dict[str, Any]], attempt: int, started: int
) -> list[dict[str, Any]]:
    """The stages before this resolution's outcome: accepted, each earlier attempt's retry,
    and this attempt's start (the outcome record appends itself)."""
    history = [stage_time(Stage.ACCEPTED, int(event["accepted_at"]))]
    history += [stage_time(Stage.RETRYING, int(a["at"]), int(a["attempt"])) for a in past]
    history.append(stage_time(Stage.RESOLVING, started, attempt))
    return history


@dataclass(frozen=True)
class Progress:
    """What the earlier slices of one resolution wrote (a slice continuation carries it)."""

    chunks: int = 0
    recipients: int = 0
    skipped: Mapping[str, int] = field(default_factory=dict)


def write_resolution(
    out: Outbox,
    writes: Writes,
    event: Mapping[str, Any],
    resolution: Resolution,
    *,
    attempt: int,
    chunk_size: int,
    directory_offset: int,
    pending: PendingStates,
    history: list[dict[str, Any]],
    at: int,
    before: Progress | None = None,
    final: bool = True,
) -> Progress:
    """Two records per event: its chunks and ONE state record (``resolved``, or
    ``dispatched`` when nobody is to be notified). Earlier stages are in its history.

    A slice of a larger audience (``before``: what earlier slices wrote) numbers its chunks
    after theirs and counts their totals in; a slice that is not ``final`` marks its chunks
    so fan-out does not end the event on them, and writes ``resolving`` with the progress.
    The final slice of an audience whose earlier slices wrote chunks always writes one, even
    an empty one, so fan-out sees where the event ends. Returns the progress after it."""
    before = before or Progress()
    tenant, event_id = str(event["tenant"]), str(event["event_id"])
    mine = list(resolution.chunks(chunk_size))
    if final and before.chunks and not mine:
        mine = [[]]
    total = before.recipients + len(resolution.recipients)
    chunks = before.chunks + len(mine)
    skipped = dict(Counter(before.skipped) + resolution.skipped)
    progress = Progress(chunks, total, skipped)
    if final:
        history = with_stage(history, Stage.RESOLVED, at, attempt)
    summary = orjson.dumps(
        {
            "recipients": total,
            "skipped": skipped,
            "directory_offset": directory_offset,
            "history": history,
            # What fan-out copies into its state records (it never reads the event).
            "accepted_at": event.get("accepted_at"),
            "client_id": (event.get("source") or {}).get("client_id"),
            "source_reference": (event.get("source") or {}).get("reference"),
            "fingerprint": event.get("fingerprint"),
        }
    )
    headers = h.to_list(
        {
            h.EVENT_ID: event_id,
            h.TENANT: tenant,
            h.EVENT_TYPE: str(event["type"]),
            h.RESOLUTION: summary,
        }
    )
    if tracing.ENABLED:  # fan-out continues this trace (the resolve span is current)
        tracing.inject(headers)
    partition = writes.partition_of(tenant)
    for index, chunk in enumerate(mine, start=before.chunks):
        value = writes.codec.encode(
            "resolved_chunk",
            {
                "event_id": event_id,
                "tenant": tenant,
                "type": event["type"],
                "chunk": index,
                "chunks": chunks,
                "recipients": [
                    {
                        "user_id": r.user_id,
                        "matched_by": list(r.matched_by),
                        "channels": dict(r.channels),
                    }
                    for r in chunk
                ],
                "payload": event["payload"],
                "version": event["version"],
                "replay_id": event.get("replay_id"),
                "final": final,
            },
            validate=False,  # built from the decoded event and the directory's contacts
        )
        out.produce(
            writes.topics.resolved.name,
            resolved_key(tenant, event_id, index),
            value,
            headers,
            partition,
        )
    common = {
        "recipients": total,
        "chunks": chunks,
        "skipped": skipped,
        "directory_offset": directory_offset,
        "attempt": attempt,
        "history": history,
    }
    if not final:
        detail = f"resolving in slices: {total} recipients in {chunks} chunks so far"
        writes.state(
            out, event_state(event, Stage.RESOLVING, at=at, detail=detail, **common), pending
        )
        return progress
    if chunks:
        writes.state(out, event_state(event, Stage.RESOLVED, at=at, **common), pending)
        return progress
    # Nothing to fan out: the resolver ends the event itself, saying why.
    reasons = ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "empty audience"
    writes.state(
        out,
        event_state(
            event,
            Stage.DISPATCHED,
            **common,
            at=at,
            detail=f"no recipients to notify ({reasons})",
        ),
        pending,
    )
    out.latencies.append(max(0.0, (now_ms() - int(event["accepted_at"])) / 1000))
    return progress
