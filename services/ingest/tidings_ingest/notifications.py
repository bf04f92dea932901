"""The domain of the API: create a notification event, read its state. No HTTP here.

Creation order is fixed so the same input always gets the same answer (docs/ingest.md):
request shape (422), event type allowed (403), recipient kinds allowed (403), Idempotency-Key
(replay / 422 / 409), payload size, schema and recipients in the caller's tenant and
organization (413 / 422), then ONE idempotent ``acks=all`` append (or 503).
Nothing else is written: the state and the key's record are derived from the log.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import orjson

from tidings import tracing
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import public_view
from tidings.contracts.topics import event_key
from tidings.domain.clients import ApiClient
from tidings.domain.envelope import request_fingerprint
from tidings.errors import (
    FieldError,
    IdempotencyKeyExpired,
    NotFound,
    Unavailable,
    ValidationFailed,
)
from tidings.stores.events import Appended
from tidings_ingest.admission import admit, event_record, expired_event, newest_state
from tidings_ingest.idempotency import replay_of
from tidings_ingest.runtime import Runtime


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # JSON
    event_id: str
    replayed: bool = False

    @property
    def location(self) -> str:
        return f"/api/v1/notifications/{self.event_id}"


def accepted_body(event_id: str, type_: str, version: int, accepted_at: int) -> bytes:
    """The 202 body; a replay rebuilds it from the log, byte for byte the same."""
    return orjson.dumps(
        {
            "id": event_id,
            "status": "accepted",
            "type": type_,
            "version": version,
            "accepted_at": accepted_at,
        }
    )


def replayed(first: Appended) -> Answer:
    body = accepted_body(first.event_id, first.type, first.version, first.accepted_at)
    return Answer(202, body, first.event_id, replayed=True)


class Notifications:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    async def create(self, client: ApiClient, data: Any, key: str | None) -> Answer:
        if not isinstance(data, dict):
            raise ValidationFailed(
                "the body must be a JSON object", errors=[FieldError("body", "expected object")]
            )
        request = admit(client, data)
        tenant, rt = client.tenant, self._rt
        if key is None:
            return await self._append(client, request, None, None)
        # What a key's replay is compared by; a create without a key is never compared (the
        # canonical dump and its hash were 5 % of a create's CPU).
        fingerprint = request_fingerprint(request)
        rt.keys_in_flight.begin(tenant, key, client.org)  # an organization's keys are its own
        try:
            first = rt.events.first(tenant, key, client.org)
            if first is not None:
                return replayed(replay_of(first, fingerprint))
            event_id = expired_event(rt, client, key)
            if event_id is not None:
                raise IdempotencyKeyExpired(
                    f"this Idempotency-Key created event {event_id} before the key window; "
                    "send the request with a new key"
                )
            return await self._append(client, request, key, fingerprint)
        finally:
            rt.keys_in_flight.finish(tenant, key, client.org)

    async def _append(
        self, client: ApiClient, request: Any, key: str | None, fingerprint: str | None
    ) -> Answer:
        rt, tenant = self._rt, client.tenant
        event = event_record(rt, client, request, key, fingerprint)
        event_id, value, headers = event.event_id, event.value, event.headers
        if tracing.ENABLED:  # outside the MAC (key and value only): adding it is safe
            tracing.annotate({"tidings.event_id": event_id, "tidings.tenant": tenant})
            tracing.inject(headers)
        accepted_at = event.accepted_at
        started = time.perf_counter()
        msg = await rt.producer.produce(
            rt.topics.events.name, event_key(tenant), value, headers, timestamp_ms=accepted_at
        )
        rt.metrics.produce.observe(time.perf_counter() - started)
        body = accepted_body(event_id, request.type, event.version, accepted_at)
        if key is not None and fingerprint is not None:  # a keyed create: both or neither
            # Another replica may have appended this key first: the log's order decides, the
            # same way for every replica and for the resolver.
            first = await self._first_in_log(client, key, msg.partition(), msg.offset())
            if first.offset != msg.offset():
                return replayed(replay_of(first, fingerprint))
        rt.metrics.accepted_by(tenant).inc()
        if rt.settings.test_hooks.answer_delay_ms:  # test hook: widen the ack-to-answer window
            await asyncio.sleep(rt.settings.test_hooks.answer_delay_ms / 1000)
        return Answer(202, body, event_id)

    async def _first_in_log(
        self, client: ApiClient, key: str, partition: int | None, offset: int | None
    ) -> Appended:
        rt = self._rt
        if partition is None or offset is None:
            raise Unavailable("the event store did not confirm the write")
        timeout = rt.settings.ingest.produce_timeout_s
        if not rt.events_view.wait_for(partition, offset, 0):
            applied = await asyncio.to_thread(rt.events_view.wait_for, partition, offset, timeout)
            if not applied:
                raise Unavailable("the write was confirmed but not read back in time")
        first = rt.events.first(client.tenant, key, client.org)
        if first is None:
            raise Unavailable("the write was confirmed but not read back in time")
        return first

    async def status(self, client: ApiClient, event_id: str) -> dict[str, Any]:
        """Tenant- and organization-scoped: another tenant's id, or an event created by a
        client of another organization, is answered exactly like a missing one."""
        found = self._known(client, event_id)
        if found is None:
            # Appended a moment ago, maybe by another replica: read the tenant's partition up
            # to its end before saying 404 (read-your-writes on every replica).
            await asyncio.to_thread(self._catch_up, client.tenant)
            found = self._known(client, event_id)
        if found is None:
            raise NotFound("no notification with this id")
        if found.get("status") == "accepted":
            self._place(client.tenant, event_id, found)
        return found

    def _place(self, tenant: str, event_id: str, view: dict[str, Any]) -> None:
        """An event still waiting for the resolver: how many are ahead of it on its partition
        and when it should be dispatched at the measured drain rate (backpressure.py)."""
        appended = self._rt.events.event(tenant, event_id)
        if appended is None:
            return
        placed = self._rt.backpressure.place(
            appended.partition, appended.offset, int(time.time() * 1000)
        )
        if placed is not None:
            view["position"], view["estimated_dispatch_at"] = placed

    def creator_org(self, creator_id: str | None) -> str | None:
        """The organization of the client that created an event (clients never change
        organization; an unknown creator counts as tenant-wide)."""
        creator = self._rt.clients.get(creator_id) if creator_id else None
        return creator.org if creator is not None else None

    def visible(self, reader: ApiClient, creator_id: str | None) -> bool:
        """May ``reader`` see an event of its tenant created by ``creator_id`` (every read)."""
        return reader.org is None or reader.sees(self.creator_org(creator_id))

    def _known(self, client: ApiClient, event_id: str) -> dict[str, Any] | None:
        record = newest_state(self._rt, client.tenant, event_id)
        if record is None or not self.visible(client, record.get("client_id")):
            return None
        return public_view(record)

    def _catch_up(self, tenant: str) -> None:
        rt = self._rt
        partition = tenant_partition(tenant, rt.topics.events.partitions)
        high = rt.events_barrier.high_watermarks([partition])[partition]
        if high > 0:
            rt.events_view.wait_for(partition, high - 1, rt.settings.ingest.produce_timeout_s)
