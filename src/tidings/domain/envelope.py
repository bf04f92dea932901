"""The notification request, its validation, and the immutable event envelope built from it.

One module serves both entry points (HTTP ingest and the direct producer library), so the
same input gets the same answer on either path (docs/ingest.md).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from tidings.contracts import headers as h
from tidings.contracts.codec import CONTENT_TYPE_BINARY, Codec
from tidings.contracts.state import now_ms
from tidings.contracts.topics import event_key
from tidings.domain.directory import DirectoryReader, in_org
from tidings.domain.idempotency import scoped_key
from tidings.domain.ids import name_uuid, random_uuid
from tidings.domain.payload_schemas import PayloadSchemas
from tidings.domain.rules import RuleLimits, canonical, parse_rules
from tidings.domain.signing import RecordSigner
from tidings.errors import (
    FieldError,
    InvalidRecipients,
    PayloadTooLarge,
    ValidationFailed,
)
from tidings.settings import LimitSettings

# Fixed namespace: the same tenant and Idempotency-Key give the same event id on every replica,
# library and restart, so a duplicate that reaches the log is dropped by event id downstream.
EVENT_NAMESPACE = uuid.UUID("6f1d3c1e-9a57-4b8e-8f53-1d0a4f7c2b90")
TYPE_PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$"

Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class RecipientsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    users: list[Name] = Field(default_factory=list)
    roles: list[Name] = Field(default_factory=list)
    groups: list[Name] = Field(default_factory=list)
    rules: list[Any] = Field(default_factory=list)


class SourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    reference: Annotated[str, StringConstraints(max_length=256)] | None = None


class NotificationRequest(BaseModel):
    """The body of ``POST /api/v1/notifications``. There is no tenant field: the tenant comes
    from the credential, and an unknown field is refused rather than ignored."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Annotated[str, StringConstraints(max_length=128, pattern=TYPE_PATTERN)]
    recipients: RecipientsIn
    payload: dict[str, Any]
    version: Annotated[int, Field(ge=1, le=100_000)] | None = None
    source: SourceIn | None = None


def field_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as stable ``path``/``message`` pairs (no input values echoed)."""
    out = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        out.append(FieldError(path or "body", error["msg"]))
    return out


def parse_request(data: Mapping[str, Any]) -> NotificationRequest:
    try:
        return NotificationRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(
            "the request does not match its schema", errors=field_errors(exc)
        ) from None


def canonical_json(value: object) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def request_fingerprint(request: NotificationRequest) -> str:
    """What 'the same request' means for an Idempotency-Key: the canonical body."""
    return hashlib.sha256(canonical_json(request.model_dump(mode="json"))).hexdigest()


def event_id_for(tenant: str, idempotency_key: str | None, org: str | None = None) -> str:
    """Deterministic for a key (the same request's retries get the same id on every replica
    and path), per tenant and, for an organization's client, per organization."""
    if idempotency_key is None:
        return random_uuid()
    return name_uuid(EVENT_NAMESPACE, f"{tenant}\n{scoped_key(idempotency_key, org)}")


@dataclass(frozen=True)
class ValidatedRequest:
    request: NotificationRequest
    version: int
    payload_json: str
    rules: list[str]


def validate_request(
    request: NotificationRequest,
    tenant: str,
    schemas: PayloadSchemas,
    limits: LimitSettings,
    directory: DirectoryReader | None = None,
    org: str | None = None,
) -> ValidatedRequest:
    """Size, schema and recipient checks, in a fixed order. ``directory`` is None only on the
    direct producer path, which checks scope syntax and leaves existence to the resolver.
    ``org``: the caller's organization (None: tenant-wide); a listed user outside it is
    answered exactly like an unknown one."""
    payload_json = canonical_json(request.payload)
    if len(payload_json) > limits.max_payload_bytes:
        raise PayloadTooLarge(f"payload exceeds {limits.max_payload_bytes} bytes")
    schema = schemas.validate(request.type, request.version, request.payload)
    rules = _check_recipients(request.recipients, tenant, limits, directory, org)
    return ValidatedRequest(request, schema.version, payload_json.decode(), rules)


def _check_recipients(
    scope: RecipientsIn,
    tenant: str,
    limits: LimitSettings,
    directory: DirectoryReader | None,
    org: str | None,
) -> list[str]:
    if not (scope.users or scope.roles or scope.groups or scope.rules):
        raise InvalidRecipients(
            "no recipients",
            errors=[FieldError("recipients", "give at least one of users, roles, groups, rules")],
        )
    listed = len(scope.users) + len(scope.roles) + len(scope.groups)
    if listed > limits.max_recipients_listed:
        raise InvalidRecipients(
            "too many recipients listed",
            errors=[FieldError("recipients", f"at most {limits.max_recipients_listed} listed")],
        )
    if scope.rules:  # most events list users, roles or groups: no parser to build
        parse_rules(scope.rules, RuleLimits.of(limits))
    if directory is not None:
        require_known_recipients(directory, tenant, org, scope.users, scope.roles, scope.groups)
    return [canonical(rule) for rule in scope.rules]


def require_known_recipients(
    directory: DirectoryReader,
    tenant: str,
    org: str | None,
    users: Sequence[str],
    roles: Sequence[str],
    groups: Sequence[str],
) -> None:
    """422 ``invalid_recipients`` naming every listed user, role or group the directory does
    not know in ``tenant`` (in ``org``, when given): the ingest's check, the library's, and
    the resolver's for records of direct producers."""
    # Lookups are per tenant, so a user of another tenant is exactly an unknown user;
    # and one outside the caller's organization too.
    errors = [
        FieldError(f"recipients.users[{i}]", "unknown user")
        for i, name in enumerate(users)
        if not in_org(directory.get(tenant, name), org)
    ]
    errors += [
        FieldError(f"recipients.roles[{i}]", "unknown role")
        for i, name in enumerate(roles)
        if not directory.has_role(tenant, name, org)
    ]
    errors += [
        FieldError(f"recipients.groups[{i}]", "unknown group")
        for i, name in enumerate(groups)
        if not directory.has_group(tenant, name, org)
    ]
    if errors:
        raise InvalidRecipients("recipients not found in this tenant", errors=errors)


def build_envelope(
    validated: ValidatedRequest,
    *,
    tenant: str,
    client_id: str,
    idempotency_key: str | None,
    event_id: str | None = None,
    accepted_at: int | None = None,
    fingerprint: str | None = None,
    org: str | None = None,
) -> dict[str, Any]:
    """The immutable event. Tenant, source client and organization come from the credential,
    never the body."""
    request = validated.request
    return {
        "event_id": event_id or event_id_for(tenant, idempotency_key, org),
        "tenant": tenant,
        "type": request.type,
        "version": validated.version,
        "recipients": {
            "users": list(dict.fromkeys(request.recipients.users)),
            "roles": list(dict.fromkeys(request.recipients.roles)),
            "groups": list(dict.fromkeys(request.recipients.groups)),
            "rules": validated.rules,
        },
        "payload": validated.payload_json,
        "source": {
            "client_id": client_id,
            "reference": request.source.reference if request.source else None,
        },
        "idempotency_key": idempotency_key,
        "accepted_at": accepted_at if accepted_at is not None else now_ms(),
        "replay_id": None,
        "fingerprint": fingerprint,
        "org": org,
    }


def event_headers(codec: Codec, envelope: Mapping[str, Any]) -> dict[str, str]:
    """The headers an operator reads with console tools (informational: the resolver reads
    tenant and type from the verified value, never from headers)."""
    return {
        h.EVENT_ID: envelope["event_id"],
        h.EVENT_TYPE: envelope["type"],
        h.TENANT: envelope["tenant"],
        h.CONTENT_TYPE: CONTENT_TYPE_BINARY,
        h.FINGERPRINT: codec.schema("event").fingerprint.hex(),
    }


def encode_unsigned(codec: Codec, envelope: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """Binary value and operator headers, before any proof of origin (a producer signs a
    batch of these at once)."""
    value = codec.encode("event", envelope, validate=False)  # built from validated input
    return value, event_headers(codec, envelope)


def encode_event(
    codec: Codec, envelope: Mapping[str, Any], signer: RecordSigner
) -> tuple[bytes, h.Headers]:
    """Binary value plus the operator headers, and the proof of origin over exactly the
    record written: the signer's MAC or signature (docs/trust-model.md)."""
    value, headers = encode_unsigned(codec, envelope)
    headers.update(signer.origin_headers(event_key(envelope["tenant"]), value))
    return value, h.to_list(headers)
