"""The directory in local stores against a real broker: indexes built from the topic, a
restart reading only what came after the checkpoint, a damaged store rebuilt with the same
answers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, user_key
from tidings.domain.rules import parse_rules
from tidings.kafka.producer import durable_producer
from tidings.settings import Settings
from tidings.stores.directory import StoreDirectory, store_directory
from tidings_resolver.resolution import resolve

CODEC = Codec()
RULE = parse_rules([{"attribute": "plan", "equals": "pro"}])


@pytest.fixture(scope="module")
def producer(settings: Settings, topics: Topics) -> Producer:
    return durable_producer(settings, "test-directory-stores")


def write_users(producer: Producer, topics: Topics, tenant: str, n: int, plan: str = "pro") -> None:
    for i in range(n):
        user = f"u{i:04d}"
        record = {
            "tenant": tenant,
            "id": user,
            "roles": ["member"] + (["lead"] if i % 10 == 0 else []),
            "groups": [f"g{i % 3}"],
            "attributes": {"plan": plan if i % 2 else "free"},
            "channels": {"email": f"u{i}@x.test"},
        }
        producer.produce(
            topics.directory.name,
            CODEC.encode("directory_entry", record),
            user_key(tenant, user),
        )
        producer.poll(0)
    assert producer.flush(30) == 0


def local(settings: Settings, root: Path, instance: str) -> Settings:
    return settings.model_copy(
        update={
            "data_dir": root,
            "processing": settings.processing.model_copy(update={"instance_id": instance}),
        }
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


Snapshot = tuple[int, list[str], list[str], list[tuple[str, tuple[str, ...]]], dict[str, int]]


def snapshot(directory: StoreDirectory, tenant: str) -> Snapshot:
    resolution = resolve(tenant, ["u0001", "nope"], ["lead"], ["g1"], RULE, directory, ["email"])
    return (
        directory.count(tenant),
        directory.role_members(tenant, "lead"),
        sorted(directory.matching(tenant, RULE[0])),
        [(r.user_id, r.matched_by) for r in resolution.recipients],
        dict(resolution.skipped),
    )


def run(settings: Settings, tenant: str) -> tuple[Snapshot, int]:
    directory, view = store_directory(settings, CODEC, "resolver")
    view.start()
    try:
        assert view.wait_ready(60)
        return snapshot(directory, tenant), view.records
    finally:
        view.stop()


def test_a_restarted_directory_reads_only_what_came_after_its_checkpoint(
    settings: Settings, topics: Topics, producer: Producer, data_dir: Path
) -> None:
    write_users(producer, topics, "restart", 300)
    mine = local(settings, data_dir, "r0")
    first, read = run(mine, "restart")
    assert read >= 300
    assert first[0] == 300
    assert len(first[1]) == 30

    write_users(producer, topics, "restart", 10, plan="basic")  # ten users change plan
    again, read = run(mine, "restart")
    assert read == 10
    assert again[0] == 300
    assert len(again[2]) == len(first[2]) - 5


@pytest.mark.parametrize("damage", ["deleted", "truncated", "left open"])
def test_a_damaged_directory_store_is_rebuilt_with_the_same_answers(
    settings: Settings, topics: Topics, producer: Producer, data_dir: Path, damage: str
) -> None:
    tenant = f"dmg-{damage.replace(' ', '-')}"
    write_users(producer, topics, tenant, 200)
    mine = local(settings, data_dir, "d0")
    before, _ = run(mine, tenant)
    stores = data_dir / "stores" / f"{settings.topic_prefix}resolver.d0" / "directory"
    for partition in sorted(p for p in stores.iterdir() if p.is_dir()):
        if damage == "deleted":
            shutil.rmtree(partition)
        elif damage == "truncated":
            for name in os.listdir(partition):
                if name.endswith((".sst", ".log")) or name.startswith("MANIFEST"):
                    os.truncate(partition / name, (partition / name).stat().st_size // 2)
        else:  # as a process killed mid-write leaves it: verified before it is trusted
            partition.with_name(f"{partition.name}.open").write_text("1\n")

    after, read = run(mine, tenant)
    assert after == before
    if damage != "left open":
        assert read >= 200  # read again from the beginning
