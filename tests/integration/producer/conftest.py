"""Fixtures of the producer tests: registered schemas and a direct-producer client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tidings.contracts.topics import Topics
from tidings.ops.admin import CreatedClient, create_client
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry


@pytest.fixture(scope="module")
def registry(settings: Settings, topics: Topics) -> Iterator[SchemaRegistry]:
    reg = SchemaRegistry(settings).start()
    assert reg.wait_ready(30)
    reg.register_bundled()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def direct_client(settings: Settings, topics: Topics) -> CreatedClient:
    return create_client(
        settings, "acme", ["notifications:write"], signing_key=True, client_id="c-direct"
    )
