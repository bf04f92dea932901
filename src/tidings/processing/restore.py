"""Processing state of the partitions a consumer owns, kept in local stores and restored from
the compacted state topic from their checkpoints.

State records are co-partitioned with the input (explicit tenant partition), so the owner of
input partition N keeps exactly state partition N, in one store
(``<data_dir>/stores/<prefix><service>.<instance>/state/N``). On assignment a store resumes
from its checkpoint up to the high watermark of the moment (read_committed: an open
transaction of a fenced predecessor holds it back until that transaction ends, so what is
restored matches the committed input offsets); a store missing, damaged or out of range is
rebuilt from the beginning (stores/changelog.py). Between assignments the owner writes its
own committed records straight into the store and reads the partition forward now and then
(``follow``), so the checkpoint, and what a restart reads, stays close to the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, state_key
from tidings.errors import Unavailable
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.stores.changelog import ChangelogStores, ChangelogTail, shared_config, stores_root
from tidings.stores.kv import StoreError
from tidings.stores.state import LatestStates, processing_key

log = get_logger(__name__)

StateRecord = dict[str, Any]
FOLLOW_BUDGET_S = 0.05  # longest a commit spends reading the state partitions forward
CLOSE_CATCH_UP_S = 5.0  # a clean stop reads to the end this long at most, then checkpoints


def identity(record: StateRecord) -> tuple[str, str, str]:
    """What one processing is: the event, and the forced redelivery it belongs to, if any."""
    return (str(record["tenant"]), str(record["event_id"]), str(record.get("replay_id") or ""))


class PartitionedStates:
    """Latest state per (tenant, event id, replay id) of the owned partitions, one local store
    per partition: nothing in memory grows with the number of events (a bounded cache of
    decoded hot entries aside). Never moves an event backwards."""

    def __init__(self, codec: Codec, stores: ChangelogStores) -> None:
        self._codec = codec
        self.stores = stores
        if not isinstance(stores.table, LatestStates):
            raise TypeError("processing states need a LatestStates table")
        self._table: LatestStates = stores.table

    def apply(self, partition: int, record: StateRecord, value: bytes) -> None:
        """A record this process committed (it reads it back later; applying is idempotent)."""
        self.apply_committed([(partition, record, value)])

    def apply_committed(self, items: Iterable[tuple[int, StateRecord, bytes]]) -> None:
        by_partition: dict[int, list[tuple[StateRecord, bytes]]] = {}
        for partition, record, value in items:
            by_partition.setdefault(partition, []).append((record, value))
        for partition, records in by_partition.items():
            store = self.stores.get(partition)
            if store is not None:
                self.stores.write(partition, self._table.merge(store, records))

    def get(
        self, partition: int, tenant: str, event_id: str, replay_id: str | None = None
    ) -> StateRecord | None:
        store = self.stores.get(partition)
        if store is None:  # not ours (revoked): nothing known
            return None
        try:
            return self._table.read(store, state_key(tenant, event_id, replay_id))
        except StoreError as exc:
            # Damaged under us: rebuilt by the next assignment; this transaction retries.
            self.stores.rebuild(partition, exc.reason)
            raise Unavailable(f"state store of partition {partition}: {exc.reason}") from exc

    def keep_only(self, partitions: Iterable[int]) -> None:
        """Close the stores of every partition not in ``partitions`` (revoked)."""
        self.stores.close(set(self.stores.assigned()) - set(partitions))


def processing_states(settings: Settings, codec: Codec, service: str) -> PartitionedStates:
    """The state table of one resolver or fan-out instance, under its own data directory."""
    table = LatestStates(codec, processing_key, settings.stores.hot_entries)
    stores = ChangelogStores(
        stores_root(settings, service),
        "state",
        Topics(settings).state,
        table,
        shared_config(settings),
    )
    return PartitionedStates(codec, stores)


class StateTail:
    """The reader of the owned state partitions; ``catch_up`` is a read-your-writes barrier
    (everything committed before the call has been applied when it returns)."""

    def __init__(
        self, settings: Settings, codec: Codec, suffix: str, states: PartitionedStates
    ) -> None:
        self._codec = codec
        self.states = states
        self._tail = ChangelogTail(
            settings, states.stores, f"state-{suffix}", settings.processing.restore_timeout_s
        )
        self._interval_s = settings.stores.follow_interval_ms / 1000
        self._followed = time.monotonic()

    @property
    def records(self) -> int:
        return self._tail.records

    def assign(self, partitions: Iterable[int]) -> None:
        """Own ``partitions``: revoked ones are closed, the others resume from their
        checkpoints (or are rebuilt) and are read up to now."""
        started = time.monotonic()
        before = self._tail.records
        self._tail.assign(partitions)
        log.info(
            "state_restored",
            partitions=self.states.stores.assigned(),
            records=self._tail.records - before,
            checkpoints=self.states.stores.checkpoints(),
            seconds=round(time.monotonic() - started, 3),
        )

    def catch_up(self, partitions: Iterable[int] | None = None) -> None:
        self._tail.catch_up(partitions)

    def follow(self) -> None:
        """Between transactions: read what the state partitions have (other writers'
        records, our own committed ones) for a few milliseconds and checkpoint, at most
        every ``stores.follow_interval_ms``. Never waits for a record."""
        now = time.monotonic()
        if now - self._followed < self._interval_s:
            return
        self._followed = now
        deadline = now + FOLLOW_BUDGET_S
        while self._tail.follow(1000, wait_s=0.0) and time.monotonic() < deadline:
            pass
        self._tail.checkpoint()

    def catch_up_view(self, view: CompactedView, timeout_s: float = 5.0) -> bool:
        """Read-your-writes for another view (e.g. clients): wait until it has applied
        everything its topic held when called."""
        try:
            highs = view.high_watermarks()
        except Unavailable:
            return False
        ok = True
        for partition, high in highs.items():
            if high > 0:
                ok = view.wait_for(partition, high - 1, timeout_s) and ok
        return ok

    def close(self) -> None:
        """A clean stop: read to the end for a moment and checkpoint, so the next start
        reads little; then close the stores."""
        try:
            deadline = time.monotonic() + CLOSE_CATCH_UP_S
            while self._tail.follow(1000, wait_s=0.1) and time.monotonic() < deadline:
                pass
            self._tail.checkpoint()
        except Exception as exc:  # the broker may be gone; the stores still close cleanly
            log.warning("state_close_catch_up_failed", error=str(exc))
        self._tail.close()
