"""Processing state in local stores against a real broker: restored from a checkpoint, read
forward only from there, and rebuilt from the topic when the store cannot be trusted."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.support.kafka import delete_topics
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import Stage, state_record
from tidings.contracts.topics import Topics, state_key
from tidings.kafka.admin import admin_client, ensure_topics
from tidings.kafka.producer import durable_producer
from tidings.processing.restore import StateTail, processing_states
from tidings.settings import Settings
from tidings.stores.state import StateStore, state_view

CODEC = Codec()
STAGES = (Stage.ACCEPTED, Stage.RESOLVING, Stage.RESOLVED, Stage.DISPATCHED)


@pytest.fixture(scope="module")
def producer(settings: Settings, topics: Topics) -> Producer:
    return durable_producer(settings, "test-state-stores")


def write_history(
    producer: Producer, topics: Topics, tenant: str, events: int, replay: str | None = None
) -> int:
    """Every stage of ``events`` events of ``tenant``; the state partition they are in."""
    partition = tenant_partition(tenant, topics.state.partitions)
    for i in range(events):
        for stage in STAGES:
            record = state_record(f"e{i}", tenant, stage, attempt=1, replay_id=replay)
            producer.produce(
                topics.state.name,
                CODEC.encode("state", record),
                state_key(tenant, f"e{i}", replay),
                partition=partition,
            )
        producer.poll(0)
    assert producer.flush(30) == 0
    return partition


def ingest_settings(settings: Settings, root: Path, instance: str = "i0") -> Settings:
    return settings.model_copy(
        update={
            "data_dir": root,
            "ingest": settings.ingest.model_copy(update={"instance_id": instance}),
            "processing": settings.processing.model_copy(update={"instance_id": instance}),
        }
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def answers(store: StateStore, tenant: str, events: int) -> list[str | None]:
    found = [store.get(tenant, f"e{i}") for i in range(events)]
    return [None if r is None else str(r["stage"]) for r in found]


def run_view(
    settings: Settings, store: StateStore, tenant: str = "hist", events: int = 50
) -> tuple[list[str | None], int]:
    view = state_view(settings, CODEC, store)
    view.start()
    try:
        assert view.wait_ready(60)
        return answers(store, tenant, events), view.records
    finally:
        view.stop()


def test_a_restarted_view_reads_only_what_came_after_its_checkpoint(
    settings: Settings, topics: Topics, producer: Producer, data_dir: Path
) -> None:
    write_history(producer, topics, "hist", 50)
    local = ingest_settings(settings, data_dir)
    first, read_first = run_view(local, StateStore())
    assert first == ["dispatched"] * 50
    assert read_first >= 200

    write_history(producer, topics, "late", 5)
    late, read_again = run_view(local, StateStore(), "late", 5)
    assert late == ["dispatched"] * 5
    assert read_again == 20  # the five late events' records, nothing before them
    again, read_again = run_view(local, StateStore())
    assert (again, read_again) == (first, 0)


@pytest.mark.parametrize("damage", ["deleted", "truncated"])
def test_a_damaged_state_store_is_rebuilt_with_the_same_answers(
    settings: Settings, topics: Topics, producer: Producer, data_dir: Path, damage: str
) -> None:
    partition = write_history(producer, topics, "hist", 50)
    local = ingest_settings(settings, data_dir, f"dmg-{damage}")
    before, _ = run_view(local, StateStore())
    path = data_dir / "stores" / f"{settings.topic_prefix}ingest.dmg-{damage}" / "state"
    path = path / str(partition)
    if damage == "deleted":
        shutil.rmtree(path)
    else:
        for name in os.listdir(path):  # every table and log file cut in half
            if name.endswith((".sst", ".log")) or name.startswith("MANIFEST"):
                os.truncate(path / name, (path / name).stat().st_size // 2)

    after, read = run_view(local, StateStore())
    assert after == before
    assert read >= 200  # the damaged partition was read again from the beginning


def test_the_ingest_view_leaves_out_a_replays_state(
    settings: Settings, topics: Topics, producer: Producer, data_dir: Path
) -> None:
    write_history(producer, topics, "orig", 1)
    record = state_record("e0", "orig", Stage.ACCEPTED, replay_id="r-1")
    producer.produce(
        topics.state.name,
        CODEC.encode("state", record),
        state_key("orig", "e0", "r-1"),
        partition=tenant_partition("orig", topics.state.partitions),
    )
    producer.flush(30)
    store = StateStore()
    view = state_view(ingest_settings(settings, data_dir), CODEC, store)
    view.start()
    try:
        assert view.wait_ready(60)
        found = store.get("orig", "e0")
        assert found is not None
        assert found["stage"] == "dispatched"
    finally:
        view.stop()


def restore(local: Settings, partitions: list[int]) -> tuple[StateTail, int]:
    states = processing_states(local, CODEC, "resolver")
    tail = StateTail(local, CODEC, "test", states)
    tail.assign(partitions)
    return tail, tail.records


def test_a_consumer_restores_its_partitions_from_their_checkpoints(
    settings: Settings, topics: Topics, producer: Producer, data_dir: Path
) -> None:
    partition = write_history(producer, topics, "proc", 30)
    write_history(producer, topics, "proc", 2, replay="r-9")
    local = ingest_settings(settings, data_dir, "p0")

    tail, read = restore(local, [partition])
    assert read >= 128
    current = tail.states.get(partition, "proc", "e7")
    replayed = tail.states.get(partition, "proc", "e1", "r-9")
    assert current is not None
    assert replayed is not None
    assert (current["stage"], replayed["stage"]) == ("dispatched", "dispatched")
    tail.close()

    write_history(producer, topics, "proc", 31)  # one new event (e30), the rest again
    tail, read = restore(local, [partition])
    assert read == 31 * 4  # from the checkpoint on
    assert tail.states.get(partition, "proc", "e30") is not None
    tail.close()


def test_a_partition_moved_away_and_back_resumes_where_it_left(
    settings: Settings, topics: Topics, producer: Producer, data_dir: Path
) -> None:
    partition = write_history(producer, topics, "moved", 10)
    local = ingest_settings(settings, data_dir, "m0")
    tail, _ = restore(local, [partition])
    tail.assign([])  # revoked: its store closes
    assert tail.states.get(partition, "moved", "e1") is None
    write_history(producer, topics, "moved", 12)  # the other owner's work meanwhile
    tail.assign([partition])
    found = tail.states.get(partition, "moved", "e11")
    assert found is not None
    assert found["stage"] == "dispatched"
    tail.close()


def test_a_store_of_a_topic_deleted_and_created_again_is_rebuilt(
    settings: Settings, producer: Producer, data_dir: Path
) -> None:
    """Same name, new topic (``tidings state rebuild`` deletes it first): its offsets may
    well cover the old checkpoint, but its id differs, so the store is read from the start."""
    own = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}again."})
    ensure_topics(own)
    topics = Topics(own)
    try:
        partition = write_history(producer, topics, "again", 20)
        local = ingest_settings(own, data_dir, "a0")
        tail, read = restore(local, [partition])
        assert read == 80
        tail.close()

        recreate(own, topics.state.name)
        write_history(producer, topics, "again", 25, replay="r2")  # offsets past 80
        tail, read = restore(local, [partition])
        assert read == 100  # from the beginning of the new topic
        assert tail.states.get(partition, "again", "e1") is None  # nothing of the old one
        assert tail.states.get(partition, "again", "e1", "r2") is not None
        tail.close()
    finally:
        delete_topics(own)


def recreate(settings: Settings, topic: str) -> None:
    admin = admin_client(settings)
    admin.delete_topics([topic], operation_timeout=30)[topic].result()
    deadline = time.monotonic() + 30
    while topic in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"{topic} was not deleted"
        time.sleep(0.2)
    ensure_topics(settings)
