"""A per-tenant index of events by accepted time: what ``GET /api/v1/notifications`` pages.

Built on the stores the state view already keeps (one RocksDB store per state partition, a
tenant's records all in one partition): ``ListedStates`` is the state table plus one index
entry ``i/accepted/<tenant>/<member>`` written in the same batch as an event's FIRST state
record, where the member sorts newest first (``listing_member``). So the index lives as long
as the states do (all events, not only a window), survives restarts with the store, and is
rebuilt with it from the compacted state topic. Later states of an event write no new entry:
the member depends only on the tenant, the accepted time and the id, which never change.

Events the resolver has not written a state for yet are only in the recent events of the
ingest (``RecentEvents.newest``, the same members in the events view's stores, for the key
window); a page merges both by member, so an event moving from one to the other keeps its
place.

The store reads by prefix only; a page resumes with prefixes that cover exactly the entries
after its cursor (``successor_prefixes``), so a deep page costs what the first one does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.stores.changelog import Change, ChangelogStores, StoreView
from tidings.stores.kv import RECORDS, PartitionStore, Write, index_key, index_prefix
from tidings.stores.state import LatestStates, StateRecord, StateStore, original_key

INDEX = "accepted"
_NEWEST = 10**13 - 1  # epoch ms fit 13 digits until the year 2286


def listing_member(accepted_at: int, event_id: str) -> str:
    """Sorts newest first (inverted time), then by id: one total order for every page."""
    return f"{_NEWEST - accepted_at:013d}.{event_id}"


def accepted_before(at: int) -> str:
    """A position every member of an event accepted before ``at`` sorts after (and no other:
    ``~`` sorts after every character of an id)."""
    return f"{_NEWEST - at:013d}.~"


def member_parts(member: str) -> tuple[int, str]:
    """``(accepted_at, event_id)`` of a member; ValueError when it is not one."""
    inverted, _, event_id = member.partition(".")
    if len(inverted) != 13 or not inverted.isdigit() or not event_id:
        raise ValueError(member)
    return _NEWEST - int(inverted), event_id


def accepted_time(record: StateRecord) -> int:
    """The accepted time of a state record (older or foreign records may lack the field)."""
    if record.get("accepted_at") is not None:
        return int(record["accepted_at"])
    history = record.get("history") or []
    return int(history[0]["at"]) if history else int(record["at"])


class ListedStates(LatestStates):
    """The state table, plus the accepted-time index entry of each event's first record."""

    def __init__(self, codec: Codec, hot_entries: int = 10_000) -> None:
        super().__init__(codec, original_key, hot_entries)
        self._decode = codec

    def writes(self, store: PartitionStore, changes: Sequence[Change]) -> list[Write]:
        return self._indexed(store, super().writes(store, changes))

    def merge(self, store: PartitionStore, items: Any) -> list[Write]:
        return self._indexed(store, super().merge(store, items))

    def _indexed(self, store: PartitionStore, writes: list[Write]) -> list[Write]:
        entries: list[Write] = []
        for key, value in writes:
            if value is None or not key.startswith(RECORDS):
                continue
            if store.get(key, fill_cache=False) is not None:
                continue  # not the event's first record: its entry is there already
            _, record = self._decode.decode(value, expect="state")
            member = listing_member(accepted_time(record), str(record["event_id"]))
            entries.append((index_key(INDEX, str(record["tenant"]), member=member), b""))
        return writes + entries


class ListedStateStore(StateStore):
    """``StateStore`` whose stores also hold the accepted-time index (``newest``)."""

    def __init__(self, codec: Codec | None = None, hot_entries: int = 10_000) -> None:
        codec = codec or Codec()
        super().__init__(codec, hot_entries)
        self.table = ListedStates(codec, hot_entries)
        self._listed: ChangelogStores | None = None

    def attach(self, stores: ChangelogStores, view: StoreView) -> None:
        super().attach(stores, view)
        self._listed = stores

    def newest(self, tenant: str, after: str | None = None) -> Iterator[str]:
        """Members of ``tenant``'s events with a state record, newest first, past ``after``."""
        if self._listed is None:
            return
        store = self._listed.get(tenant_partition(tenant, self._listed.partitions))
        if store is None:
            return
        yield from members_after(store, index_prefix(INDEX, tenant), after)


def members_after(store: PartitionStore, prefix: bytes, after: str | None) -> Iterator[str]:
    """The list members under ``prefix`` (an index of ``listing_member``s), past ``after``."""
    for scan in successor_prefixes(after):
        for key in store.iter_keys(prefix + scan.encode()):
            member = key[len(prefix) :].decode()
            if after is None or member > after:
                yield member


def successor_prefixes(after: str | None) -> Iterator[str]:
    """Member prefixes that together hold exactly the members after ``after``, in order: the
    store reads by prefix only, so resuming a page seeks with at most 118 prefixes instead of
    scanning every newer entry (``after``'s own millisecond first, then each larger digit
    from the last to the first one of its inverted time)."""
    if after is None:
        yield ""
        return
    inverted = after[:13]
    yield inverted + "."  # same millisecond: the ids after it (the caller skips the rest)
    for position in range(12, -1, -1):
        for digit in range(int(inverted[position]) + 1, 10):
            yield inverted[:position] + str(digit)
