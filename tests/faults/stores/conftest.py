"""Store fault fixtures: small topics (4 event partitions), six tenants with a team each
(``TENANTS`` of tests/support/faults.py), the whole stack as processes on a data directory
of the module's own (so a test can find, damage and delete the services' local stores), and
the report line of each scenario."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faults import TENANTS
from tests.support.kafka import delete_topics
from tests.support.stack import Stack, provision
from tidings.settings import Settings, TopicSettings


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    module = request.module.__name__.rsplit(".", 1)[-1]
    return Settings(
        bootstrap_servers=kafka_bootstrap,
        topic_prefix=f"test.{module}.{uuid.uuid4().hex[:8]}.",
        topics=TopicSettings(events_partitions=4, other_partitions=2),
    )


@pytest.fixture(scope="module")
def provisioned(settings: Settings) -> Iterator[Settings]:
    """Topics, bundled schemas and a team directory per tenant; topics deleted after."""
    provision(settings, TENANTS)
    yield settings
    delete_topics(settings)


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``TIDINGS_DATA_DIR`` of one test's services: instance slots, key ring, stores."""
    path = tmp_path_factory.mktemp("data")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stacks() -> Iterator[list[Stack]]:
    """Stacks a test starts; all stopped at its end, whatever happened."""
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()
