"""Checkpointed stores of a changelog (``tidings.stores.changelog``): where a view resumes,
and when it refuses to trust what it finds and reads the topic from the beginning."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tidings.contracts.codec import Codec
from tidings.contracts.state import Stage, state_record
from tidings.contracts.topics import TopicSpec, state_key
from tidings.kafka.consumer import BEGINNING
from tidings.stores.changelog import Change, ChangelogStores
from tidings.stores.kv import record_key
from tidings.stores.state import LatestStates, processing_key

SPEC = TopicSpec("t.state", "state", 4, {"cleanup.policy": "compact"})
CODEC = Codec()


def stores(root: Path, spec: TopicSpec = SPEC) -> ChangelogStores:
    return ChangelogStores(root, "state", spec, LatestStates(CODEC, processing_key))


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[ChangelogStores]:
    s = stores(tmp_path)
    s.open([0], {0: (0, 0)})
    try:
        yield s
    finally:
        s.close_all()


def change(
    offset: int, stage: Stage, event: str = "e1", *, attempt: int = 0, chunks_done: int = 0
) -> Change:
    record = state_record(event, "acme", stage, attempt=attempt, chunks_done=chunks_done)
    key = state_key("acme", event)
    return Change(0, offset, key, CODEC.encode("state", record))


def stage_of(s: ChangelogStores, event: str = "e1", partition: int = 0) -> str | None:
    store = s.get(partition)
    assert store is not None
    value = store.get(record_key(state_key("acme", event)))
    return None if value is None else str(CODEC.decode(value, expect="state")[1]["stage"])


def written(root: Path, changes: list[Change]) -> None:
    s = stores(root)
    s.open([0], {0: (0, 0)})
    s.apply(changes)
    s.close_all()


def test_a_new_store_reads_its_partition_from_the_beginning(tmp_path: Path) -> None:
    assert stores(tmp_path).open([0, 1], {0: (0, 10), 1: (0, 0)}) == {0: BEGINNING, 1: BEGINNING}


def test_applied_records_move_the_checkpoint_past_the_last_of_them(
    opened: ChangelogStores,
) -> None:
    opened.apply([change(0, Stage.ACCEPTED), change(1, Stage.RESOLVING, attempt=1)])
    assert opened.checkpoints() == {0: 2}
    assert stage_of(opened) == "resolving"


def test_a_reopened_store_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    written(tmp_path, [change(0, Stage.ACCEPTED), change(1, Stage.RESOLVED)])

    again = stores(tmp_path)
    assert again.open([0], {0: (0, 5)}) == {0: 2}
    assert stage_of(again) == "resolved"
    again.close_all()


def test_a_checkpoint_past_the_high_watermark_rebuilds_the_store(tmp_path: Path) -> None:
    written(tmp_path, [change(0, Stage.ACCEPTED), change(1, Stage.RESOLVED)])

    again = stores(tmp_path)
    assert again.open([0], {0: (0, 1)}) == {0: BEGINNING}  # the topic was recreated
    assert stage_of(again) is None
    assert "past the high watermark" in again.rebuilt[0]
    again.close_all()


def test_a_checkpoint_before_the_log_start_rebuilds_the_store(tmp_path: Path) -> None:
    written(tmp_path, [change(0, Stage.ACCEPTED), change(1, Stage.RESOLVED)])

    again = stores(tmp_path)
    assert again.open([0], {0: (5, 9)}) == {0: BEGINNING}  # records were deleted since
    assert "before the log start" in again.rebuilt[0]
    again.close_all()


def test_a_store_offline_longer_than_the_tombstone_retention_is_rebuilt(tmp_path: Path) -> None:
    short = TopicSpec(SPEC.name, "state", 4, {"delete.retention.ms": "1"})
    s = stores(tmp_path, short)
    s.open([0], {0: (0, 0)})
    s.apply([change(0, Stage.ACCEPTED)])
    s.close_all()
    time.sleep(0.01)

    again = stores(tmp_path, short)
    assert again.open([0], {0: (0, 1)}) == {0: BEGINNING}
    assert "delete.retention.ms" in again.rebuilt[0]
    again.close_all()


def test_a_deleted_store_is_rebuilt_from_the_beginning(tmp_path: Path) -> None:
    written(tmp_path, [change(0, Stage.ACCEPTED)])
    for path in sorted((tmp_path / "state" / "0").iterdir()):
        path.unlink()

    again = stores(tmp_path)
    assert again.open([0], {0: (0, 1)}) == {0: BEGINNING}
    again.close_all()


def test_a_store_with_a_truncated_table_file_is_rebuilt(tmp_path: Path) -> None:
    s = stores(tmp_path)
    s.open([0], {0: (0, 0)})
    s.apply([change(i, Stage.ACCEPTED, event=f"e{i}") for i in range(500)])
    store = s.get(0)
    assert store is not None
    store.flush()
    s.close_all()
    sst = next((tmp_path / "state" / "0").glob("*.sst"))
    os.truncate(sst, sst.stat().st_size // 2)

    again = stores(tmp_path)
    assert again.open([0], {0: (0, 500)}) == {0: BEGINNING}
    assert stage_of(again, "e1") is None
    assert 0 in again.rebuilt
    again.close_all()


def test_a_store_left_open_by_its_last_owner_is_verified_and_rebuilt_when_damaged(
    tmp_path: Path,
) -> None:
    s = stores(tmp_path)
    s.open([0], {0: (0, 0)})
    s.apply([change(i, Stage.ACCEPTED, event=f"e{i}") for i in range(500)])
    store = s.get(0)
    assert store is not None
    store.flush()
    s.close_all()
    (tmp_path / "state" / "0.open").write_text("4242\n")  # as a killed owner leaves it
    sst = next((tmp_path / "state" / "0").glob("*.sst"))
    with sst.open("r+b") as f:  # the first data block damaged: only a full read finds it
        f.seek(64)
        f.write(b"\xff" * 32)

    again = stores(tmp_path)
    assert again.open([0], {0: (0, 500)}) == {0: BEGINNING}
    assert "checksum" in again.rebuilt[0].lower() or "corrupt" in again.rebuilt[0].lower()
    again.close_all()


def test_a_clean_close_leaves_no_open_marker_and_keeps_the_files(tmp_path: Path) -> None:
    s = stores(tmp_path)
    s.open([0], {0: (0, 0)})
    assert (tmp_path / "state" / "0.open").exists()
    s.close_all()
    assert not (tmp_path / "state" / "0.open").exists()
    assert (tmp_path / "state" / "0" / "CURRENT").exists()


def test_a_later_record_never_moves_an_event_backwards(opened: ChangelogStores) -> None:
    opened.apply([change(0, Stage.RESOLVED, chunks_done=2)])
    opened.apply([change(1, Stage.ACCEPTED)])
    assert stage_of(opened) == "resolved"
    assert opened.checkpoints() == {0: 2}


def test_a_records_own_writes_do_not_move_the_checkpoint(opened: ChangelogStores) -> None:
    opened.apply([change(0, Stage.ACCEPTED)])
    record = state_record("e1", "acme", Stage.RESOLVING, attempt=1)
    table = opened.table
    assert isinstance(table, LatestStates)
    store = opened.get(0)
    assert store is not None
    opened.write(0, table.merge(store, [(record, CODEC.encode("state", record))]))
    assert stage_of(opened) == "resolving"
    assert opened.checkpoints() == {0: 1}  # read back later from the topic


def test_an_older_own_record_never_moves_back_a_state_just_read(opened: ChangelogStores) -> None:
    # A processor reads the state it advances; merging takes that read's seq (the read
    # cache), and a write since the read is what the store holds instead.
    table, store = opened.table, opened.get(0)
    assert isinstance(table, LatestStates)
    assert store is not None
    opened.apply([change(0, Stage.RESOLVING, attempt=1)])
    read = table.read(store, state_key("acme", "e1"))
    assert read is not None
    assert read["stage"] == "resolving"
    opened.apply([change(1, Stage.RESOLVED, chunks_done=2)])  # newer than what was read
    older = state_record("e1", "acme", Stage.RESOLVING, attempt=1)
    assert table.merge(store, [(older, CODEC.encode("state", older))]) == []
    assert stage_of(opened) == "resolved"
    read = table.read(store, state_key("acme", "e1"))
    assert read is not None
    assert read["stage"] == "resolved"
    assert table.merge(store, [(older, CODEC.encode("state", older))]) == []


def test_advance_skips_markers_but_never_goes_back(opened: ChangelogStores) -> None:
    opened.apply([change(0, Stage.ACCEPTED)])
    opened.advance({0: 3})
    opened.advance({0: 2})
    assert opened.checkpoints() == {0: 3}


def test_a_replays_state_is_kept_apart_from_the_original(opened: ChangelogStores) -> None:
    replay = state_record("e1", "acme", Stage.ACCEPTED, replay_id="r1")
    opened.apply(
        [
            change(0, Stage.DISPATCHED),
            Change(0, 1, state_key("acme", "e1", "r1"), CODEC.encode("state", replay)),
        ]
    )
    store = opened.get(0)
    assert store is not None
    assert stage_of(opened) == "dispatched"
    raw = store.get(record_key(state_key("acme", "e1", "r1")))
    assert raw is not None
    assert CODEC.decode(raw, expect="state")[1]["stage"] == "accepted"


def test_an_undecodable_record_is_skipped_and_its_offset_still_counts(
    opened: ChangelogStores,
) -> None:
    opened.apply([Change(0, 0, b"acme/x", b"garbage"), change(1, Stage.ACCEPTED)])
    assert opened.checkpoints() == {0: 2}
    assert stage_of(opened) == "accepted"


def test_closing_a_partition_keeps_the_others_open(tmp_path: Path) -> None:
    s = stores(tmp_path)
    s.open([0, 1, 2], {})
    s.close([1])
    assert s.assigned() == [0, 2]
    s.close_all()
    assert s.assigned() == []


def test_a_closed_partition_opened_again_resumes_from_its_checkpoint(
    opened: ChangelogStores,
) -> None:
    opened.apply([change(0, Stage.ACCEPTED), change(6, Stage.RESOLVED)])
    first = opened.get(0)
    assert first is not None

    opened.close([0])
    assert first.closed
    assert opened.assigned() == []

    assert opened.open([0], {0: (0, 7)}) == {0: 7}
    assert stage_of(opened) == "resolved"


def test_opening_an_open_partition_keeps_its_store(opened: ChangelogStores) -> None:
    before = opened.get(0)

    opened.open([0, 1], {})

    assert opened.get(0) is before
    assert opened.assigned() == [0, 1]


def test_a_store_rocksdb_cannot_open_is_reset_and_read_from_the_beginning(
    tmp_path: Path,
) -> None:
    written(tmp_path, [change(0, Stage.ACCEPTED)])
    (tmp_path / "state" / "0" / "CURRENT").write_text("MANIFEST-999999\n")

    again = stores(tmp_path)
    assert again.open([0, 1], {0: (0, 1), 1: (0, 0)}) == {0: BEGINNING, 1: BEGINNING}
    assert list(again.rebuilt) == [0]
    again.close_all()


def test_stores_without_a_root_are_temporary(tmp_path: Path) -> None:
    s = ChangelogStores(None, "state", SPEC, LatestStates(CODEC, processing_key))
    s.open([0], {})
    root = s.root
    assert root.exists()
    s.close_all()
    assert not root.exists()


def test_a_store_built_from_a_deleted_and_recreated_topic_is_rebuilt(tmp_path: Path) -> None:
    s = stores(tmp_path)
    s.open([0], {0: (0, 0)}, "topic-A")
    s.apply([change(0, Stage.ACCEPTED), change(1, Stage.RESOLVED)])
    s.close_all()

    same = stores(tmp_path)
    assert same.open([0], {0: (0, 9)}, "topic-A") == {0: 2}
    same.close_all()
    again = stores(tmp_path)
    assert again.open([0], {0: (0, 9)}, "topic-B") == {0: BEGINNING}  # same name, new topic
    assert "another topic" in again.rebuilt[0]
    again.close_all()


@pytest.mark.parametrize("first", ["record", "own_write", "position"])
def test_a_store_read_from_the_start_records_its_topic_id_with_its_first_write(
    tmp_path: Path, first: str
) -> None:
    s = stores(tmp_path)
    s.open([0], {0: (0, 3)}, "topic-A")
    if first == "record":
        s.apply([change(0, Stage.ACCEPTED)])
    elif first == "own_write":  # this process's committed record, before it is read back
        s.write(0, [(record_key(b"k"), b"v")])
    else:  # only a transaction marker read: the position moves, no record
        s.advance({0: 1})
    s.close_all()

    again = stores(tmp_path)
    assert again.open([0], {0: (0, 3)}, "topic-B") == {0: BEGINNING}
    again.close_all()


def test_without_a_topic_id_a_store_relies_on_its_offsets(tmp_path: Path) -> None:
    s = stores(tmp_path)
    s.open([0], {0: (0, 0)})  # the broker did not say
    s.apply([change(0, Stage.ACCEPTED), change(1, Stage.RESOLVED)])
    s.close_all()

    again = stores(tmp_path)
    assert again.open([0], {0: (0, 9)}, "topic-B") == {0: 2}
    again.close_all()


def test_settling_after_a_restore_flushes_the_memtables_and_leaves_no_unpinned_blocks(
    opened: ChangelogStores,
) -> None:
    opened.apply([change(i, Stage.ACCEPTED, f"e{i}") for i in range(20_000)])
    store = opened.get(0)
    assert store is not None
    store.flush()
    opened.apply([change(20_000 + i, Stage.ACCEPTED, f"f{i}") for i in range(5_000)])
    for i in range(0, 20_000, 7):  # reads of table files: they fill the block cache
        store.get(record_key(state_key("acme", f"e{i}")))
    cache = opened.config.cache
    assert cache.get_usage() > cache.get_pinned_usage()
    opened.settle()
    assert cache.get_usage() == cache.get_pinned_usage()
    assert cache.get_pinned_usage() < 1 << 20  # the memtables were written out
    assert stage_of(opened, "f4999") == "accepted"  # read back from the table files
