"""An event posted through ingest reaches `dispatched` over GET, with its delivery requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.support.pipeline import (
    Service,
    ServiceFactory,
    deliveries,
    ingest_client,
    load_users,
    until_dispatched,
)
from tidings.contracts.topics import Topics
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.ops.admin import create_client
from tidings.settings import Settings

BODY = {
    "type": "content.approved",
    "recipients": {"roles": ["editor"]},
    "payload": {"content_id": "c-1"},
}


@pytest.fixture(scope="module")
def api(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> Iterator[httpx.Client]:
    load_users(
        settings,
        [
            {
                "tenant": "acme",
                "id": "u1",
                "roles": ["editor"],
                "channels": {"email": "u1@x.test", "in_app": "u1"},
            },
            {"tenant": "acme", "id": "u2", "roles": ["editor"], "channels": {"in_app": "u2"}},
        ],
    )
    created = create_client(settings, "acme", [SCOPE_WRITE, SCOPE_READ])
    ingest: Service = start_service("ingest")
    start_service("resolver").wait_healthy()
    start_service("fanout").wait_healthy()
    with ingest_client(ingest, created.secret) as client:
        yield client


def test_posted_event_is_dispatched_and_visible_over_get(
    api: httpx.Client, settings: Settings
) -> None:
    response = api.post("/api/v1/notifications", json=BODY)
    assert response.status_code == 202, response.text
    event_id = response.json()["id"]
    state = until_dispatched(api, event_id)
    assert state["status"] == "dispatched"
    assert state["deliveries"] == {"email": 1, "in_app": 2}
    sent = Counter(
        (d["user_id"], d["channel"])
        for d in deliveries(settings, lambda d: d["event_id"] == event_id)
    )
    assert sent == Counter({("u1", "email"): 1, ("u1", "in_app"): 1, ("u2", "in_app"): 1})


def test_retried_post_with_the_same_key_sends_one_set(
    api: httpx.Client, settings: Settings
) -> None:
    headers = {"Idempotency-Key": "same-key-1"}
    first = api.post("/api/v1/notifications", json=BODY, headers=headers).json()["id"]
    second = api.post("/api/v1/notifications", json=BODY, headers=headers).json()["id"]
    assert first == second
    until_dispatched(api, first)
    sent = deliveries(settings, lambda d: d["event_id"] == first)
    assert len(sent) == 3
