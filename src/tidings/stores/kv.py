"""Local state stores: one RocksDB database per (view, partition), checkpointed at an offset.

Why: every view is today a Python dict rebuilt by reading a whole compacted topic at each
start, so start-up time and memory grow with the topic. As in Kafka Streams and Quix Streams
(RocksDB through rocksdict), a view instead keeps its records on local disk, one store per
partition it owns, together with the changelog offset it has applied; a restart reads only
the tail of the topic from that offset, and memory is bounded by a block cache instead of
the data size.

The rules that make a store safe to trust:

- **Records and offset move together.** ``apply`` writes the records, their index entries
  and the checkpoint (the next offset to read) in one RocksDB ``WriteBatch``. A batch is one
  WAL record, replayed whole or not at all (point-in-time WAL recovery), so a process killed
  mid-write reopens at the last complete batch. Writes are not fsynced: a killed process
  loses nothing the kernel holds, a host crash only loses the newest batches, and their
  offsets with them, so the caller reads them again from the topic.
- **A store that cannot be trusted says so.** Opening raises ``StoreUntrusted`` (the caller
  wipes the store and rebuilds it from the beginning of the topic) when RocksDB cannot open
  it (missing, truncated or corrupt CURRENT, MANIFEST or table files), when its metadata
  key is missing or names another topic, partition, partition count (a grown topic moves
  keys between partitions) or format version. A corrupt data block is found by the read
  that touches it (``StoreCorrupt``, a ``StoreUntrusted``) or by ``verify()``, a full scan.
- **A store in use is never wiped.** RocksDB's LOCK file makes a second owner fail with
  ``StoreLocked``, which is not a reason to rebuild.

Keys are raw bytes in three namespaces: ``r/<key>`` for records (``record_key``), plain
secondary-index entries ``i/<index>/<part>/…/<member>`` -> ``b""`` (``index_key``), written
in the same batch as their record so record and index never disagree, and ``\\x00…`` for
the store's own metadata, which callers cannot write. Values stay as the topic carries them
(Avro single-object bytes): callers decode on read.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from rocksdict import (
    BlockBasedIndexType,
    BlockBasedOptions,
    Cache,
    DBCompressionType,
    DBRecoveryMode,
    Options,
    Rdict,
    RdictIter,
    ReadOptions,
    WriteBatch,
    WriteBufferManager,
    WriteOptions,
)

FORMAT_VERSION = 3
"""Bumped whenever the key layout, the metadata or what a view keeps changes: older stores
are then rebuilt. 2: directory contacts carry organizations, state stores the accepted-time
listing index. 3: roles and groups indexed per organization, Idempotency-Keys per
organization in the events stores."""

RECORDS = b"r/"
INDEXES = b"i/"
_RESERVED = b"\x00"
_META_KEY = b"\x00meta"
_OFFSET_KEY = b"\x00offset"
_APPLIED_AT_KEY = b"\x00applied_at"
_U64 = struct.Struct(">Q")

_OPEN: set[Path] = set()
"""Paths of the stores open in this process (RocksDB's POSIX lock cannot see them)."""

Write = tuple[bytes, bytes | None]
"""One write of a batch: ``(key, value)``, or ``(key, None)`` to delete (a tombstone)."""


class StoreError(Exception):
    """Base of the errors of local state stores."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class StoreUntrusted(StoreError):
    """The store cannot be trusted: wipe it and rebuild it from the beginning of its topic."""


class StoreCorrupt(StoreUntrusted):
    """RocksDB reported missing or damaged files or a checksum mismatch."""


class StoreIdentityMismatch(StoreUntrusted):
    """The store was written for another topic, partition, partition count or format."""


class StoreLocked(StoreError):
    """Another owner (this or another process) has the store open; never wipe it for that."""


class StoreClosed(StoreError):
    """The store was used after ``close``."""


@dataclass(frozen=True)
class StoreIdentity:
    """What a store holds: one partition of one topic, laid out in one format version."""

    view: str
    topic: str
    partition: int
    partitions: int
    format: int = FORMAT_VERSION

    def encode(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True, separators=(",", ":")).encode()

    @staticmethod
    def decode(raw: bytes) -> dict[str, Any]:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("metadata is not an object")
        return value


class StoreConfig:
    """RocksDB tuning shared by the stores of one process, bounded in memory.

    One LRU block cache serves every store (data, index and filter blocks are charged to
    it), and the memtables of all stores are charged to the same cache through one write
    buffer manager, so ``block_cache_bytes`` bounds RocksDB's memory whatever the number of
    partitions and the size of the data.
    """

    def __init__(
        self,
        *,
        block_cache_bytes: int = 32 << 20,
        write_buffer_bytes: int = 4 << 20,
        memtables_bytes: int = 16 << 20,
        sync_writes: bool = False,
    ) -> None:
        if memtables_bytes >= block_cache_bytes:
            raise ValueError("memtables_bytes must stay below block_cache_bytes")
        self.block_cache_bytes = block_cache_bytes
        self.write_buffer_bytes = write_buffer_bytes
        self.memtables_bytes = memtables_bytes
        self.sync_writes = sync_writes
        self.cache = Cache(block_cache_bytes)
        self.write_buffers = WriteBufferManager.new_write_buffer_manager_with_cache(
            memtables_bytes, False, self.cache
        )

    def options(self, *, create: bool) -> Options:
        opts = Options(raw_mode=True)
        opts.create_if_missing(create)
        opts.set_paranoid_checks(True)
        opts.set_wal_recovery_mode(DBRecoveryMode.point_in_time())
        opts.set_write_buffer_size(self.write_buffer_bytes)
        opts.set_max_write_buffer_number(2)
        opts.set_write_buffer_manager(self.write_buffers)
        opts.set_target_file_size_base(32 << 20)
        opts.set_max_background_jobs(2)
        opts.set_compression_type(DBCompressionType.lz4())
        opts.set_keep_log_file_num(2)
        opts.set_max_log_file_size(1 << 20)
        table = BlockBasedOptions()
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_bloom_filter(10, False)
        # Partitioned index and filters, cached in 4 KB pieces: a whole-file filter of a
        # 32 MB table (megabytes for millions of index keys) exceeds one shard of the cache,
        # is evicted as soon as it is read, and every get would parse it again (~1.5 ms per
        # get at 1M users instead of ~10 us). Only the small top level stays pinned.
        table.set_index_type(BlockBasedIndexType.two_level_index_search())
        table.set_partition_filters(True)
        table.set_metadata_block_size(4096)
        table.set_pin_top_level_index_and_filter(True)
        opts.set_block_based_table_factory(table)
        return opts

    def evict_unpinned(self) -> None:
        """Empty the block cache of every block no reader holds (pinned blocks and the
        memtables' reservations stay): what a restore loaded is no guide to what serving
        will read."""
        self.cache.set_capacity(0)
        self.cache.set_capacity(self.block_cache_bytes)

    def write_options(self) -> WriteOptions:
        opts = WriteOptions()
        opts.sync = self.sync_writes
        return opts


def store_path(root: Path, view: str, partition: int) -> Path:
    """Where the store of ``view``'s ``partition`` lives: ``root/<view>/<partition>``."""
    if not view or "/" in view or view in {".", ".."}:
        raise ValueError(f"invalid view name {view!r}")
    if partition < 0:
        raise ValueError(f"invalid partition {partition}")
    return (root / view / str(partition)).resolve()


class PartitionStore:
    """The store of one partition of one view. Open with ``PartitionStore.open``.

    One writer (the thread that consumes the partition) calls ``apply``; other threads may
    read (``get``, ``iter_prefix``) while the store is open, as RocksDB allows.
    """

    def __init__(self, path: Path, identity: StoreIdentity, config: StoreConfig, db: Rdict) -> None:
        self.path = path
        self.identity = identity
        self._config = config
        self._db: Rdict | None = db
        self._write_options = config.write_options()
        self._checkpoint = self._read_checkpoint()

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        root: Path,
        view: str,
        partition: int,
        *,
        topic: str,
        partitions: int,
        config: StoreConfig | None = None,
        verify: bool = False,
    ) -> PartitionStore:
        """Open (or create empty) the store of ``view``'s ``partition`` of ``topic``.

        Raises ``StoreUntrusted`` when the store must be rebuilt and ``StoreLocked`` when
        another owner holds it. ``verify`` also reads every block (a full scan).
        """
        if not 0 <= partition < partitions:
            raise ValueError(f"partition {partition} outside a topic of {partitions}")
        path = store_path(root, view, partition)
        identity = StoreIdentity(view, topic, partition, partitions)
        config = config or StoreConfig()
        db = cls._open_db(path, identity, config)
        try:
            store = cls(path, identity, config, db)
        except BaseException:
            db.close()
            _OPEN.discard(path)
            raise
        if verify:
            try:
                store.verify()
            except BaseException:
                store.close()
                raise
        return store

    @classmethod
    def open_or_reset(
        cls,
        root: Path,
        view: str,
        partition: int,
        *,
        topic: str,
        partitions: int,
        config: StoreConfig | None = None,
        verify: bool = False,
    ) -> tuple[PartitionStore, StoreUntrusted | None]:
        """Open the store, or wipe an untrusted one and open it empty; the second item
        says why it was wiped (then ``checkpoint()`` is None: rebuild from the beginning)."""
        kwargs: dict[str, Any] = {"topic": topic, "partitions": partitions, "config": config}
        try:
            return cls.open(root, view, partition, verify=verify, **kwargs), None
        except StoreUntrusted as untrusted:
            destroy(store_path(root, view, partition))
            return cls.open(root, view, partition, **kwargs), untrusted

    @classmethod
    def _open_db(cls, path: Path, identity: StoreIdentity, config: StoreConfig) -> Rdict:
        if path in _OPEN:
            raise StoreLocked(path, "already open in this process")
        fresh = not path.exists() or not any(path.iterdir())
        path.mkdir(parents=True, exist_ok=True)
        try:
            db = Rdict(str(path), config.options(create=fresh))
        except Exception as exc:
            raise _translate(path, exc) from exc
        try:
            cls._check_identity(path, db, identity, fresh)
        except BaseException:
            db.close()
            raise
        _OPEN.add(path)
        return db

    @staticmethod
    def _check_identity(path: Path, db: Rdict, identity: StoreIdentity, fresh: bool) -> None:
        raw = _get(path, db, _META_KEY)
        if raw is None:
            if not fresh and _has_any_key(path, db):
                raise StoreIdentityMismatch(path, "records without metadata")
            batch = WriteBatch(raw_mode=True)
            batch.put(_META_KEY, identity.encode())
            sync = WriteOptions()
            sync.sync = True
            try:
                db.write(batch, sync)
            except Exception as exc:
                raise _translate(path, exc) from exc
            return
        try:
            found = StoreIdentity.decode(raw)
        except ValueError as exc:
            raise StoreCorrupt(path, f"unreadable metadata: {exc}") from exc
        expected = identity.__dict__
        differences = [
            f"{name} {found.get(name)!r} != {value!r}"
            for name, value in expected.items()
            if found.get(name) != value
        ]
        if differences:
            raise StoreIdentityMismatch(
                path, "written for another identity: " + ", ".join(differences)
            )

    # -- reading -------------------------------------------------------------------------

    def checkpoint(self) -> int | None:
        """The next changelog offset to read (everything before it is applied), or None
        for a fresh store (read the topic from the beginning)."""
        self._live()
        return self._checkpoint

    def applied_at(self) -> float | None:
        """Wall-clock time (epoch seconds) of the last ``apply``, None for a fresh store.
        A store offline longer than the topic's ``delete.retention.ms`` may have missed
        tombstones that compaction has since removed: rebuild it."""
        raw = _get(self.path, self._live(), _APPLIED_AT_KEY)
        return None if raw is None else _U64.unpack(raw)[0] / 1000.0

    def get(self, key: bytes, *, fill_cache: bool = True) -> bytes | None:
        """The value at ``key``, None if absent. Raises ``StoreCorrupt`` on a bad block.
        ``fill_cache=False``: blocks read are not kept in the block cache (a restore's
        lookups do not evict what serves requests)."""
        _check_key(key)
        return _get(self.path, self._live(), key, None if fill_cache else _NO_FILL)

    def get_many(self, keys: list[bytes]) -> list[bytes | None]:
        """``get`` of each key in one call (RocksDB's MultiGet): a large audience is read
        without a Python round trip per key."""
        for key in keys:
            _check_key(key)
        if not keys:
            return []
        db = self._live()
        try:
            wanted: list[str | int | float | bytes | bool] = list(keys)
            values = db.get(wanted)
        except Exception as exc:
            raise _translate(self.path, exc) from exc
        if not isinstance(values, list) or len(values) != len(keys):
            raise StoreCorrupt(self.path, "multi-get returned no list")
        for value in values:
            if value is not None and not isinstance(value, bytes):
                raise StoreCorrupt(self.path, "a value is not bytes")
        return values

    def iter_keys(self, prefix: bytes) -> Iterator[bytes]:
        """Every key starting with ``prefix``, in key order, values not read into Python."""
        it, _read = self._seek(prefix)  # the read options must outlive the iterator
        try:
            while it.valid():
                yield it.key()
                it.next()
            it.status()
        except Exception as exc:
            raise _translate(self.path, exc) from exc

    def iter_prefix(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """``(key, value)`` for every key starting with ``prefix``, in key order.

        A damaged block ends the iteration with ``StoreCorrupt``, never silently early.
        """
        it, _read = self._seek(prefix)  # the read options must outlive the iterator
        try:
            while it.valid():
                yield it.key(), it.value()
                it.next()
            it.status()
        except Exception as exc:
            raise _translate(self.path, exc) from exc

    def _seek(self, prefix: bytes) -> tuple[RdictIter, ReadOptions]:
        db = self._live()
        # Seek past the reserved namespace. No iterate_lower_bound: rocksdict 0.3 does not
        # apply raw mode to it (the scan comes back empty); the upper bound is raw.
        lower = prefix if prefix >= b"\x01" else b"\x01"
        read = ReadOptions()
        upper = _successor(prefix)
        if upper is not None:
            read.set_iterate_upper_bound(upper)
        it = db.iter(read)
        try:
            it.seek(lower)
        except Exception as exc:
            raise _translate(self.path, exc) from exc
        return it, read

    def members(self, index: str, *parts: str) -> Iterator[str]:
        """The members of one index entry, e.g. ``members("role", tenant, role)`` -> users."""
        prefix = index_prefix(index, *parts)
        start = len(prefix)
        for key in self.iter_keys(prefix):
            member = key[start:]
            yield _unescape(member) if b"%" in member else member.decode()

    def member_values(self, index: str, *parts: str) -> list[tuple[str, bytes]]:
        """``members`` with the value of each index entry (an index may carry data), all of
        them at once: a role of 100,000 is read without a generator step per member."""
        prefix = index_prefix(index, *parts)
        start = len(prefix)
        found: list[tuple[str, bytes]] = []
        add = found.append
        it, _read = self._seek(prefix)  # the read options must outlive the iterator
        try:
            while it.valid():
                member = it.key()[start:]
                add(((_unescape(member) if b"%" in member else member.decode()), it.value()))
                it.next()
            it.status()
        except Exception as exc:
            raise _translate(self.path, exc) from exc
        return found

    def verify(self) -> int:
        """Read every key and value, checking every block's checksum; the number of keys.
        Raises ``StoreCorrupt``. Costs a full scan: for start-up after an unclean stop."""
        count = 0
        it = self._live().iter()
        try:
            it.seek_to_first()
            while it.valid():
                it.value()
                count += 1
                it.next()
            it.status()
        except Exception as exc:
            raise _translate(self.path, exc) from exc
        return count

    # -- writing -------------------------------------------------------------------------

    def apply(self, writes: Iterable[Write], offset: int) -> None:
        """Write ``writes`` in order (``None`` deletes) and the checkpoint ``offset`` (the
        next offset to read) atomically: after a crash either all of it is there or none.

        ``offset`` never goes backwards. A rejected batch writes nothing.
        """
        db = self._live()
        if offset < 0 or (self._checkpoint is not None and offset < self._checkpoint):
            raise ValueError(f"checkpoint {offset} would go back from {self._checkpoint}")
        batch = WriteBatch(raw_mode=True)
        for key, value in writes:
            _check_key(key)
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.put(_OFFSET_KEY, _U64.pack(offset))
        batch.put(_APPLIED_AT_KEY, _U64.pack(int(time.time() * 1000)))
        try:
            db.write(batch, self._write_options)
        except Exception as exc:
            raise _translate(self.path, exc) from exc
        self._checkpoint = offset

    def flush(self, *, wait: bool = True) -> None:
        """Write the memtables to table files. Optional (the WAL already holds every
        batch): it shortens the WAL replay of the next open, e.g. before a revoke.
        ``wait=False`` only schedules it (a caller that must not block on disk work)."""
        try:
            self._live().flush(wait=wait)
        except Exception as exc:
            raise _translate(self.path, exc) from exc

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Flush nothing extra (the WAL has every batch) and release the store's lock."""
        if self._db is not None:
            db, self._db = self._db, None
            db.close()
            _OPEN.discard(self.path)

    @property
    def closed(self) -> bool:
        return self._db is None

    def wipe(self) -> None:
        """Delete everything and start again empty: ``checkpoint()`` is then None."""
        self.close()
        destroy(self.path)
        self._db = self._open_db(self.path, self.identity, self._config)
        self._checkpoint = None

    def __enter__(self) -> PartitionStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _live(self) -> Rdict:
        if self._db is None:
            raise StoreClosed(self.path, "store is closed")
        return self._db

    def _read_checkpoint(self) -> int | None:
        raw = _get(self.path, self._live(), _OFFSET_KEY)
        if raw is None:
            return None
        if len(raw) != _U64.size:
            raise StoreCorrupt(self.path, "checkpoint is not 8 bytes")
        offset: int = _U64.unpack(raw)[0]
        return offset


# -- keys ---------------------------------------------------------------------------------


def record_key(key: bytes) -> bytes:
    """The store key of a record whose topic key is ``key``."""
    return RECORDS + key


def index_key(index: str, *parts: str, member: str) -> bytes:
    """An index entry, e.g. ``index_key("role", tenant, role, member=user)`` ->
    ``i/role/<tenant>/<role>/<user>``; its value is ``b""``. Parts are escapped so that a
    ``/`` inside one never widens a prefix scan."""
    return index_prefix(index, *parts) + _escape(member)


def index_prefix(index: str, *parts: str) -> bytes:
    """The prefix under which the members of ``index`` at ``parts`` sit."""
    return INDEXES + b"".join(_escape(p) + b"/" for p in (index, *parts))


class Batch:
    """An ordered list of writes for ``PartitionStore.apply``, with index helpers."""

    def __init__(self) -> None:
        self._writes: list[Write] = []

    def put(self, key: bytes, value: bytes) -> Batch:
        self._writes.append((key, value))
        return self

    def delete(self, key: bytes) -> Batch:
        self._writes.append((key, None))
        return self

    def add_index(self, index: str, *parts: str, member: str) -> Batch:
        return self.put(index_key(index, *parts, member=member), b"")

    def remove_index(self, index: str, *parts: str, member: str) -> Batch:
        return self.delete(index_key(index, *parts, member=member))

    def __iter__(self) -> Iterator[Write]:
        return iter(self._writes)

    def __len__(self) -> int:
        return len(self._writes)


# -- files --------------------------------------------------------------------------------


def destroy(path: Path) -> None:
    """Delete a store's files, refusing (``StoreLocked``) if another owner has it open."""
    if not path.exists():
        return
    if path in _OPEN:
        raise StoreLocked(path, "open in this process")
    lock = path / "LOCK"
    if not lock.exists():
        shutil.rmtree(path)
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise StoreLocked(path, "open by another owner") from exc
        shutil.rmtree(path)
    finally:
        os.close(fd)


def _translate(path: Path, exc: BaseException) -> StoreError:
    message = str(exc)
    if "lock" in message.lower() and message.startswith("IO error"):
        return StoreLocked(path, message)
    if message.startswith("DbClosed") or type(exc).__name__ == "DbClosedError":
        return StoreClosed(path, message)
    return StoreCorrupt(path, message)


def _no_fill() -> ReadOptions:
    read = ReadOptions()
    read.fill_cache(False)  # type: ignore[call-arg]  # the stub omits its argument
    return read


_NO_FILL = _no_fill()


def _get(path: Path, db: Rdict, key: bytes, read: ReadOptions | None = None) -> bytes | None:
    try:
        value = db.get(key) if read is None else db.get(key, None, read)
    except Exception as exc:
        raise _translate(path, exc) from exc
    if value is None or isinstance(value, bytes):
        return value
    raise StoreCorrupt(path, f"value of {key!r} is not bytes")


def _has_any_key(path: Path, db: Rdict) -> bool:
    it = db.iter()
    try:
        it.seek_to_first()
        found = it.valid()
        it.status()
    except Exception as exc:
        raise _translate(path, exc) from exc
    return found


def _check_key(key: bytes) -> None:
    if not key or key.startswith(_RESERVED):
        raise ValueError(f"key {key!r} is empty or in the store's reserved namespace")


def _successor(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix`` (None: no bound)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def escape(part: str) -> bytes:
    """One part of an index key as ``index_key`` writes it (``%`` and ``/`` escaped), for
    callers that build many keys sharing parts."""
    return _escape(part)


def _escape(part: str) -> bytes:
    if not part:
        raise ValueError("index parts cannot be empty")
    if "%" not in part and "/" not in part:  # nearly always: no copies
        return part.encode()
    return part.replace("%", "%25").replace("/", "%2F").encode()


_ESCAPED = re.compile("%(25|2F)")


def _unescape(raw: bytes) -> str:
    return _ESCAPED.sub(lambda m: "%" if m.group(1) == "25" else "/", raw.decode())
