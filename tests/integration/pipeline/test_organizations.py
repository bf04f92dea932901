"""Organizations and targeting permissions through the whole pipeline (ingest, resolver,
fan-out as processes on the real broker).

One tenant with two organizations, ``north`` and ``south``, and a user in each, in both and
in neither; every user has the same roles, groups and attributes, so what tells the audiences
apart is the organization alone. Clients of north, of south and tenant-wide send over HTTP;
direct producers of the same kinds sign records straight onto the events topic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.pipeline import (
    DirectProducer,
    ServiceFactory,
    load_users,
    read_topic,
    register_schemas,
    wait_states,
)
from tests.support.stack import wait_ingest_ready
from tidings.contracts.topics import Topics
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.ops.admin import create_client
from tidings.settings import Settings

TENANT = "acme"
MEMBERSHIP = {"n": ["north"], "s": ["south"], "b": ["north", "south"], "x": []}
REACH = {"north": {"n", "b"}, "south": {"s", "b"}, "wide": {"n", "s", "b", "x"}}
SCOPES = {
    "roles": {"roles": ["staff"]},
    "groups": {"groups": ["all"]},
    "rules": {"rules": [{"attribute": "site", "equals": "hq"}]},
    "everyone_rule": {"rules": [{"not": {"attribute": "nothing", "exists": True}}]},
}
ENDED = {"dispatched", "rejected", "failed"}
# An event type whose first resolution attempt fails transiently (test hook): the directory
# can change between acceptance and the resolution that counts.
DELAYED = "org.delayed"
DELAYED_SCHEMA = {
    "type": "record",
    "name": "Delayed",
    "fields": [{"name": "content_id", "type": "string"}],
}


def body(recipients: dict[str, Any], type_: str = "content.approved") -> dict[str, Any]:
    return {"type": type_, "recipients": recipients, "payload": {"content_id": "c"}}


def user_line(uid: str, orgs: list[str]) -> dict[str, Any]:
    return {
        "tenant": TENANT,
        "id": uid,
        "orgs": orgs,
        # a role of one organization's members only: unknown to every other organization
        "roles": ["staff", "ops-eu", *(f"only-{org}" for org in orgs if len(orgs) == 1)],
        "groups": ["all", "hr-eu"],
        "attributes": {"site": "hq"},
        "channels": {"in_app": uid},
    }


def without_request_id(response: httpx.Response) -> dict[str, Any]:
    problem = dict(response.json())
    problem.pop("request_id", None)
    return problem


@pytest.fixture(scope="module")
def url(pipeline: Topics, settings: Settings, start_service: ServiceFactory) -> str:
    load_users(settings, [user_line(uid, orgs) for uid, orgs in MEMBERSHIP.items()])
    register_schemas(settings, {DELAYED: DELAYED_SCHEMA})
    ingest = start_service("ingest")
    hooks = {
        "TIDINGS_TEST_HOOKS__FAULTS": json.dumps({DELAYED: 1}),
        "TIDINGS_PROCESSING__RETRY_BASE_MS": "8000",
    }
    start_service("resolver", **hooks).wait_healthy()
    start_service("fanout").wait_healthy()
    wait_ingest_ready(ingest)
    return f"http://127.0.0.1:{ingest.port}"


def http_client(settings: Settings, url: str, **options: Any) -> httpx.Client:
    created = create_client(
        settings, TENANT, [SCOPE_WRITE, SCOPE_READ], rate_per_second=1000.0, burst=1000, **options
    )
    auth = {"Authorization": f"Bearer {created.secret}"}
    return httpx.Client(base_url=url, headers=auth, timeout=30)


@pytest.fixture(scope="module")
def api(settings: Settings, url: str) -> Iterator[dict[str, httpx.Client]]:
    """A client of each organization and a tenant-wide one, by the name of what they reach."""
    clients = {
        "north": http_client(settings, url, org="north"),
        "south": http_client(settings, url, org="south"),
        "wide": http_client(settings, url),
    }
    yield clients
    for client in clients.values():
        client.close()


def post(client: httpx.Client, recipients: dict[str, Any]) -> httpx.Response:
    return client.post("/api/v1/notifications", json=body(recipients))


def accepted(client: httpx.Client, recipients: dict[str, Any]) -> str:
    response = post(client, recipients)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def reached(settings: Settings, event_ids: list[str]) -> dict[str, set[str]]:
    """Who each event's resolved chunks name (after every event ended)."""
    states = wait_states(settings, event_ids, ENDED)
    out: dict[str, set[str]] = {e: set() for e in event_ids}
    for _, chunk in read_topic(settings, Topics(settings).resolved.name):
        if chunk["event_id"] in out:
            out[chunk["event_id"]] |= {r["user_id"] for r in chunk["recipients"]}
    for event_id in event_ids:
        assert states[event_id]["stage"] == "dispatched", states[event_id]
    return out


def dead_letter(settings: Settings, event_id: str) -> dict[str, Any]:
    letters = [
        rec
        for _, rec in read_topic(settings, Topics(settings).dlq.name)
        if rec["event_id"] == event_id
    ]
    assert letters, f"no dead letter for {event_id}"
    return letters[-1]


# -- HTTP: listed users --------------------------------------------------------------------


@pytest.mark.parametrize("who", ["north", "south", "wide"])
@pytest.mark.parametrize("user", sorted(MEMBERSHIP))
def test_a_listed_user_outside_the_clients_organization_gets_the_unknown_user_answer(
    api: dict[str, httpx.Client], who: str, user: str
) -> None:
    response = post(api[who], {"users": [user]})
    if user in REACH[who]:
        assert response.status_code == 202, response.text
        return
    unknown = post(api[who], {"users": ["nobody"]})
    assert (response.status_code, unknown.status_code) == (422, 422)
    assert without_request_id(response) == without_request_id(unknown)
    assert response.json()["code"] == "invalid_recipients"


def test_listed_members_of_the_organization_are_reached(
    api: dict[str, httpx.Client], settings: Settings
) -> None:
    event_id = accepted(api["north"], {"users": ["n", "b"]})
    assert reached(settings, [event_id])[event_id] == {"n", "b"}


# -- HTTP: roles, groups, rules --------------------------------------------------------------


@pytest.fixture(scope="module")
def scoped(api: dict[str, httpx.Client], settings: Settings) -> dict[tuple[str, str], set[str]]:
    """Every client and every scope kind, sent at once; who each event reached."""
    ids = {
        (who, kind): accepted(client, recipients)
        for who, client in api.items()
        for kind, recipients in SCOPES.items()
    }
    found = reached(settings, list(ids.values()))
    return {case: found[event_id] for case, event_id in ids.items()}


@pytest.mark.parametrize("who", ["north", "south", "wide"])
@pytest.mark.parametrize("kind", sorted(SCOPES))
def test_roles_groups_and_rules_reach_members_of_the_clients_organization_only(
    scoped: dict[tuple[str, str], set[str]], who: str, kind: str
) -> None:
    assert scoped[(who, kind)] == REACH[who]


def test_a_role_with_no_member_in_the_organization_is_answered_as_unknown(
    api: dict[str, httpx.Client],
) -> None:
    """Groups alike (tests/unit/stores/test_directory.py): nothing tells a client of north
    which roles the rest of its tenant has."""
    assert post(api["south"], {"roles": ["only-south"]}).status_code == 202
    assert post(api["wide"], {"roles": ["only-south"]}).status_code == 202
    refused = post(api["north"], {"roles": ["only-south"]})
    unknown = post(api["north"], {"roles": ["nobody"]})
    assert (refused.status_code, unknown.status_code) == (422, 422)
    assert without_request_id(refused) == without_request_id(unknown)


# -- HTTP: reads ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def created_by(api: dict[str, httpx.Client], settings: Settings) -> dict[str, str]:
    """One event by each client, ended."""
    ids = {who: accepted(client, {"roles": ["staff"]}) for who, client in api.items()}
    wait_states(settings, ids.values(), ENDED)
    return ids


@pytest.mark.parametrize(
    ("creator", "reader", "visible"),
    [
        ("north", "north", True),
        ("north", "south", False),
        ("north", "wide", True),
        ("south", "south", True),
        ("south", "north", False),
        ("south", "wide", True),
        ("wide", "wide", True),
        ("wide", "north", False),
        ("wide", "south", False),
    ],
)
def test_get_sees_only_events_of_the_readers_organization_else_404_as_unknown(
    api: dict[str, httpx.Client],
    created_by: dict[str, str],
    creator: str,
    reader: str,
    visible: bool,
) -> None:
    response = api[reader].get(f"/api/v1/notifications/{created_by[creator]}")
    if visible:
        assert response.status_code == 200
        assert response.json()["id"] == created_by[creator]
        return
    unknown = api[reader].get("/api/v1/notifications/00000000-0000-4000-8000-000000000000")
    assert (response.status_code, unknown.status_code) == (404, 404)
    assert without_request_id(response) == without_request_id(unknown)


def test_an_event_is_visible_to_its_organization_while_still_accepted(
    api: dict[str, httpx.Client],
) -> None:
    """Before the resolver's first state: read from the recent events view, scoped alike."""
    event_id = accepted(api["north"], {"roles": ["staff"]})
    assert api["north"].get(f"/api/v1/notifications/{event_id}").status_code == 200
    assert api["south"].get(f"/api/v1/notifications/{event_id}").status_code == 404


def test_an_organizations_idempotency_keys_are_its_own(api: dict[str, httpx.Client]) -> None:
    """The same key in north, in south and tenant-wide names three events: no 422 and no
    replay of another organization's event, and no sign that the key was used elsewhere."""
    ids = {}
    for who, client in api.items():
        users = {"north": ["n"], "south": ["s"], "wide": ["x"]}[who]
        response = client.post(
            "/api/v1/notifications",
            json=body({"users": users}),
            headers={"Idempotency-Key": "org-scoped-key"},
        )
        assert response.status_code == 202, response.text
        assert "Idempotent-Replayed" not in response.headers
        ids[who] = response.json()["id"]
    assert len(set(ids.values())) == 3
    again = api["north"].post(
        "/api/v1/notifications",
        json=body({"users": ["n"]}),
        headers={"Idempotency-Key": "org-scoped-key"},
    )
    assert (again.status_code, again.json()["id"]) == (202, ids["north"])
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api["south"].post(
        "/api/v1/notifications",
        json=body({"users": ["b"]}),
        headers={"Idempotency-Key": "org-scoped-key"},
    )
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")


# -- HTTP: targeting permissions ------------------------------------------------------------


@pytest.fixture(scope="module")
def targeted(settings: Settings, url: str) -> Iterator[httpx.Client]:
    client = http_client(settings, url, targets=["users", "roles:ops-*", "groups:hr-*"])
    yield client
    client.close()


@pytest.mark.parametrize(
    ("recipients", "status", "refused"),
    [
        ({"users": ["n"]}, 202, []),
        ({"roles": ["ops-eu"]}, 202, []),
        ({"groups": ["hr-eu"]}, 202, []),
        ({"roles": ["staff"]}, 403, ["recipients.roles[0]"]),
        ({"groups": ["all"]}, 403, ["recipients.groups[0]"]),
        ({"rules": [{"attribute": "site", "exists": True}]}, 403, ["recipients.rules"]),
        (
            {"roles": ["ops-eu", "staff"], "groups": ["all"]},
            403,
            ["recipients.roles[1]", "recipients.groups[0]"],
        ),
        # before the directory is asked: a name outside the pattern is 403 even if unknown
        ({"roles": ["no-such-role"]}, 403, ["recipients.roles[0]"]),
    ],
)
def test_targets_allow_only_their_kinds_and_names(
    targeted: httpx.Client, recipients: dict[str, Any], status: int, refused: list[str]
) -> None:
    response = post(targeted, recipients)
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["code"] == "recipients_not_allowed"
        assert [e["path"] for e in response.json()["errors"]] == refused


def test_a_rules_only_client_may_not_list_users(settings: Settings, url: str) -> None:
    with http_client(settings, url, targets=["rules"]) as client:
        assert post(client, {"users": ["n"]}).json()["code"] == "recipients_not_allowed"
        assert post(client, {"rules": [{"attribute": "site", "exists": True}]}).status_code == 202


def test_a_refused_request_appends_nothing(settings: Settings, url: str) -> None:
    created = create_client(
        settings, TENANT, [SCOPE_WRITE], targets=["users"], rate_per_second=1000.0, burst=1000
    )
    auth = {"Authorization": f"Bearer {created.secret}"}
    with httpx.Client(base_url=url, headers=auth, timeout=30) as client:
        for _ in range(3):
            assert post(client, {"roles": ["staff"]}).status_code == 403
        assert post(client, {"users": ["n"]}).status_code == 202
    time.sleep(1)  # the 202's record is acknowledged; a refused one would be before it
    appended = [
        event
        for _, event in read_topic(settings, Topics(settings).events.name)
        if event is not None and event["source"]["client_id"] == created.client.client_id
    ]
    assert [event["recipients"]["users"] for event in appended] == [["n"]]


# -- the direct path ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def direct(url: str, settings: Settings) -> dict[str, DirectProducer]:
    """Direct producers (``url``: the stack runs); each signs with its own client's key."""
    return {
        "north": DirectProducer(settings, TENANT, org="north"),
        "south": DirectProducer(settings, TENANT, org="south"),
        "wide": DirectProducer(settings, TENANT),
        "ops_only": DirectProducer(settings, TENANT, targets=["roles:ops-*"]),
        "hr_only": DirectProducer(settings, TENANT, targets=["groups:hr-*"]),
        "users_only": DirectProducer(settings, TENANT, targets=["users"]),
        "rules_only": DirectProducer(settings, TENANT, targets=["rules"]),
        "delayed_only": DirectProducer(settings, TENANT, event_types=[DELAYED]),
        "read_only": DirectProducer(settings, TENANT, scopes=[SCOPE_READ]),
    }


def sent(producer: DirectProducer, recipients: dict[str, Any], **override: Any) -> str:
    envelope = {**producer.envelope(body(recipients)), **override}
    producer.send_envelope(envelope)
    producer.flush()
    return str(envelope["event_id"])


def test_a_direct_north_record_listing_a_south_user_is_rejected_and_reaches_nobody(
    direct: dict[str, DirectProducer], settings: Settings
) -> None:
    """As over HTTP (422 ``invalid_recipients``): the whole record is refused, not n alone
    reached, and the dead letter names the entry as an unknown user."""
    event_id = sent(direct["north"], {"users": ["s", "n"]})
    state = wait_states(settings, [event_id], ENDED)[event_id]
    assert (state["stage"], state["error_class"]) == ("rejected", "invalid_recipients")
    letter = dead_letter(settings, event_id)
    assert letter["error_class"] == "invalid_recipients"
    assert "recipients.users[0]: unknown user" in letter["detail"]
    assert "recipients.users[1]" not in letter["detail"]
    assert reached_nobody(settings, event_id)


@pytest.fixture(scope="module")
def direct_users(
    direct: dict[str, DirectProducer], settings: Settings
) -> dict[tuple[str, str], dict[str, Any]]:
    """Each direct producer of an organization or of the tenant lists each user once; every
    record sent at once, their final states."""
    ids = {
        (who, user): sent(direct[who], {"users": [user]})
        for who in ("north", "south", "wide")
        for user in MEMBERSHIP
    }
    states = wait_states(settings, ids.values(), ENDED)
    return {case: states[event_id] for case, event_id in ids.items()}


@pytest.mark.parametrize("who", ["north", "south", "wide"])
@pytest.mark.parametrize("user", sorted(MEMBERSHIP))
def test_a_direct_record_listing_a_user_outside_its_organization_is_rejected_as_unknown(
    direct_users: dict[tuple[str, str], dict[str, Any]], settings: Settings, who: str, user: str
) -> None:
    state = direct_users[(who, user)]
    if user in REACH[who]:
        assert state["stage"] == "dispatched", state
        assert reached(settings, [state["event_id"]])[state["event_id"]] == {user}
        return
    assert (state["stage"], state["error_class"]) == ("rejected", "invalid_recipients")
    letter = dead_letter(settings, state["event_id"])
    assert (letter["error_class"], letter["detail"]) == (
        "invalid_recipients",
        "recipients not found in this tenant (recipients.users[0]: unknown user)",
    )


@pytest.mark.parametrize(
    ("who", "recipients"),
    [
        ("north", {"roles": ["only-south"]}),
        ("north", {"groups": ["no-such-group"]}),
        ("wide", {"roles": ["no-such-role"]}),
    ],
)
def test_a_direct_record_naming_a_role_or_group_unknown_to_its_organization_is_rejected(
    direct: dict[str, DirectProducer], settings: Settings, who: str, recipients: dict[str, Any]
) -> None:
    event_id = sent(direct[who], recipients)
    state = wait_states(settings, [event_id], ENDED)[event_id]
    assert (state["stage"], state["error_class"]) == ("rejected", "invalid_recipients")
    assert reached_nobody(settings, event_id)


@pytest.mark.parametrize("kind", sorted(SCOPES))
@pytest.mark.parametrize("who", ["north", "south", "wide"])
def test_direct_scopes_resolve_inside_the_producers_organization(
    direct: dict[str, DirectProducer], settings: Settings, kind: str, who: str
) -> None:
    event_id = sent(direct[who], SCOPES[kind])
    assert reached(settings, [event_id])[event_id] == REACH[who]


def test_a_direct_record_claiming_another_organization_is_rejected(
    direct: dict[str, DirectProducer], settings: Settings
) -> None:
    event_id = sent(direct["north"], {"roles": ["staff"]}, org="south")
    state = wait_states(settings, [event_id], ENDED)[event_id]
    assert (state["stage"], state["error_class"]) == ("rejected", "origin_rejected")
    letter = dead_letter(settings, event_id)
    assert (letter["outcome"], letter["detail"]) == ("rejected", "org_mismatch")


@pytest.mark.parametrize(
    ("recipients", "allowed"),
    [
        ({"roles": ["ops-eu"]}, True),
        ({"roles": ["staff"]}, False),
        ({"groups": ["hr-eu"]}, False),
        ({"users": ["n"]}, False),
        ({"rules": [{"attribute": "site", "exists": True}]}, False),
    ],
)
def test_direct_records_outside_the_producers_targets_are_rejected_with_a_dead_letter(
    direct: dict[str, DirectProducer],
    settings: Settings,
    recipients: dict[str, Any],
    allowed: bool,
) -> None:
    event_id = sent(direct["ops_only"], recipients)
    state = wait_states(settings, [event_id], ENDED)[event_id]
    if allowed:
        assert state["stage"] == "dispatched"
        return
    assert (state["stage"], state["error_class"]) == ("rejected", "recipients_not_allowed")
    letter = dead_letter(settings, event_id)
    assert letter["error_class"] == "recipients_not_allowed"
    assert "recipients." in letter["detail"]


@pytest.fixture(scope="module")
def direct_targeted(
    direct: dict[str, DirectProducer], settings: Settings
) -> dict[tuple[str, str], dict[str, Any]]:
    """Producers limited to ``groups:hr-*``, ``users`` or ``rules``, each sending what its
    targets allow and what they do not, all at once; their final states."""
    ids = {
        (who, name): sent(direct[who], recipients)
        for who, cases in TARGETED.items()
        for name, (recipients, _) in cases.items()
    }
    states = wait_states(settings, ids.values(), ENDED)
    return {case: states[event_id] for case, event_id in ids.items()}


TARGETED: dict[str, dict[str, tuple[dict[str, Any], bool]]] = {
    "hr_only": {
        "hr-group": ({"groups": ["hr-eu"]}, True),
        "other-group": ({"groups": ["all"]}, False),
        "a-user": ({"users": ["n"]}, False),
    },
    "users_only": {
        "a-user": ({"users": ["n", "x"]}, True),
        "a-role": ({"roles": ["staff"]}, False),
        "a-rule": ({"rules": [{"attribute": "site", "equals": "hq"}]}, False),
    },
    "rules_only": {
        "a-rule": ({"rules": [{"attribute": "site", "equals": "hq"}]}, True),
        "a-user": ({"users": ["n"]}, False),
        "a-group": ({"groups": ["hr-eu"]}, False),
    },
}


@pytest.mark.parametrize(
    ("who", "case"), [(who, case) for who, cases in TARGETED.items() for case in cases]
)
def test_direct_targets_of_each_kind_accept_their_own_and_reject_the_rest(
    direct_targeted: dict[tuple[str, str], dict[str, Any]],
    settings: Settings,
    who: str,
    case: str,
) -> None:
    state = direct_targeted[(who, case)]
    if TARGETED[who][case][1]:
        assert state["stage"] == "dispatched", state
        assert reached(settings, [state["event_id"]])[state["event_id"]]
        return
    assert (state["stage"], state["error_class"]) == ("rejected", "recipients_not_allowed")
    assert dead_letter(settings, state["event_id"])["error_class"] == "recipients_not_allowed"
    assert reached_nobody(settings, state["event_id"])


def test_a_direct_record_of_a_type_outside_the_allow_list_is_rejected_as_forbidden(
    direct: dict[str, DirectProducer], settings: Settings
) -> None:
    """The endpoint's 403 ``forbidden`` for the same request, with the reason as detail."""
    event_id = sent(direct["delayed_only"], {"users": ["n"]})  # content.approved
    state = wait_states(settings, [event_id], ENDED)[event_id]
    assert (state["stage"], state["error_class"]) == ("rejected", "forbidden")
    assert dead_letter(settings, event_id)["detail"] == "type_not_allowed"
    assert reached_nobody(settings, event_id)


@pytest.fixture(scope="module")
def created_directly(direct: dict[str, DirectProducer], settings: Settings) -> dict[str, str]:
    """One event by each direct producer of an organization or of the tenant, ended."""
    ids = {who: sent(direct[who], {"roles": ["staff"]}) for who in ("north", "south", "wide")}
    wait_states(settings, ids.values(), ENDED)
    return ids


@pytest.mark.parametrize("creator", ["north", "south", "wide"])
@pytest.mark.parametrize("reader", ["north", "south", "wide"])
def test_get_of_a_direct_producers_event_follows_the_producers_organization(
    api: dict[str, httpx.Client], created_directly: dict[str, str], creator: str, reader: str
) -> None:
    response = api[reader].get(f"/api/v1/notifications/{created_directly[creator]}")
    if reader in (creator, "wide"):
        assert response.status_code == 200, response.text
        return
    unknown = api[reader].get("/api/v1/notifications/00000000-0000-4000-8000-000000000000")
    assert (response.status_code, unknown.status_code) == (404, 404)
    assert without_request_id(response) == without_request_id(unknown)


def test_a_read_only_signing_clients_records_are_rejected(
    direct: dict[str, DirectProducer], settings: Settings
) -> None:
    event_id = sent(direct["read_only"], {"users": ["n"]})
    state = wait_states(settings, [event_id], ENDED)[event_id]
    assert (state["stage"], state["error_class"]) == ("rejected", "forbidden")
    assert dead_letter(settings, event_id)["detail"] == "write_scope_missing"
    assert reached_nobody(settings, event_id)


def reached_nobody(settings: Settings, event_id: str) -> bool:
    chunks = read_topic(settings, Topics(settings).resolved.name)
    return not any(chunk["event_id"] == event_id for _, chunk in chunks)


# -- operator tools ---------------------------------------------------------------------------


def tidings(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
    }
    command = [sys.executable, "-c", "from tidings.cli.main import main; main()"]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def dump(settings: Settings, topic: str, *args: str) -> list[dict[str, Any]]:
    done = tidings(settings, "events", "dump", topic, "--format", "jsonl", *args)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line]


@pytest.mark.parametrize("creator", ["north", "wide"])
def test_trace_by_organization_finds_only_that_organizations_events(
    settings: Settings, created_by: dict[str, str], direct: dict[str, DirectProducer], creator: str
) -> None:
    """An HTTP event (its record names the org) and a direct one (attributed through its
    signer's client record): found with their own organization, exit 1 with another."""
    event_ids = [created_by[creator], sent(direct[creator], {"roles": ["staff"]})]
    wait_states(settings, event_ids, ENDED)
    for event_id in event_ids:
        found = tidings(settings, "trace", event_id, "--json", "--org", "north")
        if creator == "north":
            assert found.returncode == 0, found.stderr
            assert json.loads(found.stdout)["events"][0]["value"]["event_id"] == event_id
        else:
            assert found.returncode == 1, found.stdout
            assert found.stdout == ""
        assert tidings(settings, "trace", event_id, "--org", "south").returncode == 1


@pytest.mark.parametrize("topic", ["events", "state"])
def test_events_dump_by_organization_lists_only_that_organizations_events(
    settings: Settings, created_by: dict[str, str], direct: dict[str, DirectProducer], topic: str
) -> None:
    direct_north = sent(direct["north"], {"roles": ["staff"]})  # its record names no org
    wait_states(settings, [direct_north], ENDED)
    listed = {r["value"]["event_id"] for r in dump(settings, topic, "--org", "north")}
    assert {created_by["north"], direct_north} <= listed
    assert not listed & {created_by["south"], created_by["wide"]}


def test_membership_is_read_when_the_event_is_resolved_not_when_it_was_accepted(
    api: dict[str, httpx.Client], settings: Settings
) -> None:
    """x joins north after the event is accepted (its first attempt fails on purpose): the
    resolution that counts reaches x."""
    response = api["north"].post("/api/v1/notifications", json=body({"roles": ["staff"]}, DELAYED))
    assert response.status_code == 202, response.text
    event_id = response.json()["id"]
    # 8 s until the retry: the change below is applied long before it
    assert wait_states(settings, [event_id], {"retrying", *ENDED})[event_id]["stage"] == "retrying"
    load_users(settings, [user_line("x", ["north"])])
    try:
        assert reached(settings, [event_id])[event_id] == {"n", "b", "x"}
    finally:
        load_users(settings, [user_line("x", MEMBERSHIP["x"])])
