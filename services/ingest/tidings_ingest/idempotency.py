"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header, DESIGN §2.3).

Keys are scoped to the tenant. Completed keys live in the idempotency topic (compact+delete,
retention = the window) and are materialized here, so they survive restarts; keys in flight
are held only in this process (409 to a concurrent duplicate). Two replicas racing on one key
may both append; the event id is uuid5(tenant, key), so the resolver drops the second copy.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from tidings.errors import IdempotencyKeyInFlight, IdempotencyKeyReused, InvalidIdempotencyKey

MAX_KEY_LENGTH = 255
# RFC 8941 sf-string: printable ASCII, with only \\ and \" escaped inside the quotes.
_SF_STRING = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"])*)"$')
_BARE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


def parse_key(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header, or None when absent. A quoted RFC 8941
    string (the draft's form) and a bare printable-ASCII value are both accepted; anything
    else (empty, over 255 characters, control or non-ASCII characters) is 400."""
    if raw is None:
        return None
    value = raw.strip(" \t")
    quoted = _SF_STRING.match(value)
    if quoted:
        value = re.sub(r"\\(.)", r"\1", quoted.group(1))
    elif value.startswith('"') or not _BARE.match(value):
        raise InvalidIdempotencyKey("the Idempotency-Key must be printable ASCII")
    if not value or len(value) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"the Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return value


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
