"""One event, prepared exactly as the HTTP endpoint prepares it: validated, encoded, signed.

The library and the ingest service share ``tidings.domain.envelope`` for every step, so a request
gets the same answer (and error code) on either path and the records they write differ only
in event id, times and signature. The directory is not consulted here (``directory=None``):
recipient existence is checked by the resolver, which turns unknown users into ``skipped``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.headers import Headers
from tidings.contracts.topics import event_key
from tidings.domain.clients import require_type
from tidings.domain.envelope import (
    NotificationRequest,
    build_envelope,
    canonical_json,
    encode_event,
    parse_request,
    validate_request,
)
from tidings.domain.idempotency import check_key
from tidings.domain.payload_schemas import PayloadSchemas
from tidings.domain.signing import Signer
from tidings.errors import PayloadTooLarge
from tidings.settings import LimitSettings


@dataclass(frozen=True)
class PreparedEvent:
    """What goes on the events topic: key (tenant), Avro value, headers with the signature."""

    event_id: str
    key: bytes
    value: bytes
    headers: Headers
    envelope: dict[str, Any]


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
    ) -> None:
        self.tenant = tenant
        self.signer = signer
        self._schemas = schemas
        self._limits = limits
        self._codec = codec
        self._event_types = tuple(event_types)

    def prepare(
        self,
        request: Mapping[str, Any] | NotificationRequest,
        idempotency_key: str | None = None,
    ) -> PreparedEvent:
        """Raise the same ``TidingsError`` the endpoint would answer with, or encode."""
        check_key(idempotency_key)
        if isinstance(request, NotificationRequest):
            parsed = request
        else:
            # The endpoint caps the raw body; the canonical JSON is the library's body.
            if len(canonical_json(dict(request))) > self._limits.max_body_bytes:
                raise PayloadTooLarge(f"body exceeds {self._limits.max_body_bytes} bytes")
            parsed = parse_request(request)
        self._require_type(parsed.type)
        validated = validate_request(parsed, self.tenant, self._schemas(), self._limits, None)
        envelope = build_envelope(
            validated,
            tenant=self.tenant,
            client_id=self.signer.client_id,
            idempotency_key=idempotency_key,
        )
        value, headers = encode_event(self._codec, envelope, self.signer)
        return PreparedEvent(envelope["event_id"], event_key(self.tenant), value, headers, envelope)

    def _require_type(self, event_type: str) -> None:
        require_type(self._event_types, event_type)
