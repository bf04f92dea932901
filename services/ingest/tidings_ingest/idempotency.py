"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header, docs/ingest.md).

Keys are scoped to the tenant. Completed keys live in the idempotency topic (compact+delete,
retention = the window) and are materialized here, so they survive restarts; keys in flight
are held only in this process (409 to a concurrent duplicate). Two replicas racing on one key
may both append; the event id is uuid5(tenant, key), so the resolver drops the second copy.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from tidings.errors import IdempotencyKeyInFlight, IdempotencyKeyReused


@dataclass(frozen=True)
class Completed:
    fingerprint: str
    event_id: str
    status: int
    body: str
    expires_at: int


class IdempotencyStore:
    """Completed keys (from the topic view and our own commits) plus this process's in-flight."""

    def __init__(self) -> None:
        self._done: dict[tuple[str, str], Completed] = {}
        self._in_flight: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def apply(self, record: dict[str, Any]) -> None:
        if record.get("status") != "completed":
            return
        entry = Completed(
            record["fingerprint"],
            record["event_id"],
            int(record["response_status"]),
            record["response_body"],
            int(record["expires_at"]),
        )
        with self._lock:
            self._done[(record["tenant"], record["key"])] = entry

    def delete(self, tenant: str, key: str) -> None:
        with self._lock:
            self._done.pop((tenant, key), None)

    def begin(self, tenant: str, key: str, fingerprint: str) -> Completed | None:
        """The stored answer to replay, or None after marking the key in flight.

        Raises 422 for a reused key with another request, 409 while the key is in flight."""
        now = int(time.time() * 1000)
        with self._lock:
            done = self._done.get((tenant, key))
            if done is not None and done.expires_at > now:
                if done.fingerprint != fingerprint:
                    raise IdempotencyKeyReused("this Idempotency-Key was used for another request")
                return done
            if (tenant, key) in self._in_flight:
                raise IdempotencyKeyInFlight("a request with this Idempotency-Key is in progress")
            self._in_flight.add((tenant, key))
            return None

    def finish(self, tenant: str, key: str, completed: Completed | None) -> None:
        """Release the in-flight mark; record the answer when the request committed."""
        with self._lock:
            self._in_flight.discard((tenant, key))
            if completed is not None:
                self._done[(tenant, key)] = completed

    def purge_expired(self) -> int:
        now = int(time.time() * 1000)
        with self._lock:
            stale = [k for k, v in self._done.items() if v.expires_at <= now]
            for k in stale:
                del self._done[k]
        return len(stale)

    def __len__(self) -> int:
        return len(self._done)
