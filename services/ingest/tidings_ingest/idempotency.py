"""Idempotency-Key decisions of the ingest (draft-ietf-httpapi-idempotency-key-header,
docs/ingest.md).

Keys are scoped to the tenant, or to the client's organization (``scoped_key``), and their
event id is ``uuid5(tenant, scoped key)``. Nothing is written
for a key: the events log is the record. ``RecentEvents`` (the log of the key window) says
whether and how a key was first used, the same answer on every replica; keys in flight in this
process answer 409 to a concurrent duplicate. A key used before the window still owns its
event id, so reusing it is refused (422 ``idempotency_key_expired``) instead of appending an
event that would be dropped as a duplicate.
"""

from __future__ import annotations

import threading

from tidings.domain.idempotency import require_same_request, scoped_key
from tidings.errors import IdempotencyKeyInFlight
from tidings.stores.events import Appended


class KeysInFlight:
    """Keys (of a tenant, or of one of its organizations) whose request is being worked on in
    this process."""

    def __init__(self) -> None:
        self._keys: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def begin(self, tenant: str, key: str, org: str | None = None) -> None:
        held = (tenant, scoped_key(key, org))
        with self._lock:
            if held in self._keys:
                raise IdempotencyKeyInFlight("a request with this Idempotency-Key is in progress")
            self._keys.add(held)

    def finish(self, tenant: str, key: str, org: str | None = None) -> None:
        with self._lock:
            self._keys.discard((tenant, scoped_key(key, org)))

    def __len__(self) -> int:
        return len(self._keys)


def replay_of(first: Appended, fingerprint: str) -> Appended:
    """The event a retry replays; 422 when the key was first used for another request."""
    require_same_request(first.fingerprint, fingerprint)
    return first
