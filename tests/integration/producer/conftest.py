"""Fixtures of the producer tests: registered schemas, a directory and a direct-producer
client (the library checks recipients against the directory, as the endpoint does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tidings.contracts.topics import Topics
from tidings.ops.admin import CreatedClient, create_client, load_directory
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry


@pytest.fixture(scope="module")
def registry(settings: Settings, topics: Topics) -> Iterator[SchemaRegistry]:
    reg = SchemaRegistry(settings).start()
    assert reg.wait_ready(30)
    reg.register_bundled()
    yield reg
    reg.stop()


USERS = [
    '{"tenant": "acme", "id": "u-1", "roles": ["editor"], "channels": {"email": "u1@x.org"}}',
    '{"tenant": "acme", "id": "u-2", "roles": ["viewer"], "channels": {"in_app": "u-2"}}',
]


@pytest.fixture(scope="module")
def direct_client(settings: Settings, topics: Topics) -> CreatedClient:
    load_directory(settings, USERS)
    return create_client(
        settings, "acme", ["notifications:write"], signing_key=True, client_id="c-direct"
    )
