"""What a replay selects: events from the events topic or a dump file, and their states."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.state import latest_per_event
from tidings.contracts.topics import Topics
from tidings.errors import TidingsError
from tidings.ops.records_json import parse_line
from tidings.ops.scan import Selection, scan
from tidings.settings import Settings


@dataclass(frozen=True)
class Candidate:
    event_id: str
    tenant: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    envelope: dict[str, Any]
    timestamp: int


def _from_topic(settings: Settings, codec: Codec, sel: Selection) -> Iterator[Candidate]:
    for raw in scan(settings, Topics(settings).events.name, sel):
        if raw.value is None:
            continue
        ctype = h.text(dict(raw.headers), h.CONTENT_TYPE)
        try:
            event = codec.decode_value(raw.value, ctype, "event")
            value = codec.encode("event", event)  # canonical binary, what the signature covers
        except TidingsError:  # undecodable: it was rejected once and cannot be replayed
            continue
        headers = [(k, v) for k, v in raw.headers if k != h.CONTENT_TYPE]
        headers.append((h.CONTENT_TYPE, b"application/avro"))
        yield Candidate(
            event["event_id"], event["tenant"], raw.key, value, headers, event, raw.timestamp
        )


def _from_file(path: Path, codec: Codec) -> Iterator[Candidate]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            rec = parse_line(line, codec, "event")
            ev = rec.record
            yield Candidate(
                ev["event_id"], ev["tenant"], rec.key, rec.value, rec.headers, ev, ev["accepted_at"]
            )


def select(
    settings: Settings,
    codec: Codec,
    sel: Selection,
    *,
    event_type: str | None = None,
    file: Path | None = None,
) -> list[Candidate]:
    """Distinct original events of the selection, first copy wins; earlier replay copies
    (envelope ``replay_id`` set) are never selected again."""
    source = _from_file(file, codec) if file is not None else _from_topic(settings, codec, sel)
    seen: set[tuple[str, str]] = set()
    out = []
    for c in source:
        if c.envelope.get("replay_id") is not None or (c.tenant, c.event_id) in seen:
            continue
        if sel.tenant is not None and c.tenant != sel.tenant:
            continue
        if event_type is not None and c.envelope["type"] != event_type:
            continue
        if file is not None and not _in_time(c.timestamp, sel):
            continue
        seen.add((c.tenant, c.event_id))
        out.append(c)
    return out


def _in_time(ts: int, sel: Selection) -> bool:
    return (sel.start_ms is None or ts >= sel.start_ms) and (sel.end_ms is None or ts <= sel.end_ms)


def latest_states(
    settings: Settings, codec: Codec, tenants: Iterable[str]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Newest state of every original event (replay identities excluded) of these tenants."""
    wanted = sorted(set(tenants))
    states: dict[tuple[str, str], dict[str, Any]] = {}
    topic = Topics(settings).state.name
    for tenant in wanted:
        decoded = (
            codec.decode(raw.value, expect="state")[1]
            for raw in scan(settings, topic, Selection(tenant=tenant))
            if raw.value is not None
        )
        states.update(latest_per_event(r for r in decoded if r["tenant"] == tenant))
    return states
