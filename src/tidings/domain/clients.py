"""API clients: credentials bound to one tenant (and optionally one organization of it), with
scopes, allowed event types, targeting permissions (domain/targets.py) and limits.

Secrets are 256-bit random tokens of the form ``tds_<client id>.<random>``. Because they are
high-entropy, a single SHA-256 is the right hash (a slow KDF such as scrypt defends guessable
passwords and would cost every request tens of milliseconds); comparison is constant-time, and
an unknown client id is hashed and compared too, so timing says nothing about what exists.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tidings.domain.targets import Target, require_allowed, stored_targets
from tidings.errors import Forbidden, Unauthenticated

SCOPE_WRITE = "notifications:write"
SCOPE_READ = "notifications:read"
SCOPE_DIRECTORY_READ = "directory:read"  # GET /api/v1/directory/users/{id}
SCOPE_DIRECTORY_WRITE = "directory:write"  # PUT, DELETE, batch of directory users
SCOPES = (SCOPE_WRITE, SCOPE_READ, SCOPE_DIRECTORY_READ, SCOPE_DIRECTORY_WRITE)
SERVICE_TENANT = "*"  # only the ingest service's signing identity; never an API credential
_DUMMY_HASH = "sha256$" + hashlib.sha256(b"no such client").hexdigest()


# No secret hashes to this value, so a signing identity can never authenticate over HTTP.
NO_SECRET = "none$service-identity"  # noqa: S105 - not a secret: a hash nothing matches


def hash_secret(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def new_secret(client_id: str) -> str:
    return f"tds_{client_id}.{secrets.token_urlsafe(32)}"  # urlsafe base64 has no "."


def new_client_id() -> str:
    return "c" + secrets.token_hex(8)


def client_id_of(secret: str) -> str | None:
    if not secret.startswith("tds_"):
        return None
    client_id, sep, _ = secret[4:].rpartition(".")
    return client_id if sep and client_id else None


def allows_type(patterns: tuple[str, ...], event_type: str) -> bool:
    """The event-type allow-list: fnmatch patterns; an empty list allows every type."""
    return not patterns or any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


def require_type(patterns: tuple[str, ...], event_type: str) -> None:
    """403 ``forbidden`` for a type outside the allow-list (HTTP and library alike)."""
    if not allows_type(patterns, event_type):
        raise Forbidden(f"this credential may not create {event_type!r} events")


def sees(reader_org: str | None, creator_org: str | None) -> bool:
    """May a client of ``reader_org`` read an event created by a client of ``creator_org``
    (same tenant)? A tenant-wide reader sees every event; an organization's client only its
    organization's, not even a tenant-wide client's: anything else is answered as unknown."""
    return reader_org is None or reader_org == creator_org


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    tenant: str
    secret_hash: str
    scopes: tuple[str, ...]
    event_types: tuple[str, ...] = ()
    rate_per_second: float | None = None
    burst: int | None = None
    public_key: str | None = None
    revoked: bool = False
    created_at: int = 0
    org: str | None = None  # None: acts for the whole tenant
    targets: tuple[Target, ...] = ()  # empty: every recipient kind

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ApiClient:
        return cls(
            client_id=record["client_id"],
            tenant=record["tenant"],
            secret_hash=record["secret_hash"],
            scopes=tuple(record.get("scopes", ())),
            event_types=tuple(record.get("event_types", ())),
            rate_per_second=record.get("rate_per_second"),
            burst=record.get("burst"),
            public_key=record.get("public_key"),
            revoked=bool(record.get("revoked", False)),
            created_at=int(record.get("created_at", 0)),
            org=record.get("org"),
            targets=stored_targets(record.get("targets", ())),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "tenant": self.tenant,
            "secret_hash": self.secret_hash,
            "scopes": list(self.scopes),
            "event_types": list(self.event_types),
            "rate_per_second": self.rate_per_second,
            "burst": self.burst,
            "public_key": self.public_key,
            "revoked": self.revoked,
            "created_at": self.created_at,
            "org": self.org,
            "targets": [str(t) for t in self.targets],
        }

    def allows_type(self, event_type: str) -> bool:
        return allows_type(self.event_types, event_type)

    def require_scope(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this credential lacks the {scope} scope")

    def require_type(self, event_type: str) -> None:
        require_type(self.event_types, event_type)

    def require_targets(
        self,
        users: Sequence[str],
        roles: Sequence[str],
        groups: Sequence[str],
        rules: Sequence[object],
    ) -> None:
        """403 ``recipients_not_allowed`` for a kind or name outside the client's targets."""
        require_allowed(self.targets, users, roles, groups, rules)

    def sees(self, creator_org: str | None) -> bool:
        return sees(self.org, creator_org)


class ClientRegistry:
    """Materialized clients topic; revocation is one more record, seen within the poll interval."""

    def __init__(self) -> None:
        self._clients: dict[str, ApiClient] = {}
        self._lock = threading.Lock()

    def put(self, client: ApiClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def delete(self, client_id: str) -> None:
        with self._lock:
            self._clients.pop(client_id, None)

    def get(self, client_id: str) -> ApiClient | None:
        return self._clients.get(client_id)

    def all(self) -> list[ApiClient]:
        with self._lock:
            return sorted(self._clients.values(), key=lambda c: c.client_id)

    def authenticate(self, secret: str | None) -> ApiClient:
        """The client a bearer secret belongs to; any failure is the same 401."""
        presented = hash_secret(secret or "")
        client_id = client_id_of(secret or "")
        client = self._clients.get(client_id) if client_id else None
        expected = client.secret_hash if client is not None else _DUMMY_HASH
        ok = hmac.compare_digest(presented.encode(), expected.encode())
        if client is None or not ok or client.revoked or client.tenant == SERVICE_TENANT:
            raise Unauthenticated("missing or invalid credential")
        return client


def service_identity(client_id: str, public_key: str) -> ApiClient:
    """A signing identity of our own services (ingest, replay): tenant ``*``, no secret, no
    scopes; it vouches for the authenticated client named in each event's ``source``."""
    return ApiClient(
        client_id=client_id,
        tenant=SERVICE_TENANT,
        secret_hash=NO_SECRET,
        scopes=(),
        public_key=public_key,
        created_at=int(time.time() * 1000),
    )
