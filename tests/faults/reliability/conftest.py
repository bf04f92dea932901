"""Reliability fixtures: small topics (4 event partitions), a log directory per module, the
whole stack as processes, and the report line each scenario writes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kafka import delete_topics
from tests.support.report import Figures, record
from tests.support.stack import CHANNELS, USERS, Stack, provision
from tidings.settings import Settings, TopicSettings

TEAM = {(u, c) for u in USERS for c in CHANNELS}


def small_settings(bootstrap: str, module: str, **topics: int) -> Settings:
    return Settings(
        bootstrap_servers=bootstrap,
        topic_prefix=f"test.{module}.{uuid.uuid4().hex[:8]}.",
        topics=TopicSettings(events_partitions=4, other_partitions=2, **topics),
    )


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    return small_settings(kafka_bootstrap, request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture
def stacks(settings: Settings, log_dir: Path) -> Iterator[list[Stack]]:
    """Stacks a test starts; all stopped at its end, whatever happened."""
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()


def report(figures: Figures) -> Figures:
    return record(figures)


@pytest.fixture(scope="module")
def provisioned(settings: Settings) -> Iterator[Settings]:
    """Topics, bundled schemas and the team directory of ``acme``; topics deleted after."""
    provision(settings)
    yield settings
    delete_topics(settings)
