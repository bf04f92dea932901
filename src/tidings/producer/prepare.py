"""Events prepared exactly as the HTTP endpoint prepares them: validated, encoded, signed.

The library and the ingest service share ``tidings.domain.envelope`` for every step, so a request
gets the same answer (and error code) on either path and the records they write differ only
in event id, times and proof of origin. With a ``Rulebook`` and a directory (what a producer
always passes: producer/views.py) the client's credential, scope, event types, targets, key
reuse and recipients are checked as the endpoint checks them; without them (tools that only
encode, unit tests) only the request itself is.

Signing is split from encoding so a producer signs a whole batch at once: ``encode`` validates
and encodes one event (raising what the endpoint would answer), ``sign`` gives a batch one
Ed25519 signature over its Merkle root (docs/trust-model.md), ``prepare`` does both for one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.headers import Headers
from tidings.contracts.topics import event_key
from tidings.domain.clients import require_type
from tidings.domain.directory import DirectoryReader
from tidings.domain.envelope import (
    NotificationRequest,
    build_envelope,
    canonical_json,
    encode_unsigned,
    parse_request,
    request_fingerprint,
    validate_request,
)
from tidings.domain.idempotency import check_key
from tidings.domain.payload_schemas import PayloadSchemas
from tidings.domain.signing import Signer
from tidings.errors import PayloadTooLarge
from tidings.producer.rulebook import Rulebook
from tidings.settings import LimitSettings


@dataclass(frozen=True)
class PreparedEvent:
    """What goes on the events topic: key (tenant), Avro value, headers (with the proof of
    origin once signed)."""

    event_id: str
    key: bytes
    value: bytes
    headers: Headers
    envelope: dict[str, Any]

    @property
    def signed(self) -> bool:
        return any(name == h.SIGNATURE for name, _ in self.headers)


class EventPreparer:
    """Validates and encodes requests for one client of one tenant (no I/O)."""

    def __init__(
        self,
        *,
        tenant: str,
        signer: Signer,
        schemas: Callable[[], PayloadSchemas],
        limits: LimitSettings,
        codec: Codec,
        event_types: Sequence[str] = (),
        rulebook: Rulebook | None = None,
        directory: DirectoryReader | None = None,
    ) -> None:
        self.tenant = tenant
        self.signer = signer
        self._schemas = schemas
        self._limits = limits
        self._codec = codec
        self._event_types = tuple(event_types)  # narrows the client record's allow-list
        self._rules = rulebook
        self._directory = directory

    def prepare(
        self,
        request: Mapping[str, Any] | NotificationRequest,
        idempotency_key: str | None = None,
    ) -> PreparedEvent:
        """Raise the same ``TidingsError`` the endpoint would answer with, or encode and sign
        (plain signature: a batch of one)."""
        return self.sign([self.encode(request, idempotency_key)])[0]

    def encode(
        self,
        request: Mapping[str, Any] | NotificationRequest,
        idempotency_key: str | None = None,
    ) -> PreparedEvent:
        """Raise the same ``TidingsError`` the endpoint would answer with, or encode (unsigned).

        The checks run in the endpoint's order (docs/ingest.md), so a request breaking two
        rules gets the same code on both paths."""
        rules = self._rules
        client = rules.client() if rules is not None else None  # 401, 403 scope
        check_key(idempotency_key)
        if isinstance(request, NotificationRequest):
            parsed = request
        else:
            # The endpoint caps the raw body; the canonical JSON is the library's body.
            if len(canonical_json(dict(request))) > self._limits.max_body_bytes:
                raise PayloadTooLarge(f"body exceeds {self._limits.max_body_bytes} bytes")
            parsed = parse_request(request)
        if rules is not None and client is not None:
            rules.admit(client, parsed)  # 403: event type, targets
        self._require_type(parsed.type)
        # What makes a retry "the same request"; without a key nothing is compared, and the
        # event carries none, as a single create over HTTP does (identical envelopes).
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = request_fingerprint(parsed)
            if rules is not None and client is not None:
                rules.check_key(client, idempotency_key, fingerprint)  # 422 reused
        org = client.org if client is not None else None  # the credential's, as over HTTP
        validated = validate_request(
            parsed, self.tenant, self._schemas(), self._limits, self._directory, org
        )
        envelope = build_envelope(
            validated,
            tenant=self.tenant,
            client_id=self.signer.client_id,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            org=org,
        )
        if rules is not None and idempotency_key is not None and fingerprint is not None:
            rules.sent(idempotency_key, fingerprint)
        value, headers = encode_unsigned(self._codec, envelope)
        key = event_key(self.tenant)
        return PreparedEvent(envelope["event_id"], key, value, h.to_list(headers), envelope)

    def sign(self, events: Sequence[PreparedEvent]) -> list[PreparedEvent]:
        """The same events with their proof of origin: one signature for the whole batch."""
        origins = self.signer.sign_batch([(e.key, e.value) for e in events])
        return [
            replace(e, headers=[*e.headers, *h.to_list(origin)])
            for e, origin in zip(events, origins, strict=True)
        ]

    def _require_type(self, event_type: str) -> None:
        require_type(self._event_types, event_type)
