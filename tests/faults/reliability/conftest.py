"""Reliability fixtures: small topics (4 event partitions), a log directory per module and the
whole stack as processes. The deliveries each scenario expects (``TEAM``) and the report line
it writes are in tests/support/faults.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.faults import small_settings
from tests.support.kafka import delete_topics
from tests.support.stack import Stack, provision
from tidings.settings import Settings


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


@pytest.fixture(scope="module")
def provisioned(settings: Settings) -> Iterator[Settings]:
    """Topics, bundled schemas and the team directory of ``acme``; topics deleted after."""
    provision(settings)
    yield settings
    delete_topics(settings)
