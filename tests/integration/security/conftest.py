"""Security fixtures: the ingest process of tests/support/ingest.py (two tenants, acme and
globex, with a small directory) and a matrix of clients with different scopes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.ingest import IngestProcess, new_client
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.ops.admin import CreatedClient


@dataclass(frozen=True)
class Clients:
    acme_rw: CreatedClient
    acme_write: CreatedClient
    acme_read: CreatedClient
    acme_typed: CreatedClient  # may create only "other.*" events
    globex_rw: CreatedClient

    def by_name(self, name: str) -> CreatedClient:
        client: CreatedClient = getattr(self, name)
        return client

    def all(self) -> list[CreatedClient]:
        return [self.acme_rw, self.acme_write, self.acme_read, self.acme_typed, self.globex_rw]


@pytest.fixture(scope="module")
def clients(ingest: IngestProcess) -> Clients:
    return Clients(
        acme_rw=new_client(ingest, "acme"),
        acme_write=new_client(ingest, "acme", (SCOPE_WRITE,)),
        acme_read=new_client(ingest, "acme", (SCOPE_READ,)),
        acme_typed=new_client(ingest, "acme", event_types=("other.*",)),
        globex_rw=new_client(ingest, "globex"),
    )


def without_request_id(body: dict[str, object]) -> dict[str, object]:
    """A problem body minus what differs on every answer."""
    return {k: v for k, v in body.items() if k != "request_id"}
