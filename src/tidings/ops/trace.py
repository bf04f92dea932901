"""One event end to end: its record(s) on the events topic, every state record in log order,
its resolved chunks, its delivery requests and any dead letter, read straight from the log."""

from __future__ import annotations

from typing import Any

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.state import latest_per_event
from tidings.contracts.topics import Topics, TopicSpec
from tidings.errors import NotFound
from tidings.kafka.records import RawRecord
from tidings.ops.records_json import decode, to_json
from tidings.ops.scan import Selection, scan
from tidings.settings import Settings


def _matches(raw: RawRecord, codec: Codec, spec: TopicSpec, event_id: str) -> bool:
    header = dict(raw.headers).get(h.EVENT_ID)
    if header is not None:
        return header == event_id.encode()
    value, _ = decode(raw, codec, spec.record)
    return value is not None and value.get("event_id") == event_id


def _find(
    settings: Settings, codec: Codec, spec: TopicSpec, sel: Selection, event_id: str
) -> list[dict[str, Any]]:
    return [
        to_json(raw, codec, spec.record)
        for raw in scan(settings, spec.name, sel)
        if _matches(raw, codec, spec, event_id)
    ]


def trace(
    settings: Settings, codec: Codec, event_id: str, tenant: str | None = None
) -> dict[str, Any]:
    """Raises ``NotFound`` when no event with this id is on the events topic."""
    topics = Topics(settings)
    events = _find(settings, codec, topics.events, Selection(tenant=tenant), event_id)
    if not events:
        raise NotFound(f"no event {event_id} on {topics.events.name}")
    tenant = tenant or events[0]["key"]
    own = Selection(tenant=tenant)  # state, resolved and retry are co-partitioned by tenant
    deliveries = [
        record
        for spec in topics.deliveries.values()
        for record in _find(settings, codec, spec, Selection(), event_id)
    ]
    states = _find(settings, codec, topics.state, own, event_id)
    # The state the event's view holds (forced redeliveries have their own).
    newest = latest_per_event(s["value"] for s in states if s["value"]).get((tenant, event_id))
    return {
        "event_id": event_id,
        "tenant": tenant,
        "events": events,
        # Every stage the event went through, with its time: the newest state record tells
        # the whole story (`accepted` alone while the resolver has not seen it yet).
        "history": newest["history"]
        if newest
        else [{"stage": "accepted", "at": events[0]["timestamp"]}],
        "states": states,
        "retries": _find(settings, codec, topics.retry, own, event_id),
        "resolved": _find(settings, codec, topics.resolved, own, event_id),
        "deliveries": sorted(deliveries, key=lambda d: (d["timestamp"], d["topic"], d["offset"])),
        "dead_letters": _find(settings, codec, topics.dlq, Selection(), event_id),
    }
