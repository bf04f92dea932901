"""Operator writes shared by the CLI, the demo seed and tests: clients and directory entries."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, user_key
from tidings.domain.clients import SCOPES, ApiClient, hash_secret, new_client_id, new_secret
from tidings.domain.directory import ID_PATTERN, DirectoryLine, User
from tidings.domain.signing import generate_private_key, public_key_of
from tidings.domain.targets import parse_targets
from tidings.errors import FieldError, ValidationFailed
from tidings.kafka.quotas import limit_direct_producer
from tidings.kafka.records import Outgoing
from tidings.ops.batch_write import write_all
from tidings.settings import Settings
from tidings.stores.clients import put_client


@dataclass(frozen=True)
class CreatedClient:
    client: ApiClient
    secret: str
    signing_key: str | None  # private key, shown once; only for direct producers
    producer_byte_rate: int | None = None  # its Kafka quota (kafka/quotas.py); 0: none

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "client_id": self.client.client_id,
            "secret": self.secret,
            "tenant": self.client.tenant,
            "scopes": list(self.client.scopes),
            "event_types": list(self.client.event_types),
            "org": self.client.org,
            "targets": [str(t) for t in self.client.targets],
        }
        if self.signing_key is not None:
            out["signing_key"] = self.signing_key
            out["public_key"] = self.client.public_key
            out["producer_byte_rate"] = self.producer_byte_rate
        return out


def create_client(
    settings: Settings,
    tenant: str,
    scopes: Iterable[str],
    *,
    event_types: Iterable[str] = (),
    rate_per_second: float | None = None,
    burst: int | None = None,
    signing_key: bool = False,
    client_id: str | None = None,
    org: str | None = None,
    targets: Iterable[str] = (),
    producer_byte_rate: int | None = None,
) -> CreatedClient:
    """Register a credential bound to ``tenant`` (and to ``org`` of it, when given); the
    secret (and signing key) exist only here. ``targets``: ``KIND[:PATTERN]`` texts."""
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValidationFailed(
            "unknown scope", errors=[FieldError("scope", f"unknown: {', '.join(unknown)}")]
        )
    if org is not None and not re.fullmatch(ID_PATTERN, org):
        raise ValidationFailed(
            "invalid organization", errors=[FieldError("org", "letters, digits and _.:@+- only")]
        )
    allowed = parse_targets(targets)
    client_id = client_id or new_client_id()
    secret = new_secret(client_id)
    private = generate_private_key() if signing_key else None
    client = ApiClient(
        client_id=client_id,
        tenant=tenant,
        secret_hash=hash_secret(secret),
        scopes=tuple(scopes),
        event_types=tuple(event_types),
        rate_per_second=rate_per_second,
        burst=burst,
        public_key=public_key_of(private) if private else None,
        created_at=int(time.time() * 1000),
        org=org,
        targets=allowed,
    )
    # A direct producer's Kafka quota first: no client exists that the broker would not throttle.
    byte_rate = limit_direct_producer(settings, client_id, producer_byte_rate) if private else None
    put_client(settings, client)
    return CreatedClient(client, secret, private, byte_rate)


def parse_directory_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, User | None, str]]:
    """Yield (line number, user or None for a deletion, tenant/id) for each non-blank line.

    ``{"tenant": T, "id": U, "deleted": true}`` deletes a user (a tombstone on the topic)."""
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            data = orjson.loads(text)
            if isinstance(data, dict) and data.get("deleted") is True:
                line = DirectoryLine(tenant=data.get("tenant", ""), id=data.get("id", ""))
                yield number, None, f"{line.tenant}/{line.id}"
                continue
            line = DirectoryLine.model_validate(data)
        except (orjson.JSONDecodeError, ValidationError) as exc:
            raise ValidationFailed(
                f"directory line {number} is invalid",
                errors=[FieldError(f"line {number}", str(exc).splitlines()[0])],
            ) from None
        yield number, User.from_line(line), f"{line.tenant}/{line.id}"


def load_directory(
    settings: Settings, lines: Iterable[str | bytes], codec: Codec | None = None
) -> int:
    """Write users (and tombstones) to the compacted directory topic; returns records written.

    Every line is validated before anything is written, so a bad file changes nothing."""
    codec = codec or Codec()
    entries = list(parse_directory_lines(lines))
    topic = Topics(settings).directory.name

    def record(user: User | None, key: str) -> Outgoing:
        tenant, _, user_id = key.partition("/")
        value = codec.encode("directory_entry", user.to_record()) if user is not None else None
        return Outgoing(topic, user_key(tenant, user_id), value)

    records = (record(user, key) for _, user, key in entries)
    acked = write_all(settings, "admin-directory", records, advance=lambda _n: None)
    if acked < len(entries):
        raise RuntimeError(
            f"directory load incomplete: {len(entries) - acked} of {len(entries)} not acknowledged"
        )
    return len(entries)
