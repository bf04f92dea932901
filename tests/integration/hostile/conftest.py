"""Hostile-input fixtures: the ingest process of tests/support/ingest.py with a short body
deadline, a client, and the offsets of every topic a request could append to (a rejected
request must leave them as they were; ``Offsets`` in tests/support/hostile.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.hostile import BODY_TIMEOUT_S, Offsets
from tests.support.ingest import IngestProcess, new_client
from tidings.ops.admin import CreatedClient
from tidings.settings import Settings


@pytest.fixture(scope="module")
def ingest(
    seeded: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[IngestProcess]:
    """The ingest of tests/support/ingest.py with a short body deadline."""
    proc = IngestProcess(
        seeded,
        tmp_path_factory.mktemp("hostile"),
        TIDINGS_LIMITS__BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(ingest: IngestProcess) -> CreatedClient:
    return new_client(ingest, "acme", rate_per_second=100_000.0, burst=100_000)


@pytest.fixture(scope="module")
def http(ingest: IngestProcess, client: CreatedClient) -> Iterator[httpx.Client]:
    with ingest.client(client.secret) as c:
        yield c


@pytest.fixture(scope="module")
def offsets(ingest: IngestProcess) -> Iterator[Offsets]:
    watcher = Offsets(ingest.settings)
    yield watcher
    watcher.close()
