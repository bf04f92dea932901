"""Rebuild processing state from the log: the events topic and what processing wrote.

Per original event (replay copies excluded) the newest provable state is derived from, in
rising order: the event itself (``accepted``), retry records (``retrying``), resolved chunks
and their ``resolution`` summary header (``resolved``: recipients, skipped, directory
offset), delivery requests matched to chunks (fan-out progress, ``dispatched`` when every
chunk's requests exist) and dead letters (``rejected`` / ``failed``). A derived record is
written only where it is newer than what the state topic holds, so a rebuild never moves an
event backwards and running it twice writes nothing the second time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import Stage, latest_per_event, newer, stage_time, state_record
from tidings.contracts.topics import Topics, state_key
from tidings.kafka.records import Outgoing
from tidings.ops.batch_write import write_all
from tidings.ops.records_json import decode
from tidings.ops.scan import Selection, scan
from tidings.settings import Settings

Key = tuple[str, str]


@dataclass
class Evidence:
    event: dict[str, Any]
    at: int
    retries: list[dict[str, Any]] = field(default_factory=list)
    chunks: dict[int, tuple[dict[str, Any], dict[str, Any], int]] = field(default_factory=dict)
    delivered: set[tuple[str, str]] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    last_delivery_at: int = 0
    dead: dict[str, Any] | None = None
    dead_at: int = 0


def _records(settings: Settings, codec: Codec, topic: str, name: str, sel: Selection) -> Any:
    for raw in scan(settings, topic, sel):
        value, _ = decode(raw, codec, name)
        if value is not None and value.get("replay_id") is None:
            yield raw, value


def gather(settings: Settings, codec: Codec, tenant: str | None) -> dict[Key, Evidence]:
    topics, sel = Topics(settings), Selection(tenant=tenant)
    found: dict[Key, Evidence] = {}
    for _raw, ev in _records(settings, codec, topics.events.name, "event", sel):
        found.setdefault((ev["tenant"], ev["event_id"]), Evidence(ev, ev["accepted_at"]))
    for _raw, rec in _records(settings, codec, topics.retry.name, "retry", sel):
        if rec.get("slice") is not None:
            continue  # a large audience's next slice (fair sharing), not a retry
        if (e := found.get((rec["tenant"], rec["event_id"]))) is not None:
            e.retries.append(rec)
    for raw, rec in _records(settings, codec, topics.resolved.name, "resolved_chunk", sel):
        if (e := found.get((rec["tenant"], rec["event_id"]))) is not None:
            summary = orjson.loads(h.to_dict(raw.headers).get(h.RESOLUTION) or b"{}")
            e.chunks[rec["chunk"]] = (rec, summary, raw.timestamp)
    for spec in topics.deliveries.values():
        for _raw, rec in _records(settings, codec, spec.name, "delivery", Selection()):
            if (e := found.get((rec["tenant"], rec["event_id"]))) is not None:
                e.delivered.add((rec["user_id"], rec["channel"]))
                e.counts[rec["channel"]] += 1
                # fan-out writes its state record with its chunk's `requested_at`
                e.last_delivery_at = max(e.last_delivery_at, int(rec["requested_at"]))
    for _raw, rec in _records(settings, codec, topics.dlq.name, "dead_letter", Selection()):
        e = found.get((rec.get("tenant") or "", rec.get("event_id") or ""))
        if e is not None and rec["outcome"] in ("rejected", "failed"):
            # the resolver writes the state and its dead letter with one time: the record's
            e.dead, e.dead_at = rec, int(rec["at"])
    return found


def derive(e: Evidence, channels: set[str]) -> dict[str, Any]:
    """The state record the services wrote last for this event, as they write it: its
    history, times and counts all come from records on the log."""
    ev = e.event
    source = ev.get("source") or {}
    base = {
        "type_": ev["type"],
        "accepted_at": ev["accepted_at"],
        "client_id": source.get("client_id"),
        "source_reference": source.get("reference"),
        "fingerprint": ev.get("fingerprint"),
    }
    if e.chunks:  # processed; a dead letter beside it is a refused duplicate
        return _resolved(e, channels)
    if e.dead is not None:
        attempts = e.dead.get("attempts") or []
        if e.dead["outcome"] == "rejected":
            # As the resolver writes it: a refused record's type is not trusted, so not kept.
            return state_record(
                ev["event_id"],
                ev["tenant"],
                Stage.REJECTED,
                error_class=e.dead["error_class"],
                detail=e.dead["detail"][:300],
                at=e.dead_at,
            )
        n = attempts[-1]["attempt"] if attempts else 0
        return state_record(
            ev["event_id"],
            ev["tenant"],
            Stage.FAILED,
            **base,
            attempt=n,
            error_class=e.dead["error_class"],
            detail=f"gave up after {n} attempts",
            at=e.dead_at,
            history=_history(ev, attempts),
        )
    if e.retries:
        last = max(e.retries, key=lambda r: r["attempt"])
        attempt = last["attempt"] - 1
        attempts = last["attempts"] or []
        return state_record(
            ev["event_id"],
            ev["tenant"],
            Stage.RETRYING,
            **base,
            attempt=attempt,
            next_attempt_at=last["not_before"],
            error_class=(attempts or [{}])[-1].get("error_class"),
            detail="a transient failure; will retry",
            at=int(attempts[-1]["at"]) if attempts else e.at,
            history=_history(ev, attempts),
        )
    return state_record(ev["event_id"], ev["tenant"], Stage.ACCEPTED, **base, at=e.at)


def _history(event: dict[str, Any], attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An attempt's history as the resolver writes it: each earlier attempt's retry, then the
    last attempt's start (its outcome record appends itself)."""
    history = [stage_time(Stage.ACCEPTED, int(event["accepted_at"]))]
    if not attempts:
        return history
    *past, last = attempts
    history += [stage_time(Stage.RETRYING, int(a["at"]), int(a["attempt"])) for a in past]
    history.append(stage_time(Stage.RESOLVING, int(last["at"]), int(last["attempt"])))
    return history


def _resolved(e: Evidence, channels: set[str]) -> dict[str, Any]:
    ev = e.event
    # The newest chunk: a large audience resolved in slices counts its totals in there.
    newest, summary, resolved_at = e.chunks[max(e.chunks)]
    told = [h for h in summary.get("history") or [] if h["stage"] == Stage.RESOLVED.value]
    resolved_at = int(told[-1]["at"]) if told else resolved_at  # the resolver's own time
    total = newest["chunks"]
    done = 0
    while done in e.chunks and all(
        (r["user_id"], ch) in e.delivered
        for r in e.chunks[done][0]["recipients"]
        for ch in r["channels"]
        if ch in channels
    ):
        done += 1
    ended = newest.get("final", True)  # else more slices were to come
    stage = Stage.DISPATCHED if ended and done >= total else Stage.RESOLVED
    source = ev.get("source") or {}
    return state_record(
        ev["event_id"],
        ev["tenant"],
        stage,
        type_=ev["type"],
        accepted_at=ev["accepted_at"],
        client_id=source.get("client_id"),
        source_reference=source.get("reference"),
        history=summary.get("history") or [],
        chunks_done=done,
        recipients=summary.get("recipients"),
        chunks=total,
        deliveries=dict(e.counts),
        skipped=summary.get("skipped"),
        directory_offset=summary.get("directory_offset"),
        at=e.last_delivery_at or resolved_at,
    )


def current_states(settings: Settings, codec: Codec, tenant: str | None) -> dict[Key, Any]:
    topic = Topics(settings).state.name
    records = _records(settings, codec, topic, "state", Selection(tenant=tenant))
    return latest_per_event(rec for _, rec in records)


def plan_rebuild(settings: Settings, codec: Codec, tenant: str | None) -> list[dict[str, Any]]:
    """The state records to write: derived ones newer than what the state topic holds."""
    channels = set(settings.processing.channels)
    evidence = gather(settings, codec, tenant)
    current = current_states(settings, codec, tenant)
    out = []
    for key, e in sorted(evidence.items()):
        derived = derive(e, channels)
        held = current.get(key)
        # Only what the held record does not supersede: an equal one is already there.
        if held is None or not newer(held, derived):
            out.append(derived)
    return out


def write_states(
    settings: Settings, codec: Codec, records: list[dict[str, Any]], advance: Callable[[int], None]
) -> int:
    """Append the records to the state topic in their tenant's partition (co-partitioning)."""
    spec = Topics(settings).state
    outs = (
        Outgoing(
            spec.name,
            state_key(rec["tenant"], rec["event_id"]),
            codec.encode("state", rec),
            h.to_list({h.EVENT_ID: rec["event_id"], h.TENANT: rec["tenant"]}),
            tenant_partition(rec["tenant"], spec.partitions),
        )
        for rec in records
    )
    return write_all(settings, "state-rebuild", outs, advance)
