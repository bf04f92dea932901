"""Organizations on the ingest's reads and batches: the list (``GET /api/v1/notifications``)
and the SSE stream show a client of north, of south or of the whole tenant exactly what GET
shows it (its organization's events; a tenant-wide client every event of the tenant), and a
batch is checked item by item with its client's organization and targets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.ingest import IngestProcess, new_client
from tests.support.pipeline import ServiceFactory
from tests.support.sse import Stream
from tidings.ops.admin import CreatedClient, load_directory

URL = "/api/v1/notifications"
ORG_USERS = [
    '{"tenant": "acme", "id": "n", "orgs": ["north"], "roles": ["staff"],'
    ' "channels": {"in_app": "n"}}',
    '{"tenant": "acme", "id": "s", "orgs": ["south"], "roles": ["staff"],'
    ' "channels": {"in_app": "s"}}',
]
USER_OF = {"north": "n", "south": "s", "wide": "n"}
WHO = ("north", "south", "wide")


def visible(creator: str, reader: str) -> bool:
    return reader in (creator, "wide")


@pytest.fixture(scope="module")
def clients(ingest: IngestProcess, start_service: ServiceFactory) -> dict[str, CreatedClient]:
    load_directory(ingest.settings, ORG_USERS)
    start_service("resolver").wait_healthy()
    start_service("fanout").wait_healthy()
    return {
        "north": new_client(ingest, org="north"),
        "south": new_client(ingest, org="south"),
        "wide": new_client(ingest),
    }


@pytest.fixture(scope="module")
def api(
    ingest: IngestProcess, clients: dict[str, CreatedClient]
) -> Iterator[dict[str, httpx.Client]]:
    opened = {who: ingest.client(created.secret) for who, created in clients.items()}
    yield opened
    for client in opened.values():
        client.close()


def create(client: httpx.Client, who: str, reference: str) -> str:
    body = {
        "type": "content.approved",
        "recipients": {"users": [USER_OF[who]]},
        "payload": {"content_id": "c"},
        "source": {"reference": reference},
    }
    response = client.post(URL, json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


@pytest.fixture(scope="module")
def listed_events(api: dict[str, httpx.Client]) -> tuple[str, dict[str, str]]:
    reference = f"orgs-{uuid.uuid4().hex[:8]}"
    return reference, {who: create(api[who], who, reference) for who in WHO}


@pytest.mark.parametrize("reader", WHO)
def test_the_list_shows_only_the_readers_organizations_events(
    api: dict[str, httpx.Client], listed_events: tuple[str, dict[str, str]], reader: str
) -> None:
    reference, created = listed_events
    response = api[reader].get(URL, params={"source_reference": reference})
    assert response.status_code == 200, response.text
    listed = {entry["id"] for entry in response.json()["notifications"]}
    assert listed == {created[c] for c in WHO if visible(c, reader)}


@pytest.mark.parametrize("reader", WHO)
def test_the_list_by_status_shows_only_the_readers_organizations_events(
    api: dict[str, httpx.Client], listed_events: tuple[str, dict[str, str]], reader: str
) -> None:
    """Once resolved, through the state index rather than the recent events."""
    reference, created = listed_events
    expected = {created[c] for c in WHO if visible(c, reader)}
    deadline, listed = time.monotonic() + 60, set()
    while time.monotonic() < deadline:
        params = {"source_reference": reference, "status": "dispatched"}
        listed = {e["id"] for e in api[reader].get(URL, params=params).json()["notifications"]}
        if listed >= expected:
            break
        time.sleep(0.3)
    assert listed == expected


@pytest.mark.parametrize("reader", WHO)
def test_the_stream_sends_only_the_readers_organizations_state_changes(
    ingest: IngestProcess,
    api: dict[str, httpx.Client],
    clients: dict[str, CreatedClient],
    reader: str,
) -> None:
    stream = Stream(ingest, clients[reader].secret).open(status="dispatched")
    try:
        reference = f"sse-{uuid.uuid4().hex[:8]}"
        created = {who: create(api[who], who, reference) for who in WHO}
        expected = {created[c] for c in WHO if visible(c, reader)}
        got = stream.take_until(lambda got: {e.data["id"] for e in got} >= expected)
        # every event has ended by now (each is dispatched for its own creator's GET):
        # a change the reader may not see would have been sent already
        for who, event_id in created.items():
            until_dispatched(api[who], event_id)
        time.sleep(1.5)
        while not stream.events.empty():
            got.append(stream.events.get_nowait())
    finally:
        stream.close()
    assert {e.data["id"] for e in got} & set(created.values()) == expected


def until_dispatched(client: httpx.Client, event_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if client.get(f"{URL}/{event_id}").json().get("status") == "dispatched":
            return
        time.sleep(0.2)
    raise AssertionError(f"{event_id} not dispatched")


def item(users: list[str] | None = None, **recipients: Any) -> dict[str, Any]:
    return {
        "type": "content.approved",
        "recipients": {**({"users": users} if users else {}), **recipients},
        "payload": {"content_id": "c"},
    }


def batch(client: httpx.Client, *items: dict[str, Any]) -> httpx.Response:
    return client.post(f"{URL}/batch", json={"notifications": list(items)})


def test_a_batch_of_an_organizations_client_reaches_only_its_members(
    api: dict[str, httpx.Client],
) -> None:
    """An item listing a user outside north refuses the whole batch as an unknown user."""
    accepted = batch(api["north"], item(["n"]), item(roles=["staff"]))
    assert accepted.status_code == 202, accepted.text
    refused = batch(api["north"], item(["n"]), item(["s"]))
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_recipients")
    assert [e["path"] for e in refused.json()["errors"]] == ["/notifications/1/recipients/users/0"]
    for event in accepted.json()["notifications"]:
        assert api["south"].get(f"{URL}/{event['id']}").status_code == 404


def test_a_batch_item_outside_the_clients_targets_is_403_and_nothing_is_appended(
    ingest: IngestProcess, clients: dict[str, CreatedClient]
) -> None:
    targeted = new_client(ingest, org="north", targets=["users"])
    reference = f"batch-{uuid.uuid4().hex[:8]}"
    with ingest.client(targeted.secret) as client:
        ok, denied = item(["n"]), item(roles=["staff"])
        ok["source"] = denied["source"] = {"reference": reference}
        refused = batch(client, ok, denied)
        # the single create's answer, with the refused entry named by its pointer
        assert (refused.status_code, refused.json()["code"]) == (403, "recipients_not_allowed")
        paths = [e["path"] for e in refused.json()["errors"]]
        assert paths == ["/notifications/1/recipients/roles"]
        assert client.get(URL, params={"source_reference": reference}).json() == {
            "notifications": [],
            "next_cursor": None,
        }
        assert batch(client, ok).status_code == 202
