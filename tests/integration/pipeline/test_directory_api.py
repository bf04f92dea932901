"""A directory changed over HTTP is what resolution reads: a PUT puts a user in a role's
audience, a DELETE takes them out of it, as a file load would."""

from __future__ import annotations

import time
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
from tidings.domain.clients import (
    SCOPE_DIRECTORY_READ,
    SCOPE_DIRECTORY_WRITE,
    SCOPE_READ,
    SCOPE_WRITE,
)
from tidings.ops.admin import create_client
from tidings.settings import Settings

USERS = "/api/v1/directory/users"
TO_REVIEWERS = {
    "type": "content.approved",
    "recipients": {"roles": ["reviewer"]},
    "payload": {"content_id": "c-1"},
}


@pytest.fixture(scope="module")
def api(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> Iterator[httpx.Client]:
    load_users(
        settings,
        [{"tenant": "acme", "id": "r1", "roles": ["reviewer"], "channels": {"in_app": "r1"}}],
    )
    scopes = [SCOPE_WRITE, SCOPE_READ, SCOPE_DIRECTORY_READ, SCOPE_DIRECTORY_WRITE]
    created = create_client(settings, "acme", scopes)
    ingest: Service = start_service("ingest")
    start_service("resolver").wait_healthy()
    start_service("fanout").wait_healthy()
    with ingest_client(ingest, created.secret) as client:
        yield client


def reached(api: httpx.Client, settings: Settings) -> set[str]:
    """Who one event to the reviewers reaches now."""
    answer = api.post("/api/v1/notifications", json=TO_REVIEWERS)
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["id"]
    assert until_dispatched(api, event_id)["status"] == "dispatched"
    return {d["user_id"] for d in deliveries(settings, lambda d: d["event_id"] == event_id)}


def reached_eventually(api: httpx.Client, settings: Settings, expected: set[str]) -> set[str]:
    # The resolver reads its directory view at processing time; the view applies a write
    # within its poll interval (as for a file load), usually before the next event arrives.
    deadline = time.monotonic() + 30
    users = reached(api, settings)
    while users != expected and time.monotonic() < deadline:
        users = reached(api, settings)
    return users


def test_a_put_changes_who_a_role_reaches_in_the_next_event(
    api: httpx.Client, settings: Settings
) -> None:
    assert reached(api, settings) == {"r1"}
    entry = {"roles": ["reviewer"], "channels": {"in_app": "r2"}}
    assert api.put(f"{USERS}/r2", json=entry).status_code == 200
    assert reached_eventually(api, settings, {"r1", "r2"}) == {"r1", "r2"}


def test_a_delete_takes_the_user_out_of_the_role(api: httpx.Client, settings: Settings) -> None:
    before = reached(api, settings)
    entry = {"roles": ["reviewer"], "channels": {"in_app": "r3"}}
    assert api.put(f"{USERS}/r3", json=entry).status_code == 200
    assert reached_eventually(api, settings, before | {"r3"}) == before | {"r3"}
    assert api.delete(f"{USERS}/r3").status_code == 200
    assert reached_eventually(api, settings, before) == before
