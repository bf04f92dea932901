"""Backpressure that tells the truth: with the resolver stopped, creates turn into 503
``backlog_exceeded`` with a Retry-After, and go back to 202 once it drains again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.pipeline import Service, ServiceFactory, ingest_client, load_users
from tidings.contracts.topics import Topics
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.ops.admin import create_client
from tidings.settings import Settings

URL = "/api/v1/notifications"
BODY = {"type": "content.approved", "recipients": {"users": ["u1"]}, "payload": {"content_id": "c"}}
STALLED = 5  # events a stopped resolver may have waiting before creates are refused
LOW_BOUND = {
    "TIDINGS_INGEST__BACKLOG_BOUND_S": "1",
    "TIDINGS_INGEST__BACKLOG_STALLED_EVENTS": str(STALLED),
    "TIDINGS_INGEST__BACKLOG_WINDOW_S": "3",
}


@pytest.fixture(scope="module")
def api(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> Iterator[httpx.Client]:
    load_users(settings, [{"tenant": "acme", "id": "u1", "channels": {"in_app": "u1"}}])
    created = create_client(settings, "acme", [SCOPE_WRITE, SCOPE_READ], rate_per_second=1000)
    ingest: Service = start_service("ingest", **LOW_BOUND)
    with ingest_client(ingest, created.secret) as client:
        yield client


def state(api: httpx.Client, event_id: str) -> dict[str, Any]:
    answer = api.get(f"{URL}/{event_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def until(check: Any, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_a_stopped_resolver_turns_creates_into_503_until_it_drains_again(
    api: httpx.Client, start_service: ServiceFactory
) -> None:
    resolver = start_service("resolver").wait_healthy()
    first = api.post(URL, json=BODY).json()["id"]
    until(lambda: state(api, first)["status"] != "accepted")  # resolved: its offset committed
    resolver.stop()

    accepted: list[str] = []

    def refused() -> httpx.Response | None:
        answer = api.post(URL, json=BODY)
        if answer.status_code == 202:
            accepted.append(answer.json()["id"])
            return None
        return answer

    answer = until(refused, timeout_s=30)
    assert answer.status_code == 503
    assert answer.json()["code"] == "backlog_exceeded"
    assert int(answer.headers["retry-after"]) >= 1
    assert len(accepted) > STALLED
    batch = api.post(f"{URL}/batch", json={"notifications": [{**BODY, "idempotency_key": "b-1"}]})
    assert (batch.status_code, batch.json()["code"]) == (503, "backlog_exceeded")

    waiting = [state(api, event_id) for event_id in accepted]
    assert {s["status"] for s in waiting} == {"accepted"}
    assert [s["position"] for s in waiting] == list(range(len(accepted)))
    assert {s["estimated_dispatch_at"] for s in waiting} == {None}  # nothing drains

    start_service("resolver").wait_healthy()
    again = until(lambda: (r := api.post(URL, json=BODY)).status_code == 202 and r)
    assert again.json()["status"] == "accepted"
    until(lambda: state(api, accepted[-1])["status"] != "accepted")
