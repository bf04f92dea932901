"""POST /api/v1/notifications: 202 only after commit, the event on the log, its state readable."""

from __future__ import annotations

import time
import uuid

import httpx

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.domain.clients import ClientRegistry
from tidings.domain.origin import verify_origin
from tidings.ops.admin import CreatedClient
from tidings.stores.clients import clients_view
from tidings.stores.state import StateStore

from .conftest import EXAMPLE, IngestProcess
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


def test_event_signature_verifies_against_the_ingest_identity(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    event_id = http.post("/api/v1/notifications", json=EXAMPLE).json()["id"]
    topic = f"{ingest.settings.topic_prefix}events"
    msg = next(
        m
        for m in read_all(ingest.settings, topic)
        if h.to_dict(m.headers()).get(h.EVENT_ID) == event_id.encode()
    )
    codec, registry = Codec(), ClientRegistry()
    view = clients_view(ingest.settings, codec, registry).start()
    try:
        assert view.wait_ready(30)
        _, event = codec.decode(msg.value(), expect="event")
        verify_origin(event, msg.key(), h.to_dict(msg.headers()), msg.value(), registry)
    finally:
        view.stop()


def test_accepted_state_record_is_in_the_tenant_partition_of_the_state_topic(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    event_id = http.post("/api/v1/notifications", json=EXAMPLE).json()["id"]
    topic = f"{ingest.settings.topic_prefix}state"
    msgs = [m for m in read_all(ingest.settings, topic) if m.key() == f"acme/{event_id}".encode()]
    assert [m.partition() for m in msgs] == [tenant_partition("acme", 12)]
    store = StateStore()
    store.apply(Codec().decode(msgs[0].value(), expect="state")[1])
    assert store.get("acme", event_id)["stage"] == "accepted"


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
