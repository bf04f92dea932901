"""Processing state in local stores: the newest state record per event, per state partition.

``LatestStates`` is the table every state store keeps (the ingest's GET view here, the
resolver's and fan-out's dedupe table in processing/restore.py): one record per key, the one
with the highest ``seq`` (``contracts.state.supersedes``, the one ordering rule), stored as
the Avro bytes the topic carries and decoded on read. The key says which processing a record
belongs to, so a forced redelivery's own state (``tenant/event/replay``) stays apart from the
original's; a view that shows only originals (GET) leaves replays out.

``StateStore`` is the ingest's view of the whole state topic: what GET answers.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import newer, supersedes
from tidings.contracts.topics import Topics, state_key
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.stores.cache import HotCache
from tidings.stores.changelog import (
    Change,
    ChangelogStores,
    StoreView,
    reader_error,
    shared_config,
    stores_root,
)
from tidings.stores.kv import PartitionStore, StoreCorrupt, StoreError, Write, record_key

log = get_logger(__name__)

StateRecord = dict[str, Any]
KeyOf = Callable[[StateRecord], bytes | None]
Known = dict[bytes, tuple[int | None, bytes] | None]
"""Per batch: the value stored under a key (None: nothing) and its seq, once decoded."""
LOCAL_WRITES = 10_000
"""Own writes a process shows before its view reads them back (oldest dropped first)."""


def original_key(record: StateRecord) -> bytes | None:
    """Key of an original event's state; None for a forced redelivery's (GET shows originals)."""
    if record.get("replay_id"):
        return None
    return state_key(str(record["tenant"]), str(record["event_id"]))


def processing_key(record: StateRecord) -> bytes:
    """Key of one processing: the event, and the forced redelivery it belongs to, if any."""
    return state_key(str(record["tenant"]), str(record["event_id"]), record.get("replay_id"))


class LatestStates:
    """The ``Table`` of a state store: the newest record per ``key_of(record)``."""

    def __init__(self, codec: Codec, key_of: KeyOf, hot_entries: int = 10_000) -> None:
        self._codec = codec
        self._key_of = key_of
        self.cache: HotCache[bytes, StateRecord] = HotCache(hot_entries)

    def writes(self, store: PartitionStore, changes: Sequence[Change]) -> list[Write]:
        known: Known = {}
        dirty: dict[bytes, bytes] = {}
        for change in changes:
            value = change.value
            if value is None:
                continue  # a tombstone is no state: views never dropped an event on one
            if change.key is not None:
                # A record read back that the store holds already (this process wrote it, or
                # read it before a restart) changes nothing: no decode needed.
                held = self._held(store, record_key(change.key), known)
                if held is not None and held[1] == value:
                    continue
            try:
                _, record = self._codec.decode(value, expect="state")
            except Exception:  # a foreign record on the state topic must not stop the view
                log.warning(
                    "state_record_undecodable", partition=change.partition, offset=change.offset
                )
                continue
            self._decide(store, record, value, known, dirty)
        return list(dirty.items())

    def merge(
        self, store: PartitionStore, items: Iterable[tuple[StateRecord, bytes]]
    ) -> list[Write]:
        """Writes for records already decoded (a process's own committed records)."""
        known: Known = {}
        dirty: dict[bytes, bytes] = {}
        for record, value in items:
            self._decide(store, record, value, known, dirty)
        return list(dirty.items())

    def _decide(
        self,
        store: PartitionStore,
        record: StateRecord,
        value: bytes,
        known: Known,
        dirty: dict[bytes, bytes],
    ) -> None:
        key = self._key_of(record)
        if key is None:
            return
        stored = record_key(key)
        seq = int(record["seq"])
        if supersedes(seq, self._held_seq(store, stored, known)):
            known[stored] = (seq, value)
            dirty[stored] = value

    def _held_seq(self, store: PartitionStore, key: bytes, known: Known) -> int | None:
        """The stored record's seq: from this batch, else the read cache (a processor read the
        state it advances a moment ago; reading and decoding it again was 10 % of the
        fan-out's samples), else the store."""
        if key not in known:
            cached = self.cache.get(key)  # what the store holds: writes invalidate it
            if cached is not None:
                return int(cached["seq"])
        held = self._held(store, key, known)
        if held is None:
            return None
        seq, value = held
        if seq is None:
            seq = self._seq(value)
            known[key] = (seq, value)
        return seq

    def _held(
        self, store: PartitionStore, key: bytes, known: Known
    ) -> tuple[int | None, bytes] | None:
        """The value stored under ``key``, its seq not decoded yet: a record read back equal
        to it needs none (decoding it was 5 % of the fan-out's samples)."""
        if key not in known:
            value = store.get(key, fill_cache=False)
            known[key] = None if value is None else (None, value)
        return known[key]

    def _seq(self, value: bytes) -> int:
        return int(self._codec.decode(value, expect="state")[1]["seq"])

    def applied(self, partition: int, writes: Sequence[Write]) -> None:
        self.cache.invalidate(key for key, _ in writes)

    def forget(self, partition: int) -> None:
        self.cache.clear()

    def read(self, store: PartitionStore, key: bytes) -> StateRecord | None:
        """The newest record under ``key`` (a ``state_key``), decoded."""
        stored = record_key(key)

        def load() -> StateRecord | None:
            value = store.get(stored)
            return None if value is None else self._codec.decode(value, expect="state")[1]

        return self.cache.load(stored, load)


class StateStore:
    """Latest state per (tenant, event id) of every state partition: what GET answers.

    The records live in the local stores of a ``state_view``; ``apply`` lets a process show
    a state it wrote itself before its view reads it back (a bounded overlay, dropped once
    the view holds that state or newer). Without a view (``state_view`` not called), only
    those applied records are known."""

    def __init__(self, codec: Codec | None = None, hot_entries: int = 10_000) -> None:
        self._codec = codec or Codec()
        self.table = LatestStates(self._codec, original_key, hot_entries)
        self._stores: ChangelogStores | None = None
        self._view: StoreView | None = None
        self._local: OrderedDict[tuple[str, str], StateRecord] = OrderedDict()
        self._lock = threading.Lock()

    def attach(self, stores: ChangelogStores, view: StoreView) -> None:
        self._stores, self._view = stores, view

    def apply(self, record: StateRecord) -> bool:
        if record.get("replay_id"):  # a forced redelivery's own state; GET shows the original
            return False
        key = (str(record["tenant"]), str(record["event_id"]))
        if not newer(record, self.get(*key)):
            return False
        with self._lock:
            self._local[key] = record
            self._local.move_to_end(key)
            if len(self._local) > LOCAL_WRITES:
                self._local.popitem(last=False)
        return True

    def get(self, tenant: str, event_id: str) -> StateRecord | None:
        stored = self._stored(tenant, event_id)
        with self._lock:
            local = self._local.get((tenant, event_id))
            if local is not None and stored is not None and newer(stored, local):
                del self._local[(tenant, event_id)]  # the view holds it (or newer) now
                local = None
        return local if local is not None else stored

    def _stored(self, tenant: str, event_id: str) -> StateRecord | None:
        if self._stores is None:
            return None
        partition = tenant_partition(tenant, self._stores.partitions)
        store = self._stores.get(partition)
        if store is None:
            return None
        try:
            return self.table.read(store, state_key(tenant, event_id))
        except StoreError as exc:
            if isinstance(exc, StoreCorrupt) and self._view is not None:
                self._view.report_damaged(partition, exc.reason)
            raise reader_error(exc) from exc


def state_view(
    settings: Settings, codec: Codec, store: StateStore, root: Path | None = None
) -> StoreView:
    """The ingest's view of the state topic, in local stores under ``root`` (default: this
    ingest instance's stores, tidings/stores/changelog.py ``stores_root``)."""
    stores = ChangelogStores(
        root or stores_root(settings, "ingest"),
        "state",
        Topics(settings).state,
        store.table,
        shared_config(settings),
    )
    view = StoreView(settings, stores, name="state")
    store.attach(stores, view)
    return view
