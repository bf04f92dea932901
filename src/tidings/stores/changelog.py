"""Views kept in local stores and restored from their changelog topic with a checkpoint.

A view of a compacted topic keeps one ``PartitionStore`` per partition it reads (stores/kv.py)
under ``<data_dir>/stores/<prefix><service>.<instance>/<view>/<partition>``. Each store
remembers the next offset to read, written in the same batch as the records it covers, so
a start or an assignment reads only from there to the high watermark, and reports ready once
it got there. Nothing is trusted blindly; the whole partition is read again from the
beginning when

- the store is missing, cannot be opened, or is written for another topic, partition count
  or format (``StoreUntrusted`` from ``PartitionStore.open``);
- the last owner did not close it (killed mid-write): it is verified block by block first,
  and a store that fails is rebuilt;
- it was built from another incarnation of its topic (the topic id it recorded differs:
  deleted and created again, e.g. before ``tidings state rebuild``);
- its checkpoint lies past the high watermark (a recreated or truncated topic) or before
  the log start offset (records deleted since);
- it was last in sync longer ago than the topic's ``delete.retention.ms``: compaction may
  have dropped tombstones it never saw;
- a read or a write finds a damaged block while running (``StoreCorrupt``).

Two ways to follow a topic share this: ``StoreView``, a thread over every partition that
reports ready like ``CompactedView`` (the directory and the ingest's state), and
``ChangelogTail``, driven by the caller's thread over the partitions a consumer group gave
it (the resolver's and fan-out's processing state).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from tidings.contracts.topics import DAY_MS, TopicSpec
from tidings.errors import Unavailable
from tidings.instance_id import AUTO
from tidings.kafka.admin import topic_id
from tidings.kafka.consumer import BEGINNING, PartitionReader
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.stores.kv import (
    PartitionStore,
    StoreConfig,
    StoreError,
    StoreLocked,
    StoreUntrusted,
    Write,
    store_path,
)

log = get_logger(__name__)

PREFETCH_KBYTES = 2 * 1024
"""What librdkafka may buffer ahead of a restore (its default, 64 MB, would be most of a
resolver's memory while it reads millions of records)."""
FETCH_WAIT_MS = 100
"""How long the broker may hold a fetch of a store's reader at the end of its partitions:
``catch_up`` asks for watermarks on the same connection, behind that fetch."""
FLUSH_AFTER = 10_000
"""Records a restore (a view's start, an assignment) must have read before its stores are
settled (memtables flushed, its blocks evicted from the shared cache)."""
TOPIC_ID = b"m/topic-id"
"""Store key of the id of the topic a store was built from (keys under ``m/`` are the
view's own metadata, beside kv's reserved ones)."""
LOCK_WAIT_S = 30.0
"""How long an opening waits for a store another owner still holds (a predecessor exiting)."""
TOUCH_INTERVAL_S = 600.0
"""How often a running view records that its stores are in sync (``applied_at``)."""
TRIM_EVERY = 200_000
"""Records applied between two returns of freed heap to the system (see ``_Trim``)."""


class _Trim:
    """Returns the C heap's free pages to the system every ``TRIM_EVERY`` records.

    Restoring millions of records allocates and frees as much in decoded records and
    librdkafka buffers; glibc keeps what was freed (measured: a 500,000-user restore left
    ~50 MB that ``malloc_trim`` returns), so without this the RSS after a restore would
    grow with the topic although nothing is kept. A no-op where there is no glibc."""

    _libc: Any = None
    _loaded = False

    def __init__(self) -> None:
        self._since = 0

    def note(self, records: int) -> None:
        self._since += records
        if self._since >= TRIM_EVERY:
            self.now()

    def now(self) -> None:
        self._since = 0
        libc = _Trim._load()
        if libc is not None:
            libc.malloc_trim(0)

    @staticmethod
    def _load() -> Any:
        if not _Trim._loaded:
            _Trim._loaded = True
            try:
                # By its soname: ctypes.util.find_library would run ldconfig in a subprocess.
                _Trim._libc = ctypes.CDLL("libc.so.6")
                _Trim._libc.malloc_trim  # noqa: B018 - glibc only
            except (OSError, AttributeError):
                _Trim._libc = None
        return _Trim._libc


class Change(NamedTuple):
    """One record of the changelog, as a table applies it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] | None = None


class Table(Protocol):
    """What one view keeps in its stores: how a partition's records become store writes."""

    def writes(self, store: PartitionStore, changes: Sequence[Change]) -> list[Write]:
        """The writes for ``changes`` (in offset order), reading ``store`` as needed."""
        ...

    def applied(self, partition: int, writes: Sequence[Write]) -> None:
        """Called once ``writes`` are in the store (invalidate what was cached of them)."""
        ...

    def forget(self, partition: int) -> None:
        """The partition's store was closed or wiped: drop whatever was cached of it."""
        ...


def stores_root(settings: Settings, service: str) -> Path | None:
    """``<data_dir>/stores/<prefix><service>.<instance>``: one process's stores. The
    instance id is stable across restarts on a host (tidings/instance_id.py), so a restarted
    process finds its own stores; two processes never share one. None while the instance id
    is still ``auto`` (a tool, a test): such a process gets temporary stores."""
    section = settings.ingest if service == "ingest" else settings.processing
    if section.instance_id == AUTO:
        return None
    return settings.data_dir / "stores" / f"{settings.topic_prefix}{service}.{section.instance_id}"


_CONFIGS: dict[tuple[int, int], StoreConfig] = {}


def shared_config(settings: Settings) -> StoreConfig:
    """The process's one ``StoreConfig``: every store shares its block cache (the memory bound)."""
    s = settings.stores
    key = (s.block_cache_mb, s.memtables_mb)
    config = _CONFIGS.get(key)
    if config is None:
        config = StoreConfig(
            block_cache_bytes=s.block_cache_mb << 20, memtables_bytes=s.memtables_mb << 20
        )
        _CONFIGS[key] = config
    return config


def shared_configs() -> list[StoreConfig]:
    """Every ``StoreConfig`` this process made (one, unless settings differ: tests)."""
    return list(_CONFIGS.values())


class ChangelogStores:
    """The open stores of one view, one per partition of its topic, and their checkpoints.

    Not tied to a thread: the caller that reads the topic calls ``open``, ``apply`` and
    ``close``; other threads may read the open stores (``get``)."""

    def __init__(
        self,
        root: Path | None,
        view: str,
        spec: TopicSpec,
        table: Table,
        config: StoreConfig | None = None,
    ) -> None:
        """``root`` None: temporary stores, deleted by ``close_all`` (a process without a
        stable instance id has nothing to resume from)."""
        self._temporary = root is None
        self.root = Path(tempfile.mkdtemp(prefix=f"tidings-{view}-")) if root is None else root
        self.view = view
        self.topic = spec.name
        self.partitions = spec.partitions
        self.table = table
        self.config = config or StoreConfig()
        self._retention_ms = int(spec.config.get("delete.retention.ms", DAY_MS))
        self._stores: dict[int, PartitionStore] = {}
        self._topic_id: str | None = None
        self._unstamped: set[int] = set()  # read from the start, topic id not yet recorded
        self.rebuilt: dict[int, str] = {}  # partition -> why it was last read from the start

    # -- opening and closing -------------------------------------------------------------

    def open(
        self,
        partitions: Iterable[int],
        marks: Mapping[int, tuple[int, int]],
        topic_id: str | None = None,
    ) -> dict[int, int]:
        """Open the stores of ``partitions`` (those already open stay as they are) and say
        where to read each from: its checkpoint, or ``BEGINNING`` for a store that is new or
        was wiped. ``marks`` is ``(log start, high watermark)`` per partition, as of now;
        ``topic_id`` the topic's id, when the broker gives it."""
        self._topic_id = topic_id
        if topic_id is None:
            self._unstamped.clear()  # nothing to record: such a store relies on offsets
        starts: dict[int, int] = {}
        behind: dict[int, int] = {}
        for partition in sorted(set(partitions)):
            store = self._stores.get(partition) or self._open(partition)
            low, high = marks.get(partition, (0, 0))
            checkpoint = store.checkpoint()
            reason = self._distrust(store, checkpoint, low, high)
            if reason is not None:
                self._wipe(partition, reason)
                checkpoint = None
            starts[partition] = BEGINNING if checkpoint is None else checkpoint
            if checkpoint is None and topic_id is not None:
                self._unstamped.add(partition)
            if high > (checkpoint or 0):
                behind[partition] = high - (checkpoint or 0)
        log.info(
            "stores_opened",
            view=self.view,
            partitions=sorted(starts),
            from_beginning=sorted(p for p, s in starts.items() if s == BEGINNING),
            records_behind=sum(behind.values()),
        )
        return starts

    def _distrust(
        self, store: PartitionStore, checkpoint: int | None, low: int, high: int
    ) -> str | None:
        if checkpoint is None:
            return None
        built_from = store.get(TOPIC_ID)
        if None not in (built_from, self._topic_id) and built_from != str(self._topic_id).encode():
            return "built from another topic of the same name (deleted and created again)"
        if checkpoint > high:
            return f"checkpoint {checkpoint} is past the high watermark {high}"
        if checkpoint < low:
            return f"checkpoint {checkpoint} is before the log start {low}"
        applied_at = store.applied_at()
        if applied_at is not None and (time.time() - applied_at) * 1000 > self._retention_ms:
            return "last in sync longer ago than delete.retention.ms (tombstones may be gone)"
        return None

    def _open(self, partition: int) -> PartitionStore:
        path = store_path(self.root, self.view, partition)
        marker = _marker(path)
        unclean = marker.exists()  # the last owner never closed it: verify every block
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                store, why = PartitionStore.open_or_reset(
                    self.root,
                    self.view,
                    partition,
                    topic=self.topic,
                    partitions=self.partitions,
                    config=self.config,
                    verify=unclean,
                )
                break
            except StoreLocked:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        marker.write_text(f"{os.getpid()}\n")
        if why is not None:
            self.rebuilt[partition] = why.reason
            log.warning("store_untrusted", view=self.view, partition=partition, reason=why.reason)
        elif unclean:
            log.info("store_verified_after_unclean_stop", view=self.view, partition=partition)
        self._stores[partition] = store
        return store

    def close(self, partitions: Iterable[int]) -> None:
        """Close the stores of ``partitions`` (revoked); their files stay for a later
        assignment, marked in sync as of now."""
        for partition in sorted(set(partitions)):
            store = self._stores.pop(partition, None)
            self._unstamped.discard(partition)
            if store is None:
                continue
            try:
                _touch(store)
            finally:
                store.close()
                _marker(store.path).unlink(missing_ok=True)
                self.table.forget(partition)

    def close_all(self) -> None:
        self.close(list(self._stores))
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def rebuild(self, partition: int, reason: str) -> None:
        """Wipe one open store (found damaged): its partition is read again from the start."""
        if partition in self._stores:
            self._wipe(partition, reason)

    def _wipe(self, partition: int, reason: str) -> None:
        log.warning("store_rebuilding", view=self.view, partition=partition, reason=reason)
        self.rebuilt[partition] = reason
        if self._topic_id is not None:
            self._unstamped.add(partition)
        self._stores[partition].wipe()
        self.table.forget(partition)

    # -- reading ---------------------------------------------------------------------------

    def get(self, partition: int) -> PartitionStore | None:
        return self._stores.get(partition)

    def assigned(self) -> list[int]:
        return sorted(self._stores)

    def open_stores(self) -> list[tuple[int, PartitionStore]]:
        """A snapshot of (partition, store), safe to iterate while stores open and close."""
        return sorted(self._stores.items())

    def checkpoints(self) -> dict[int, int | None]:
        return {p: s.checkpoint() for p, s in self.open_stores()}

    # -- writing ---------------------------------------------------------------------------

    def apply(self, changes: Sequence[Change]) -> list[int]:
        """Apply ``changes`` (any partitions, offset order within each): per partition one
        batch with its checkpoint. Returns the partitions whose store turned out damaged and
        was wiped: read them again from the beginning."""
        by_partition: dict[int, list[Change]] = {}
        for change in changes:
            by_partition.setdefault(change.partition, []).append(change)
        wiped: list[int] = []
        for partition, batch in by_partition.items():
            store = self._stores.get(partition)
            if store is None:
                continue  # revoked meanwhile
            try:
                writes = self.table.writes(store, batch)
                store.apply(self._stamped(partition, writes), batch[-1].offset + 1)
                self._unstamped.discard(partition)
            except StoreUntrusted as exc:
                self._wipe(partition, exc.reason)
                wiped.append(partition)
                continue
            self.table.applied(partition, writes)
        return wiped

    def write(self, partition: int, writes: Sequence[Write]) -> None:
        """Writes that are on the topic but not yet read back (this process's own committed
        records): the checkpoint stays, so they are read again and must be idempotent."""
        store = self._stores.get(partition)
        if store is None or not writes:
            return
        checkpoint = store.checkpoint()
        store.apply(self._stamped(partition, writes), 0 if checkpoint is None else checkpoint)
        self._unstamped.discard(partition)
        self.table.applied(partition, writes)

    def advance(self, positions: Mapping[int, int]) -> None:
        """Move checkpoints over what holds no record (transaction markers, compacted
        gaps): ``positions`` are the reader's next offsets, everything before them applied."""
        for partition, position in positions.items():
            store = self._stores.get(partition)
            if store is None:
                continue
            checkpoint = store.checkpoint()
            if checkpoint is None or position > checkpoint:
                store.apply(self._stamped(partition, []), position)
                self._unstamped.discard(partition)

    def _stamped(self, partition: int, writes: Sequence[Write]) -> Sequence[Write]:
        """``writes``, plus the topic's id in the first batch of a store read from the start
        (whichever write comes first: a record, its own committed record, a position)."""
        if partition not in self._unstamped or self._topic_id is None:
            return writes
        return [*writes, (TOPIC_ID, self._topic_id.encode())]

    def settle(self) -> None:
        """After a restore, leave nothing of it in memory: memtables written to table files
        (waited for, so what they held is freed before the heap is trimmed) and the blocks
        the restore loaded evicted from the shared cache (index and filter partitions of
        files compaction has since replaced; B9: ~10 MB per million records, otherwise held
        until evicted). Costs the caller one flush (~0.1-0.5 s); the cache refills from
        reads, up to its capacity."""
        for _, store in self.open_stores():
            if not store.closed:
                store.flush(wait=True)
        self.config.evict_unpinned()

    def touch(self) -> None:
        """Record that every open store is in sync as of now (see ``_distrust``)."""
        for _, store in self.open_stores():
            _touch(store)


def _touch(store: PartitionStore) -> None:
    if not store.closed:
        checkpoint = store.checkpoint()
        if checkpoint is not None:
            store.apply([], checkpoint)


def _marker(path: Path) -> Path:
    """``<partition>.open`` beside the store: present while an owner has it open."""
    return path.with_name(f"{path.name}.open")


def _changes(msgs: Sequence[Any]) -> list[Change]:
    out: list[Change] = []
    for msg in msgs:
        partition, offset = msg.partition(), msg.offset()
        if partition is not None and offset is not None:
            out.append(Change(partition, offset, msg.key(), msg.value(), msg.headers()))
    return out


def _ignore(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
    return None


class StoreView(CompactedView):
    """A ``CompactedView`` of a topic (every partition, or some) whose model lives in local stores:
    it resumes from the stores' checkpoints instead of the beginning, and is ready (and
    ``wait_for`` works) exactly as a ``CompactedView`` is."""

    def __init__(
        self,
        settings: Settings,
        stores: ChangelogStores,
        *,
        name: str | None = None,
        window_ms: int | None = None,
        upkeep: tuple[float, Callable[[], None]] | None = None,
        partitions: Collection[int] | None = None,
    ) -> None:
        """``window_ms``: a store that is new or was wiped reads only what was appended
        within that window (a log whose history the view does not need, like events).
        ``upkeep``: ``(every seconds, work)`` run on the view's thread once it is ready, so
        the work never races the records being applied (dropping what left a window).
        ``partitions``: only these have stores and are read (default: all)."""
        self._settings = settings
        super().__init__(
            settings,
            stores.topic,
            _ignore,
            name=name or stores.view,
            prefetch_kbytes=PREFETCH_KBYTES,
            window_ms=window_ms,
            partitions=partitions,
        )
        self.stores = stores
        self._reported: dict[int, str] = {}
        self._touched = time.monotonic()
        self._trim = _Trim()
        self._upkeep = upkeep
        self._kept_up = time.monotonic()
        self._settled = 0  # records read when the stores were last settled

    def report_damaged(self, partition: int, reason: str) -> None:
        """A reader found a damaged block: the view's thread wipes and rebuilds the store."""
        with self._lock:
            self._reported[partition] = reason

    def stop(self) -> None:
        super().stop()
        self.stores.close_all()

    def _starts(self, targets: dict[int, int]) -> dict[int, int] | None:
        while not self._stop.is_set():
            try:
                marks = self._reader.watermarks(targets)
                break
            except Exception as exc:  # broker away: not ready, try again
                self.error = type(exc).__name__
                log.warning("view_waiting_for_topic", view=self.name, error=str(exc))
                self._stop.wait(1.0)
        else:
            return None
        starts = self.stores.open(targets, marks, topic_id(self._settings, self.stores.topic))
        if self._window_ms is not None:  # nothing before the window is needed, stored or not
            since = int(time.time() * 1000) - self._window_ms
            found = self._reader.offsets_for_time(targets, since)
            for partition, start in starts.items():
                window_start = found.get(partition, -1)
                if window_start < 0:  # nothing in the window: the end as it is now
                    window_start = marks.get(partition, (0, 0))[1]
                starts[partition] = max(start, window_start)
        with self._lock:
            for partition, start in starts.items():
                if start >= 0:
                    self._positions[partition] = start
        return starts

    def _consume(self, msgs: list[Any]) -> None:
        with self._lock:
            reported, self._reported = self._reported, {}
        for partition, reason in reported.items():
            self.stores.rebuild(partition, reason)
        changes = _changes(msgs)
        wiped = self.stores.apply(changes) if changes else []
        self.records += len(changes)
        self._trim.note(len(changes))
        with self._lock:
            for change in changes:
                if change.partition not in wiped:
                    self._positions[change.partition] = change.offset + 1
            self._lock.notify_all()
        if reported or wiped:
            self._restart([*reported, *wiped])
        if time.monotonic() - self._touched > TOUCH_INTERVAL_S:
            self._touched = time.monotonic()
            self.stores.touch()
        if self._upkeep is not None and self._ready.is_set():
            every, work = self._upkeep
            if time.monotonic() - self._kept_up > every:
                self._kept_up = time.monotonic()
                try:
                    work()
                except Exception:  # upkeep must never stop the view; it runs again
                    log.exception("view_upkeep_failed", view=self.name)

    def _restart(self, partitions: Iterable[int]) -> None:
        """Read wiped partitions again from the start; the view is not ready until then."""
        again = set(partitions)
        self._ready.clear()
        with self._lock:
            for partition in again:
                self._positions.pop(partition, None)
            starts = {
                p: BEGINNING if p in again else self._positions.get(p, BEGINNING)
                for p in self.stores.assigned()
            }
        self._reader.assign(starts)

    def _refresh_positions(self, targets: dict[int, int]) -> None:
        super()._refresh_positions(targets)
        self.stores.advance(self.position())

    def _check_ready(self, targets: dict[int, int], started: float) -> None:
        super()._check_ready(targets, started)
        if self._ready.is_set():
            # A restore is over: what it left in memory goes, and freed heap to the system.
            # A short catch-up leaves too little to be worth evicting the process's cache.
            if self.records - self._settled > FLUSH_AFTER:
                self.stores.settle()
                self._settled = self.records
            self._trim.now()


class ChangelogTail:
    """Follows some partitions of a topic into their stores on the caller's thread (a
    consumer service's loop): ``assign`` on a rebalance, ``catch_up`` as a read-your-writes
    barrier, ``follow`` to keep checkpoints moving between them."""

    def __init__(
        self, settings: Settings, stores: ChangelogStores, client_suffix: str, timeout_s: float
    ) -> None:
        self.stores = stores
        self._settings = settings
        self._timeout_s = timeout_s
        self._reader = PartitionReader(
            settings,
            client_suffix,
            stores.topic,
            prefetch_kbytes=PREFETCH_KBYTES,
            fetch_wait_ms=FETCH_WAIT_MS,
        )
        self._at: dict[int, int] = {}  # next offset to read per assigned partition
        self.records = 0
        self._trim = _Trim()

    def assign(self, partitions: Iterable[int]) -> None:
        """Own exactly ``partitions``: close the other stores, open these from their
        checkpoints, and read up to the high watermarks of now."""
        wanted = sorted(set(partitions))
        self.stores.close(set(self.stores.assigned()) - set(wanted))
        marks = self._reader.watermarks(wanted) if wanted else {}
        identity = topic_id(self._settings, self.stores.topic) if wanted else None
        starts = self.stores.open(wanted, marks, identity)
        self._at = {p: s for p, s in starts.items() if s >= 0}
        self._reader.assign(starts)
        before = self.records
        self.catch_up(wanted, {p: high for p, (_, high) in marks.items()})
        if self.records - before > FLUSH_AFTER:  # as StoreView does once ready
            self.stores.settle()
        self._trim.now()

    def catch_up(
        self, partitions: Iterable[int] | None = None, highs: Mapping[int, int] | None = None
    ) -> None:
        """Read ``partitions`` (default: all assigned) up to their high watermarks of now
        (or ``highs``, taken a moment ago). Under read_committed an open transaction holds
        that back until it ends."""
        wanted = sorted(set(partitions)) if partitions is not None else self.stores.assigned()
        if highs is None:
            highs = self._reader.high_watermarks(wanted)
        targets = {p: h for p, h in highs.items() if h > 0 and p in wanted}
        deadline = time.monotonic() + self._timeout_s
        while not self._reached(targets):
            if time.monotonic() > deadline:
                raise Unavailable(f"{self.stores.topic} could not be read up to its end in time")
            self.follow(wait_s=0.2)
        self.stores.advance({p: self._at[p] for p in targets if p in self._at})

    def follow(self, max_records: int = 1000, wait_s: float = 0.0) -> int:
        """Apply what the reader has (waiting up to ``wait_s`` when it has nothing); the
        number of records applied."""
        changes = _changes(self._reader.take(max_records, wait_s))
        wiped = self.stores.apply(changes) if changes else []
        for change in changes:
            if change.partition not in wiped:
                self._at[change.partition] = change.offset + 1
        self.records += len(changes)
        self._trim.note(len(changes))
        if wiped:
            for partition in wiped:
                self._at.pop(partition, None)
            self._reader.assign({p: self._at.get(p, BEGINNING) for p in self.stores.assigned()})
        return len(changes)

    def checkpoint(self) -> None:
        """Move the checkpoints to where the reader is (transaction markers included)."""
        self._merge_positions()
        self.stores.advance(self._at)

    def _reached(self, targets: Mapping[int, int]) -> bool:
        if not targets:
            return True
        if any(self._at.get(p, -1) < high for p, high in targets.items()):
            self._merge_positions()  # markers and compacted gaps hold no record
        return all(self._at.get(p, -1) >= high for p, high in targets.items())

    def _merge_positions(self) -> None:
        assigned = self.stores.assigned()
        for partition, position in self._reader.positions(assigned).items():
            if position > self._at.get(partition, -1):
                self._at[partition] = position

    def close(self) -> None:
        try:
            self.stores.close_all()
        finally:
            self._reader.close()


def reader_error(exc: StoreError) -> Unavailable:
    """What a reader of a store reports when the store failed under it (retriable)."""
    return Unavailable(f"local store {exc.path.name} of {exc.path.parent.name}: {exc.reason}")
