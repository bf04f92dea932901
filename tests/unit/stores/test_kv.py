"""Local state stores (``tidings.stores.kv``): what a view may rely on after a restart."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rocksdict import Options, Rdict

from tidings.stores.kv import (
    FORMAT_VERSION,
    Batch,
    PartitionStore,
    StoreCorrupt,
    StoreIdentityMismatch,
    StoreLocked,
    destroy,
    escape,
    index_key,
    index_prefix,
    record_key,
    store_path,
)

TOPIC = "tidings.directory"


def open_store(root: Path, partition: int = 0, *, verify: bool = False) -> PartitionStore:
    return PartitionStore.open(
        root, "directory", partition, topic=TOPIC, partitions=4, verify=verify
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PartitionStore]:
    with open_store(tmp_path) as s:
        yield s


def value(i: int) -> bytes:
    """150 incompressible bytes, so a value appears as is in a table file."""
    return random.Random(i).randbytes(150)


def records(n: int, tag: bytes = b"k") -> list[tuple[bytes, bytes | None]]:
    return [(record_key(b"%s%05d" % (tag, i)), value(i)) for i in range(n)]


def written_table_files(root: Path) -> Path:
    """A store with records in table files (not only in the WAL); its directory."""
    with open_store(root) as s:
        s.apply(records(2000), offset=2000)
        s.flush()
        return s.path


def child(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3] / "src")},
    )


# -- records and prefix scans -------------------------------------------------------------


def test_a_fresh_store_has_no_checkpoint_so_the_view_reads_from_the_beginning(
    store: PartitionStore,
) -> None:
    assert store.checkpoint() is None
    assert store.applied_at() is None


def test_a_put_is_read_back_and_an_absent_key_is_none(store: PartitionStore) -> None:
    store.apply([(record_key(b"t1/u1"), b"avro")], offset=1)

    assert store.get(record_key(b"t1/u1")) == b"avro"
    assert store.get(record_key(b"t1/u2")) is None


def test_a_tombstone_deletes_the_key(store: PartitionStore) -> None:
    store.apply([(record_key(b"t1/u1"), b"avro")], offset=1)
    store.apply([(record_key(b"t1/u1"), None)], offset=2)

    assert store.get(record_key(b"t1/u1")) is None


def test_writes_of_one_batch_apply_in_order(store: PartitionStore) -> None:
    key = record_key(b"t1/u1")
    store.apply([(key, b"old"), (key, None), (key, b"new")], offset=3)

    assert store.get(key) == b"new"


def test_a_prefix_scan_returns_exactly_the_keys_under_the_prefix_in_key_order(
    store: PartitionStore,
) -> None:
    store.apply(
        [
            (record_key(b"t1/b"), b"2"),
            (record_key(b"t1/a"), b"1"),
            (record_key(b"t10/a"), b"x"),
            (record_key(b"t2/a"), b"y"),
        ],
        offset=4,
    )

    assert list(store.iter_prefix(record_key(b"t1/"))) == [
        (record_key(b"t1/a"), b"1"),
        (record_key(b"t1/b"), b"2"),
    ]


def test_a_scan_of_everything_never_shows_the_store_metadata(store: PartitionStore) -> None:
    store.apply([(record_key(b"t1/u1"), b"v")], offset=1)

    assert [k for k, _ in store.iter_prefix(b"")] == [record_key(b"t1/u1")]


def test_the_store_metadata_cannot_be_written_by_a_caller(store: PartitionStore) -> None:
    with pytest.raises(ValueError, match="reserved"):
        store.apply([(b"\x00offset", b"\x00" * 8)], offset=1)


def test_index_members_are_listed_per_index_value_even_with_slashes_in_values(
    store: PartitionStore,
) -> None:
    batch = (
        Batch()
        .put(record_key(b"t1/ann"), b"ann")
        .add_index("attr", "t1", "team", "eng/platform", member="ann")
        .add_index("attr", "t1", "team", "eng", member="bob/smith")
        .add_index("role", "t1", "admin", member="ann")
    )
    store.apply(batch, offset=1)

    assert list(store.members("attr", "t1", "team", "eng")) == ["bob/smith"]
    assert list(store.members("attr", "t1", "team", "eng/platform")) == ["ann"]
    assert list(store.members("role", "t1", "admin")) == ["ann"]


def test_a_record_and_its_index_change_in_one_batch(store: PartitionStore) -> None:
    store.apply(
        Batch().put(record_key(b"t1/ann"), b"admin").add_index("role", "t1", "admin", member="ann"),
        offset=1,
    )
    moved = (
        Batch()
        .put(record_key(b"t1/ann"), b"viewer")
        .remove_index("role", "t1", "admin", member="ann")
        .add_index("role", "t1", "viewer", member="ann")
    )
    store.apply(moved, offset=2)

    assert list(store.members("role", "t1", "admin")) == []
    assert list(store.members("role", "t1", "viewer")) == ["ann"]
    assert store.get(index_key("role", "t1", "viewer", member="ann")) == b""


# -- checkpoint ---------------------------------------------------------------------------


def test_records_and_checkpoint_survive_a_reopen(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        s.apply(records(10), offset=41)

    with open_store(tmp_path) as s:
        assert s.checkpoint() == 41
        assert s.get(record_key(b"k00009")) == value(9)
        assert s.applied_at() is not None


def test_the_checkpoint_never_goes_back(store: PartitionStore) -> None:
    store.apply([], offset=10)

    with pytest.raises(ValueError, match="go back"):
        store.apply(records(1), offset=9)
    assert store.checkpoint() == 10


def test_a_rejected_batch_writes_neither_its_records_nor_its_offset(
    store: PartitionStore,
) -> None:
    store.apply(records(1, b"a"), offset=1)

    with pytest.raises(ValueError, match="reserved"):
        store.apply([*records(5, b"b"), (b"\x00meta", b"{}")], offset=6)

    assert store.checkpoint() == 1
    assert list(store.iter_prefix(record_key(b"b"))) == []


def test_a_torn_wal_tail_rolls_back_to_the_last_complete_batch(tmp_path: Path) -> None:
    # What a crash leaves: the files as they were while the store was open, the last WAL
    # record cut in the middle.
    with open_store(tmp_path / "live") as s:
        s.apply(records(100, b"a"), offset=100)
        s.apply(records(100, b"b"), offset=200)
        wal = next(s.path.glob("*.log"))
        complete = wal.stat().st_size
        s.apply(records(100, b"c"), offset=300)
        torn = (complete + wal.stat().st_size) // 2
        shutil.copytree(tmp_path / "live", tmp_path / "crashed")
    os.truncate(tmp_path / "crashed" / "directory" / "0" / wal.name, torn)

    with open_store(tmp_path / "crashed") as s:
        assert s.checkpoint() == 200
        assert len(list(s.iter_prefix(record_key(b"b")))) == 100
        assert list(s.iter_prefix(record_key(b"c"))) == []


BATCH = 500
WRITER = """
    import sys
    from pathlib import Path
    from tidings.stores.kv import PartitionStore

    store = PartitionStore.open(Path(sys.argv[1]), "directory", 0, topic=sys.argv[2], partitions=4)
    n = 0
    while True:
        writes = [(b"r/%06d/%04d" % (n, i), b"x" * 150) for i in range(500)]
        store.apply(writes, offset=(n + 1) * 500)
        n += 1
        print(n, flush=True)
"""


def test_a_process_killed_while_writing_reopens_at_its_last_complete_batch(
    tmp_path: Path,
) -> None:
    with child(WRITER, str(tmp_path), TOPIC) as writer:
        assert writer.stdout is not None
        acknowledged = 0
        while acknowledged < 40:
            acknowledged = int(writer.stdout.readline())
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()

    with open_store(tmp_path) as s:
        checkpoint = s.checkpoint()
        assert checkpoint is not None
        assert checkpoint % BATCH == 0
        complete = checkpoint // BATCH
        assert complete >= acknowledged
        assert sum(1 for _ in s.iter_prefix(b"r/")) == checkpoint
        assert list(s.iter_prefix(b"r/%06d/" % complete)) == []


# -- identity -----------------------------------------------------------------------------


def test_a_store_of_another_topic_is_untrusted(tmp_path: Path) -> None:
    open_store(tmp_path).close()

    with pytest.raises(StoreIdentityMismatch, match="topic"):
        PartitionStore.open(tmp_path, "directory", 0, topic="other.directory", partitions=4)


def test_a_store_written_before_the_topic_grew_is_untrusted(tmp_path: Path) -> None:
    open_store(tmp_path).close()

    with pytest.raises(StoreIdentityMismatch, match="partitions"):
        PartitionStore.open(tmp_path, "directory", 0, topic=TOPIC, partitions=8)


def test_a_store_of_an_older_format_is_untrusted(tmp_path: Path) -> None:
    path = written_table_files(tmp_path)
    db = Rdict(str(path), Options(raw_mode=True))
    meta = db[b"\x00meta"]
    assert meta is not None
    current = f'"format":{FORMAT_VERSION}'.encode()
    assert current in meta
    db[b"\x00meta"] = meta.replace(current, f'"format":{FORMAT_VERSION - 1}'.encode())
    db.close()

    with pytest.raises(StoreIdentityMismatch, match="format"):
        open_store(tmp_path)


def test_records_without_metadata_are_untrusted(tmp_path: Path) -> None:
    path = written_table_files(tmp_path)
    db = Rdict(str(path), Options(raw_mode=True))
    del db[b"\x00meta"]
    db.close()

    with pytest.raises(StoreIdentityMismatch, match="without metadata"):
        open_store(tmp_path)


# -- damaged files ------------------------------------------------------------------------


def truncate_table_file(path: Path) -> None:
    sst = next(path.glob("*.sst"))
    os.truncate(sst, sst.stat().st_size // 2)


def remove_table_file(path: Path) -> None:
    next(path.glob("*.sst")).unlink()


def damage_table_footer(path: Path) -> None:
    sst = next(path.glob("*.sst"))
    with sst.open("r+b") as f:
        f.seek(sst.stat().st_size - 30)
        f.write(b"\x00" * 20)


def garble_current(path: Path) -> None:
    (path / "CURRENT").write_text("MANIFEST-999999\n")


def remove_current(path: Path) -> None:
    (path / "CURRENT").unlink()


def garble_manifest(path: Path) -> None:
    manifest = path / (path / "CURRENT").read_text().strip()
    with manifest.open("r+b") as f:
        f.seek(manifest.stat().st_size // 2)
        f.write(b"\xab" * 16)


@pytest.mark.parametrize(
    "damage",
    [
        truncate_table_file,
        remove_table_file,
        damage_table_footer,
        garble_current,
        remove_current,
        garble_manifest,
    ],
)
def test_a_store_with_damaged_files_is_reported_corrupt_at_open(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    damage(written_table_files(tmp_path))

    with pytest.raises(StoreCorrupt):
        open_store(tmp_path)


def damage_the_block_of_record_1500(path: Path) -> None:
    sst = next(path.glob("*.sst"))
    at = sst.read_bytes().index(value(1500))
    with sst.open("r+b") as f:
        f.seek(at)
        f.write(b"\xff" * 32)


def test_a_damaged_data_block_is_reported_by_the_read_that_touches_it(tmp_path: Path) -> None:
    damage_the_block_of_record_1500(written_table_files(tmp_path))

    with open_store(tmp_path) as s:
        assert s.get(record_key(b"k00000")) == value(0)
        with pytest.raises(StoreCorrupt, match="checksum"):
            s.get(record_key(b"k01500"))
        with pytest.raises(StoreCorrupt, match="checksum"):
            list(s.iter_prefix(record_key(b"k")))


def test_a_damaged_block_inside_an_index_scan_is_reported_not_a_shorter_audience(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path) as s:
        batch = Batch()
        for i in range(2000):
            batch.put(index_key("role", "acme", "big", member=f"u{i:05d}"), value(i))
        s.apply(batch, offset=1)
        s.flush()
        path = s.path
        assert len(s.member_values("role", "acme", "big")) == 2000
    damage_the_block_of_record_1500(path)

    with open_store(tmp_path) as s, pytest.raises(StoreCorrupt):
        s.member_values("role", "acme", "big")


def test_a_damaged_data_block_is_reported_at_open_when_asked_to_verify(tmp_path: Path) -> None:
    damage_the_block_of_record_1500(written_table_files(tmp_path))

    with pytest.raises(StoreCorrupt, match="checksum"):
        open_store(tmp_path, verify=True)


def test_open_or_reset_wipes_an_untrusted_store_and_says_why(tmp_path: Path) -> None:
    garble_current(written_table_files(tmp_path))

    store, why = PartitionStore.open_or_reset(tmp_path, "directory", 0, topic=TOPIC, partitions=4)
    with store:
        assert isinstance(why, StoreCorrupt)
        assert store.checkpoint() is None
        assert list(store.iter_prefix(b"")) == []


def test_wipe_leaves_an_empty_store_without_checkpoint(store: PartitionStore) -> None:
    store.apply(records(3), offset=3)

    store.wipe()

    assert store.checkpoint() is None
    assert list(store.iter_prefix(b"")) == []
    store.apply(records(1), offset=1)
    assert store.checkpoint() == 1


# -- ownership ----------------------------------------------------------------------------


def test_a_store_open_in_this_process_is_locked_not_untrusted(store: PartitionStore) -> None:
    with pytest.raises(StoreLocked):
        open_store(store.path.parent.parent)
    with pytest.raises(StoreLocked):
        destroy(store.path)


HOLDER = """
    import sys
    from pathlib import Path
    from tidings.stores.kv import PartitionStore

    store = PartitionStore.open(Path(sys.argv[1]), "directory", 0, topic=sys.argv[2], partitions=4)
    print("open", flush=True)
    sys.stdin.read()
"""


def test_a_store_open_in_another_process_is_locked_and_never_wiped(tmp_path: Path) -> None:
    with child(HOLDER, str(tmp_path), TOPIC) as holder:
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline().strip() == "open"
            with pytest.raises(StoreLocked):
                PartitionStore.open_or_reset(tmp_path, "directory", 0, topic=TOPIC, partitions=4)
            with pytest.raises(StoreLocked):
                destroy(store_path(tmp_path, "directory", 0))
            assert (store_path(tmp_path, "directory", 0) / "CURRENT").exists()
        finally:
            holder.kill()


# -- reads for large views ----------------------------------------------------------------


def test_get_many_reads_present_and_absent_keys_in_order(store: PartitionStore) -> None:
    store.apply(records(3), offset=3)
    keys = [record_key(b"k00002"), record_key(b"nope"), record_key(b"k00000")]
    assert store.get_many(keys) == [value(2), None, value(0)]
    assert store.get_many([]) == []


def test_key_scans_and_member_values_see_the_same_entries_as_prefix_scans(
    store: PartitionStore,
) -> None:
    batch = Batch()
    for member, carried in (("ann", b"a"), ("b/o%b", b"b")):
        batch.put(index_key("role", "acme", "admin", member=member), carried)
    store.apply(batch, offset=1)
    prefix = index_key("role", "acme", "admin", member="x")[:-1]
    assert list(store.iter_keys(prefix)) == [k for k, _ in store.iter_prefix(prefix)]
    assert list(store.member_values("role", "acme", "admin")) == [("ann", b"a"), ("b/o%b", b"b")]
    assert list(store.members("role", "acme", "admin")) == ["ann", "b/o%b"]


def test_escape_gives_the_parts_of_index_key(store: PartitionStore) -> None:
    assert escape("a/b%c") == b"a%2Fb%25c"
    assert index_key("role", "t", "r/1", member="u%") == (
        index_prefix("role", "t") + escape("r/1") + b"/" + escape("u%")
    )
