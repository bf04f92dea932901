"""The domain of the API: create a notification event, read its state. No HTTP here.

Creation order is fixed so the same input always gets the same answer (docs/ingest.md):
request shape (422), event type allowed (403), Idempotency-Key lookup (replay / 422 / 409),
payload size, schema and recipients (413 / 422), then one committed transaction (or 503).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.contracts.headers import CONTENT_TYPE, EVENT_ID, TENANT, to_list
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import Stage, public_view, state_record
from tidings.contracts.topics import event_key, idempotency_key, state_key
from tidings.domain.clients import ApiClient
from tidings.domain.envelope import (
    build_envelope,
    encode_event,
    event_id_for,
    parse_request,
    request_fingerprint,
    validate_request,
)
from tidings.errors import FieldError, NotFound, ValidationFailed
from tidings.kafka.records import Outgoing
from tidings_ingest.idempotency import Completed
from tidings_ingest.runtime import Runtime

AVRO = "application/avro"


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # JSON, stored verbatim for an idempotent replay
    event_id: str
    replayed: bool = False

    @property
    def location(self) -> str:
        return f"/api/v1/notifications/{self.event_id}"


class Notifications:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def create(self, client: ApiClient, data: Any, key: str | None) -> Answer:
        if not isinstance(data, dict):
            raise ValidationFailed(
                "the body must be a JSON object", errors=[FieldError("body", "expected object")]
            )
        request = parse_request(data)
        client.require_type(request.type)
        tenant, store = client.tenant, self._rt.idempotency
        if key is not None:
            done = store.begin(tenant, key, request_fingerprint(request))
            if done is not None:
                return Answer(done.status, done.body.encode(), done.event_id, replayed=True)
        completed: Completed | None = None
        try:
            rt = self._rt
            validated = validate_request(
                request, tenant, rt.registry.schemas, rt.settings.limits, rt.directory
            )
            event_id = event_id_for(tenant, key)
            envelope = build_envelope(
                validated,
                tenant=tenant,
                client_id=client.client_id,
                idempotency_key=key,
                event_id=event_id,
            )
            value, headers = encode_event(rt.codec, envelope, rt.signer)
            accepted_at = envelope["accepted_at"]
            state = state_record(
                event_id, tenant, Stage.ACCEPTED, type_=request.type, at=accepted_at
            )
            body = orjson.dumps(
                {
                    "id": event_id,
                    "status": "accepted",
                    "type": request.type,
                    "version": validated.version,
                    "accepted_at": accepted_at,
                }
            )
            records = [
                Outgoing(rt.topics.events.name, event_key(tenant), value, headers),
                Outgoing(
                    rt.topics.state.name,
                    state_key(tenant, event_id),
                    rt.codec.encode("state", state, validate=False),
                    to_list({CONTENT_TYPE: AVRO, TENANT: tenant, EVENT_ID: event_id}),
                    tenant_partition(tenant, rt.topics.state.partitions),
                ),
            ]
            if key is not None:
                completed = self._completed(request_fingerprint(request), event_id, body)
                records.append(self._idempotency_record(tenant, key, completed))
            started = time.perf_counter()
            try:
                await rt.publisher.publish(records)
            except Exception:
                completed = None
                raise
            rt.metrics.produce.observe(time.perf_counter() - started)
            rt.metrics.accepted.labels(tenant).inc()
            rt.states.apply(state)  # read-your-writes on this replica
            if rt.settings.test_hooks.answer_delay_ms:  # test hook: widen the ack-to-answer window
                await asyncio.sleep(rt.settings.test_hooks.answer_delay_ms / 1000)
            return Answer(202, body, event_id)
        finally:
            if key is not None:
                store.finish(tenant, key, completed)

    def _completed(self, fingerprint: str, event_id: str, body: bytes) -> Completed:
        window = self._rt.settings.topics.idempotency_window_ms
        return Completed(
            fingerprint, event_id, 202, body.decode(), int(time.time() * 1000) + window
        )

    def _idempotency_record(self, tenant: str, key: str, done: Completed) -> Outgoing:
        value = self._rt.codec.encode(
            "idempotency",  # built here from validated values: the writer's checks suffice
            {
                "tenant": tenant,
                "key": key,
                "fingerprint": done.fingerprint,
                "event_id": done.event_id,
                "status": "completed",
                "response_status": done.status,
                "response_body": done.body,
                "created_at": int(time.time() * 1000),
                "expires_at": done.expires_at,
            },
            validate=False,
        )
        return Outgoing(
            self._rt.topics.idempotency.name,
            idempotency_key(tenant, key),
            value,
            to_list({CONTENT_TYPE: AVRO, TENANT: tenant}),
        )

    def status(self, client: ApiClient, event_id: str) -> dict[str, Any]:
        """Tenant-scoped: another tenant's id is answered exactly like a missing one."""
        record = self._rt.states.get(client.tenant, event_id)
        if record is None:
            raise NotFound("no notification with this id")
        return public_view(record)
