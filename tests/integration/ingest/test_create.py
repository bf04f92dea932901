"""POST /api/v1/notifications: 202 only after commit, the event on the log, its state readable."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess
from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.domain.clients import ClientRegistry
from tidings.domain.origin import OriginRejected, verify_origin
from tidings.ops.admin import CreatedClient
from tidings.service_keys import service_key_ring
from tidings.stores.clients import clients_view

from .records import read_all


def test_accepted_answer_has_id_status_and_location(http: httpx.Client) -> None:
    r = http.post("/api/v1/notifications", json=EXAMPLE)
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "accepted"
    assert uuid.UUID(body["id"])
    assert r.headers["location"] == f"/api/v1/notifications/{body['id']}"


def test_accepted_state_is_readable_immediately(http: httpx.Client) -> None:
    event_id = http.post("/api/v1/notifications", json=EXAMPLE).json()["id"]
    r = http.get(f"/api/v1/notifications/{event_id}")
    assert r.status_code == 200
    assert r.json()["status"] == "accepted"
    assert r.json()["id"] == event_id


def test_event_is_on_the_events_topic_keyed_by_tenant_with_headers(
    http: httpx.Client, ingest: IngestProcess, acme: CreatedClient
) -> None:
    event_id = http.post("/api/v1/notifications", json=EXAMPLE).json()["id"]
    topic = f"{ingest.settings.topic_prefix}events"
    msgs = [
        m
        for m in read_all(ingest.settings, topic)
        if h.to_dict(m.headers()).get(h.EVENT_ID) == event_id.encode()
    ]
    assert len(msgs) == 1
    msg = msgs[0]
    headers = h.to_dict(msg.headers())
    assert msg.key() == b"acme"
    assert headers[h.TENANT] == b"acme"
    assert headers[h.EVENT_TYPE] == b"content.approved"
    assert headers[h.CONTENT_TYPE] == b"application/avro"
    assert msg.partition() == tenant_partition("acme", 12)
    _, event = Codec().decode(msg.value(), expect="event")
    assert event["source"]["client_id"] == acme.client.client_id


def test_event_origin_verifies_with_the_service_key_ring(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    event_id = http.post("/api/v1/notifications", json=EXAMPLE).json()["id"]
    topic = f"{ingest.settings.topic_prefix}events"
    msg = next(
        m
        for m in read_all(ingest.settings, topic)
        if h.to_dict(m.headers()).get(h.EVENT_ID) == event_id.encode()
    )
    ring = service_key_ring(ingest.settings)  # the ring of the ingest's data dir
    headers = h.to_dict(msg.headers())
    assert h.text(headers, h.SIGNER) == f"svc/{ring.signing_key_id}"
    codec, registry = Codec(), ClientRegistry()
    view = clients_view(ingest.settings, codec, registry).start()
    try:
        assert view.wait_ready(30)
        _, event = codec.decode(msg.value(), expect="event")
        verify_origin(event, msg.key(), headers, msg.value(), registry, ring)
        tampered = codec.encode("event", {**event, "type": "content.deleted"})
        with pytest.raises(OriginRejected, match="bad_signature"):
            verify_origin(event, msg.key(), headers, tampered, registry, ring)
    finally:
        view.stop()


def test_the_event_is_the_only_record_written_and_accepted_is_derived_from_it(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    # One append per request: no state or idempotency record beside the event; the
    # `accepted` answer comes from the log itself (the resolver writes the first state).
    r = http.post("/api/v1/notifications", json=EXAMPLE, headers={"Idempotency-Key": "one"})
    event_id = r.json()["id"]
    prefix = ingest.settings.topic_prefix
    events = [
        m
        for m in read_all(ingest.settings, f"{prefix}events")
        if h.to_dict(m.headers()).get(h.EVENT_ID) == event_id.encode()
    ]
    assert [m.partition() for m in events] == [tenant_partition("acme", 12)]
    assert read_all(ingest.settings, f"{prefix}state") == []
    assert read_all(ingest.settings, f"{prefix}idempotency") == []
    assert http.get(f"/api/v1/notifications/{event_id}").json()["status"] == "accepted"


def test_request_does_not_wait_for_resolution(http: httpx.Client) -> None:
    # No resolver runs against this module's topics: the answer comes anyway, and the event
    # stays 'accepted' (the request never waits for resolution or fan-out).
    started = time.monotonic()
    r = http.post(
        "/api/v1/notifications",
        json={**EXAMPLE, "recipients": {"roles": ["editor", "viewer"], "groups": ["legal"]}},
    )
    assert r.status_code == 202
    assert time.monotonic() - started < 5
    assert http.get(r.headers["location"]).json()["status"] == "accepted"


def test_source_reference_and_version_are_recorded(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    r = http.post(
        "/api/v1/notifications",
        json={**EXAMPLE, "version": 1, "source": {"reference": "ref-42"}},
    )
    assert r.status_code == 202
    assert r.json()["version"] == 1
    topic = f"{ingest.settings.topic_prefix}events"
    msg = next(
        m
        for m in read_all(ingest.settings, topic)
        if h.to_dict(m.headers()).get(h.EVENT_ID) == r.json()["id"].encode()
    )
    _, event = Codec().decode(msg.value(), expect="event")
    assert (event["version"], event["source"]["reference"]) == (1, "ref-42")
