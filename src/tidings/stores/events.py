"""Recent events: the events log of the last key window, as the ingest needs it.

The ingest appends each event once and writes nothing beside it; everything it must answer
about an event it did not just write is derived from the log itself:

- an Idempotency-Key's first use (``first``): the log orders every event of a tenant in one
  partition, so "the first record of this tenant with this key" is the same answer on every
  replica and at the resolver: replay, reuse with another body (422), and cross-replica races
  all follow from it;
- ``accepted`` for an event whose first state record the resolver has not written yet.

Only records whose proof of origin verifies are indexed (a forged record on the topic must
not take a tenant's key). Entries older than the key window are dropped (``purge``), so memory
is bounded by the window, not by the log.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tidings.contracts.codec import CONTENT_TYPE_BINARY, Codec
from tidings.contracts.headers import to_dict
from tidings.contracts.topics import Topics
from tidings.kafka.records import RawRecord
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)

# (event, record key, headers, canonical value) -> whether its origin is proven
Verify = Callable[[Mapping[str, Any], bytes | None, Mapping[str, bytes], bytes], bool]


@dataclass(frozen=True, slots=True)
class Appended:
    """What the log says about one appended event."""

    event_id: str
    tenant: str
    type: str
    version: int
    fingerprint: str | None
    accepted_at: int
    client_id: str
    source_reference: str | None
    partition: int
    offset: int


class RecentEvents:
    """First record per (tenant, Idempotency-Key) and per (tenant, event id), within the window."""

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self._by_key: dict[tuple[str, str], Appended] = {}
        self._by_id: dict[tuple[str, str], Appended] = {}
        self._lock = threading.Lock()

    def add(self, appended: Appended, idempotency_key: str | None) -> None:
        with self._lock:
            self._by_id.setdefault((appended.tenant, appended.event_id), appended)
            if idempotency_key is not None:
                self._by_key.setdefault((appended.tenant, idempotency_key), appended)

    def first(self, tenant: str, key: str) -> Appended | None:
        """The first event of ``tenant`` that used ``key`` within the window."""
        found = self._by_key.get((tenant, key))
        if found is None or found.accepted_at + self.window_ms <= _now_ms():
            return None
        return found

    def event(self, tenant: str, event_id: str) -> Appended | None:
        return self._by_id.get((tenant, event_id))

    def purge(self, has_state: Callable[[str, str], bool] = lambda tenant, event_id: True) -> int:
        """Forget what left the window. An event leaves only once it has a state record: until
        the resolver has seen it, this is the only place that knows it was accepted."""
        horizon = _now_ms() - self.window_ms
        with self._lock:
            old_keys = [k for k, v in self._by_key.items() if v.accepted_at <= horizon]
            for k in old_keys:
                del self._by_key[k]
            old_ids = [
                k for k, v in self._by_id.items() if v.accepted_at <= horizon and has_state(*k)
            ]
            for k in old_ids:
                del self._by_id[k]
        return len(old_keys) + len(old_ids)

    def __len__(self) -> int:
        return len(self._by_id)


def _now_ms() -> int:
    return int(time.time() * 1000)


def events_view(
    settings: Settings, codec: Codec, events: RecentEvents, verify: Verify
) -> CompactedView:
    """Tails the events topic from the start of the key window."""

    def apply(raw: RawRecord) -> None:
        if raw.value is None:
            return
        headers = to_dict(raw.headers)
        content_type = headers.get("content-type", b"").decode() or None
        try:
            event = codec.decode_value(raw.value, content_type, "event")
            binary = content_type in (None, CONTENT_TYPE_BINARY)
            canonical = raw.value if binary else codec.encode("event", event)
        except Exception:  # the resolver rejects it; nothing here to index
            return
        if not verify(event, raw.key, headers, canonical):
            log.warning("event_origin_unproven", partition=raw.partition, offset=raw.offset)
            return
        source = event["source"]
        events.add(
            Appended(
                event_id=str(event["event_id"]),
                tenant=str(event["tenant"]),
                type=str(event["type"]),
                version=int(event["version"]),
                fingerprint=event.get("fingerprint"),
                accepted_at=int(event["accepted_at"]),
                client_id=str(source["client_id"]),
                source_reference=source.get("reference"),
                partition=raw.partition,
                offset=raw.offset,
            ),
            event.get("idempotency_key"),
        )

    return CompactedView(
        settings,
        Topics(settings).events.name,
        lambda *_: None,
        name="events",
        apply_record=apply,
        window_ms=events.window_ms,
    )
