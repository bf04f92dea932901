"""A library event and the same event posted over HTTP are indistinguishable downstream."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.errors import TidingsError
from tidings.ops.admin import CreatedClient, create_client
from tidings.ops.scan import Selection, scan
from tidings.producer import NotificationProducer
from tidings.settings import Settings

from .harness import BODY, Proc, deliveries, wait_stage

IDS_TIMES = {"event_id", "accepted_at", "source"}
PER_DELIVERY = {"delivery_id", "event_id", "requested_at"}


@pytest.fixture(scope="module")
def http(services: dict[str, Proc], seeded: Settings) -> Iterator[httpx.Client]:
    created = create_client(seeded, "acme", ["notifications:write", "notifications:read"])
    client = httpx.Client(
        base_url=services["ingest"].url, headers={"Authorization": f"Bearer {created.secret}"}
    )
    deadline = time.monotonic() + 30
    while client.get("/api/v1/notifications/probe").status_code == 401:
        assert time.monotonic() < deadline, "client never visible to ingest"
        time.sleep(0.2)
    yield client
    client.close()


@pytest.fixture(scope="module")
def library(seeded: Settings, direct: CreatedClient) -> Iterator[NotificationProducer]:
    assert direct.signing_key is not None
    with NotificationProducer(
        seeded, tenant="acme", client_id=direct.client.client_id, signing_key=direct.signing_key
    ) as producer:
        yield producer


def envelope(settings: Settings, event_id: str) -> dict[str, Any]:
    codec = Codec()
    for raw in scan(settings, Topics(settings).events.name, Selection(tenant="acme")):
        event = codec.decode(raw.value or b"", expect="event")[1]
        if event["event_id"] == event_id:
            return event
    raise AssertionError(f"{event_id} not on the events topic")


def test_library_and_http_events_have_identical_envelopes_but_ids_times_signatures(
    seeded: Settings, http: httpx.Client, library: NotificationProducer
) -> None:
    posted = http.post("/api/v1/notifications", json=BODY)
    assert posted.status_code == 202, posted.text
    produced = library.send(BODY)
    assert library.flush()[0].acknowledged
    a, b = envelope(seeded, posted.json()["id"]), envelope(seeded, produced)
    assert {k: v for k, v in a.items() if k not in IDS_TIMES} == {
        k: v for k, v in b.items() if k not in IDS_TIMES
    }
    assert a["source"]["reference"] == b["source"]["reference"]


def test_library_and_http_events_give_identical_delivery_requests(
    seeded: Settings, http: httpx.Client, library: NotificationProducer
) -> None:
    posted = http.post("/api/v1/notifications", json=BODY).json()["id"]
    produced = library.send(BODY)
    library.flush()
    for event_id in (posted, produced):
        wait_stage(seeded, "acme", event_id, {"dispatched"})

    def requests(event_id: str) -> list[dict[str, Any]]:
        found = [
            {k: v for k, v in d.items() if k not in PER_DELIVERY}
            for d in deliveries(seeded, event_id)
        ]
        return sorted(found, key=lambda d: (d["user_id"], d["channel"]))

    assert requests(posted) == requests(produced)
    assert len(requests(produced)) == 3  # u-1 in_app+email, u-2 in_app


REFUSED = [
    {**BODY, "tenant": "globex"},
    {**BODY, "type": "content.deleted"},
    {**BODY, "version": 9},
    {**BODY, "payload": {"content_id": 5}},
    {**BODY, "recipients": {}},
    {**BODY, "recipients": {"rules": [{"attribute": "a", "near": 1}]}},
    {**BODY, "payload": {"content_id": "x" * 70_000}},
]


@pytest.mark.parametrize("body", REFUSED, ids=lambda b: next(iter(set(b) ^ set(BODY)), "diff"))
def test_the_library_refuses_what_the_endpoint_refuses_with_the_same_code(
    http: httpx.Client, library: NotificationProducer, body: dict[str, Any]
) -> None:
    answer = http.post("/api/v1/notifications", json=body)
    with pytest.raises(TidingsError) as raised:
        library.send(body)
    assert (raised.value.status, raised.value.code) == (answer.status_code, answer.json()["code"])
