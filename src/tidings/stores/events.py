"""Recent events: the events log of the last key window, as the ingest needs it.

The ingest appends each event once and writes nothing beside it; everything it must answer
about an event it did not just write is derived from the log itself:

- an Idempotency-Key's first use (``first``): the log orders every event of a tenant in one
  partition, so "the first record of this tenant with this key" is the same answer on every
  replica and at the resolver: replay, reuse with another body (422), and cross-replica races
  all follow from it;
- ``accepted`` for an event whose first state record the resolver has not written yet, and
  its place in the list (``newest``).

Only records whose proof of origin verifies are indexed (a forged record on the topic must
not take a tenant's key). The index lives in local stores, one per events partition
(tidings/stores/changelog.py), so memory does not grow with the window and a restart resumes
from the checkpoint; a store that is new or was wiped reads from the start of the window,
not of the topic. Per event, in its tenant's partition's store::

    i/event/<tenant>/<event id>        -> the event as ``Appended`` (JSON)
    i/key/<tenant>/<scoped key>        -> the first event with that key in the window (the
                                          key behind its organization: ``scoped_key``)
    i/recent/<tenant>/<list member>    -> "" (newest first: ``listing_member``)
    i/expiry/<accepted_at>/<tenant>/<event id> -> [tenant, event id, key]

``purge`` runs on the view's own thread (no race with the records it applies) and drops
what left the window, oldest first; an event leaves only once it has a state record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tidings.contracts.codec import CONTENT_TYPE_BINARY, Codec
from tidings.contracts.headers import CONTENT_TYPE, to_dict
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.domain.idempotency import scoped_key
from tidings.domain.origin import Proven
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.stores.changelog import (
    Change,
    ChangelogStores,
    StoreView,
    reader_error,
    shared_config,
    stores_root,
)
from tidings.stores.kv import (
    PartitionStore,
    StoreCorrupt,
    StoreError,
    Write,
    index_key,
    index_prefix,
)
from tidings.stores.listing import listing_member, members_after

log = get_logger(__name__)

EVENT, KEY, LISTED, EXPIRY = "event", "key", "recent", "expiry"
_EXPIRY = index_prefix(EXPIRY)
PURGE_BATCH = 10_000
"""Deletes per store batch when the window moves (the first purge after a day may be big)."""
HasState = Callable[[str, str], bool]

# (event, record key, headers, canonical value) -> its organization when its origin is proven
Verify = Callable[[Mapping[str, Any], bytes | None, Mapping[str, bytes], bytes], Proven | None]


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

    def encode(self) -> bytes:
        # The fields in order, not ``astuple`` (a deep copy: 1.5 % of the ingest's samples).
        return orjson.dumps([getattr(self, name) for name in self.__slots__])

    @staticmethod
    def decode(raw: bytes) -> Appended:
        return Appended(*orjson.loads(raw))

    def expiry_key(self) -> bytes:
        return index_key(EXPIRY, f"{self.accepted_at:013d}", self.tenant, member=self.event_id)


class RecentEvents:
    """First record per (tenant, Idempotency-Key) and per (tenant, event id), within the window,
    read from the stores of an ``events_view`` (``attach``)."""

    def __init__(
        self, window_ms: int, codec: Codec | None = None, verify: Verify | None = None
    ) -> None:
        self.window_ms = window_ms
        self.table = RecentTable(window_ms, codec or Codec(), verify or _unverified)
        self._stores: ChangelogStores | None = None
        self._view: StoreView | None = None

    def attach(self, stores: ChangelogStores, view: StoreView | None) -> None:
        self._stores, self._view = stores, view

    def add(self, appended: Appended, idempotency_key: str | None, org: str | None = None) -> None:
        """Index one appended event whose origin is proven (what the view does per record)."""
        store = self._store(appended.tenant)
        if store is not None and self._stores is not None:
            key = None if idempotency_key is None else scoped_key(idempotency_key, org)
            writes = self.table.index(store, [(appended, key)])
            self._stores.write(tenant_partition(appended.tenant, self._stores.partitions), writes)

    def first(self, tenant: str, key: str, org: str | None = None) -> Appended | None:
        """The first event of ``tenant`` (of its organization ``org``, when given) that used
        ``key`` within the window."""
        found = self._read(tenant, index_key(KEY, tenant, member=scoped_key(key, org)))
        if found is None or found.accepted_at + self.window_ms <= _now_ms():
            return None
        return found

    def event(self, tenant: str, event_id: str) -> Appended | None:
        return self._read(tenant, index_key(EVENT, tenant, member=event_id))

    def newest(self, tenant: str, after: str | None = None) -> Iterator[str]:
        """List members (``listing_member``) of ``tenant``'s recent events, newest first,
        past ``after``: the events whose state the resolver may not have written yet."""
        store = self._store(tenant)
        if store is None:
            return
        yield from members_after(store, index_prefix(LISTED, tenant), after)

    def purge(self, has_state: HasState = lambda tenant, event_id: True) -> int:
        """Forget what left the window, in every open store. An event leaves only once it has
        a state record: until the resolver has seen it, this is the only place that knows it
        was accepted. Call it from the thread that applies the view's records."""
        if self._stores is None:
            return 0
        horizon = _now_ms() - self.window_ms
        purged = 0
        for partition, store in self._stores.open_stores():
            if store.closed:
                continue
            writes = self.table.expired(store, horizon, has_state)
            for start in range(0, len(writes), PURGE_BATCH):
                self._stores.write(partition, writes[start : start + PURGE_BATCH])
            purged += sum(1 for key, _ in writes if key.startswith(_EXPIRY))
        return purged

    def _store(self, tenant: str) -> PartitionStore | None:
        if self._stores is None:
            return None
        return self._stores.get(tenant_partition(tenant, self._stores.partitions))

    def _read(self, tenant: str, key: bytes) -> Appended | None:
        store = self._store(tenant)
        if store is None:
            return None
        try:
            value = store.get(key)
        except StoreError as exc:
            if isinstance(exc, StoreCorrupt) and self._view is not None and self._stores:
                self._view.report_damaged(
                    tenant_partition(tenant, self._stores.partitions), exc.reason
                )
            raise reader_error(exc) from exc
        return None if value is None else Appended.decode(value)


class RecentTable:
    """The ``Table`` of the events view's stores: the index entries of each proven event."""

    def __init__(self, window_ms: int, codec: Codec, verify: Verify) -> None:
        self.window_ms = window_ms
        self._codec = codec
        self._verify = verify

    def writes(self, store: PartitionStore, changes: Sequence[Change]) -> list[Write]:
        items = [found for change in changes if (found := self._proven(change)) is not None]
        return self.index(store, items)

    def index(
        self, store: PartitionStore, items: Sequence[tuple[Appended, str | None]]
    ) -> list[Write]:
        """Writes for appended events (log order): the first record of an event id is kept,
        and the first of a key unless the one held has left the window (a key used again
        after the window starts afresh)."""
        dirty: dict[bytes, bytes | None] = {}

        def held(key: bytes) -> bytes | None:
            return dirty[key] if key in dirty else store.get(key, fill_cache=False)

        for appended, idempotency_key in items:
            value = appended.encode()
            by_id = index_key(EVENT, appended.tenant, member=appended.event_id)
            if held(by_id) is None:
                dirty[by_id] = value
                member = listing_member(appended.accepted_at, appended.event_id)
                dirty[index_key(LISTED, appended.tenant, member=member)] = b""
                expiry = [appended.tenant, appended.event_id, idempotency_key]
                dirty[appended.expiry_key()] = orjson.dumps(expiry)
            if idempotency_key is None:
                continue
            by_key = index_key(KEY, appended.tenant, member=idempotency_key)
            first = held(by_key)
            if first is None or (
                Appended.decode(first).accepted_at + self.window_ms <= appended.accepted_at
            ):
                dirty[by_key] = value
        return list(dirty.items())

    def expired(self, store: PartitionStore, horizon: int, has_state: HasState) -> list[Write]:
        """Deletes for the entries of events accepted at or before ``horizon``."""
        deletes: list[Write] = []
        for key, value in store.iter_prefix(_EXPIRY):
            if int(key[len(_EXPIRY) : len(_EXPIRY) + 13]) > horizon:
                break
            tenant, event_id, idempotency_key = orjson.loads(value)
            if idempotency_key is not None:
                by_key = index_key(KEY, tenant, member=idempotency_key)
                first = store.get(by_key, fill_cache=False)
                if first is not None and Appended.decode(first).event_id == event_id:
                    deletes.append((by_key, None))
            if not has_state(tenant, event_id):
                continue  # kept, and looked at again by the next purge
            by_id = index_key(EVENT, tenant, member=event_id)
            held = store.get(by_id, fill_cache=False)
            if held is not None:
                member = listing_member(Appended.decode(held).accepted_at, event_id)
                deletes.append((index_key(LISTED, tenant, member=member), None))
            deletes += [(by_id, None), (key, None)]
        return deletes

    def applied(self, partition: int, writes: Sequence[Write]) -> None:
        return None

    def forget(self, partition: int) -> None:
        return None

    def _proven(self, raw: Change) -> tuple[Appended, str | None] | None:
        if raw.value is None:
            return None
        headers = to_dict(raw.headers)
        content_type = headers.get(CONTENT_TYPE, b"").decode() or None
        try:
            event = self._codec.decode_value(raw.value, content_type, "event")
            binary = content_type in (None, CONTENT_TYPE_BINARY)
            canonical = raw.value if binary else self._codec.encode("event", event)
        except Exception:  # the resolver rejects it; nothing here to index
            return None
        proven = self._verify(event, raw.key, headers, canonical)
        if proven is None:
            log.warning("event_origin_unproven", partition=raw.partition, offset=raw.offset)
            return None
        source = event["source"]
        appended = Appended(
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
        )
        key = event.get("idempotency_key")
        return appended, None if key is None else scoped_key(key, proven.org)


def _unverified(
    event: Mapping[str, Any], key: bytes | None, headers: Mapping[str, bytes], canonical: bytes
) -> Proven | None:
    return None


def _now_ms() -> int:
    return int(time.time() * 1000)


def events_view(
    settings: Settings,
    events: RecentEvents,
    *,
    service: str = "ingest",
    root: Path | None = None,
    has_state: HasState = lambda tenant, event_id: True,
    partitions: Collection[int] | None = None,
) -> StoreView:
    """The events topic from the start of the key window into ``events``' stores under
    ``root`` (default: the stores of this ``service`` instance), expiring what leaves the
    window. ``partitions``: only these (a producer of one tenant needs its partition only)."""
    stores = ChangelogStores(
        root or stores_root(settings, service),
        "events",
        Topics(settings).events,
        events.table,
        shared_config(settings),
    )
    view = StoreView(
        settings,
        stores,
        name="events",
        window_ms=events.window_ms,
        upkeep=(min(60.0, events.window_ms / 2000), lambda: _purge(events, has_state)),
        partitions=partitions,
    )
    events.attach(stores, view)
    return view


def _purge(events: RecentEvents, has_state: HasState) -> None:
    purged = events.purge(has_state)
    if purged:
        log.info("recent_events_expired", count=purged)
