"""Operations fixtures: small topics, schemas, a directory, the three services running, and
a direct producer client of tenant acme."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.support.kafka import module_settings
from tidings.contracts.topics import Topics
from tidings.ops.admin import CreatedClient, create_client, load_directory
from tidings.settings import Settings, TopicSettings
from tidings.stores.schemas import SchemaRegistry

from .harness import USERS, Proc


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    topics = TopicSettings(events_partitions=2, other_partitions=1)
    return module_settings(kafka_bootstrap, request, topics=topics)


@pytest.fixture(scope="module")
def seeded(settings: Settings, topics: Topics) -> Settings:
    registry = SchemaRegistry(settings).start()
    assert registry.wait_ready(60)
    registry.register_bundled()
    registry.stop()
    load_directory(settings, [orjson.dumps(u) for u in USERS])
    return settings


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ops")


@pytest.fixture(scope="module")
def services(seeded: Settings, log_dir: Path) -> Iterator[dict[str, Proc]]:
    """ingest, resolver and fan-out as processes; a missing service fails the test."""
    procs = {name: Proc(name, seeded, log_dir) for name in ("ingest", "resolver", "fanout")}
    try:
        for proc in procs.values():
            proc.start()
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.fixture(scope="module")
def direct(seeded: Settings) -> CreatedClient:
    return create_client(seeded, "acme", ["notifications:write"], signing_key=True)
