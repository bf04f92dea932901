"""The checks and the event record of one create, shared by single creates and batch items
(one rule in one order for both, docs/ingest.md), and the newest state every read shows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.contracts import headers as h
from tidings.contracts.state import Stage, state_record
from tidings.domain.clients import ApiClient
from tidings.domain.envelope import (
    NotificationRequest,
    build_envelope,
    encode_event,
    event_id_for,
    parse_request,
    validate_request,
)
from tidings_ingest.runtime import Runtime


def admit(client: ApiClient, data: dict[str, Any]) -> NotificationRequest:
    """Request shape (422), event type (403), targets (403 ``recipients_not_allowed``)."""
    request = parse_request(data)
    client.require_type(request.type)
    scope = request.recipients
    client.require_targets(scope.users, scope.roles, scope.groups, scope.rules)
    return request


def expired_event(rt: Runtime, client: ApiClient, key: str) -> str | None:
    """The id of the event this key of the client's scope (tenant or organization) created
    before the key window, when it did: that id is taken for good (422
    ``idempotency_key_expired``)."""
    tenant = client.tenant
    event_id = event_id_for(tenant, key, client.org)
    if rt.states.get(tenant, event_id) is not None or rt.events.event(tenant, event_id):
        return event_id
    return None


@dataclass(frozen=True)
class EventRecord:
    event_id: str
    version: int  # of the payload schema the event was validated against
    accepted_at: int
    value: bytes
    headers: h.Headers


def event_record(
    rt: Runtime,
    client: ApiClient,
    request: NotificationRequest,
    key: str | None,
    fingerprint: str | None,
) -> EventRecord:
    """Payload schema and recipients (413 / 422), then the envelope, encoded with its proof
    of origin: the one record the create appends."""
    tenant = client.tenant
    validated = validate_request(
        request, tenant, rt.registry.schemas, rt.settings.limits, rt.directory, client.org
    )
    event_id = event_id_for(tenant, key, client.org)
    envelope = build_envelope(
        validated,
        tenant=tenant,
        client_id=client.client_id,
        idempotency_key=key,
        event_id=event_id,
        fingerprint=fingerprint,
        org=client.org,
    )
    value, headers = encode_event(rt.codec, envelope, rt.signer)
    return EventRecord(event_id, validated.version, int(envelope["accepted_at"]), value, headers)


def newest_state(rt: Runtime, tenant: str, event_id: str) -> dict[str, Any] | None:
    """The event's newest state record, or the ``accepted`` one its append implies (the
    resolver writes the first state record): what GET, the list and the stream read."""
    record = rt.states.get(tenant, event_id)
    if record is not None:
        return record
    appended = rt.events.event(tenant, event_id)
    if appended is None:
        return None
    return state_record(
        event_id,
        tenant,
        Stage.ACCEPTED,
        type_=appended.type,
        at=appended.accepted_at,
        accepted_at=appended.accepted_at,
        client_id=appended.client_id,
        source_reference=appended.source_reference,
    )
