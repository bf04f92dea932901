"""Security helpers: the matrix of clients with different scopes that the ``clients`` fixture
of tests/integration/security/conftest.py creates, and a problem body minus what differs on
every answer."""

from __future__ import annotations

from dataclasses import dataclass

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


def without_request_id(body: dict[str, object]) -> dict[str, object]:
    """A problem body minus what differs on every answer."""
    return {k: v for k, v in body.items() if k != "request_id"}
