"""Events produced straight to the events topic reach exactly the right recipients."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from tests.support.pipeline import (
    DirectProducer,
    ServiceFactory,
    deliveries,
    load_users,
    read_topic,
    wait_states,
)
from tidings.contracts.topics import Topics
from tidings.settings import Settings

ALL = {"email": "{}@acme.test", "in_app": "{}", "sms": "+1555{}"}


def user(tenant: str, uid: str, **fields: Any) -> dict[str, Any]:
    channels = fields.pop("channels", {c: a.format(uid) for c, a in ALL.items()})
    return {"tenant": tenant, "id": uid, "channels": channels, **fields}


USERS = [
    user("acme", "u1", roles=["editor"], groups=["legal"], attributes={"dept": "legal"}),
    user(
        "acme",
        "u2",
        roles=["editor"],
        attributes={"dept": "eng"},
        channels={"email": "u2@acme.test", "in_app": "u2"},
    ),
    user(
        "acme",
        "u3",
        roles=["viewer"],
        groups=["legal"],
        attributes={"dept": "legal"},
        muted=["email"],
    ),
    user("acme", "u4", roles=["editor"], active=False, attributes={"dept": "legal"}),
    user("acme", "u5", roles=["viewer"], channels={}),
    user("acme", "u6", channels={"email": "u6@acme.test"}, muted=["email"]),
    user("globex", "u1", roles=["editor"], groups=["legal"], attributes={"dept": "legal"}),
    user("globex", "g1", roles=["editor"]),
]


@pytest.fixture(scope="module")
def acme(pipeline: Topics, settings: Settings, start_service: ServiceFactory) -> DirectProducer:
    load_users(settings, USERS)
    start_service("resolver").wait_healthy()
    start_service("fanout").wait_healthy()
    return DirectProducer(settings, "acme")


@pytest.fixture(scope="module")
def vouched(acme: DirectProducer, settings: Settings) -> DirectProducer:
    """Records the ingest accepted: whoever they list that the directory lacks by the time
    they are resolved is skipped (a direct producer's record listing them is rejected)."""
    return DirectProducer(settings, "acme", as_ingest=True)


def run(
    acme: DirectProducer, settings: Settings, **recipients: Any
) -> tuple[dict[str, Any], Counter[tuple[str, str]]]:
    event_id = acme.send(
        {"type": "content.approved", "recipients": recipients, "payload": {"content_id": "c-1"}}
    )
    acme.flush()
    state = wait_states(settings, [event_id], {"dispatched", "failed", "rejected"})[event_id]
    sent = deliveries(settings, lambda d: d["event_id"] == event_id)
    return state, Counter((d["user_id"], d["channel"]) for d in sent)


def test_listed_user_gets_every_policy_channel(acme: DirectProducer, settings: Settings) -> None:
    state, sent = run(acme, settings, users=["u1"])
    assert sent == Counter({("u1", "email"): 1, ("u1", "in_app"): 1, ("u1", "sms"): 1})
    assert state["stage"] == "dispatched"
    assert state["deliveries"] == {"email": 1, "in_app": 1, "sms": 1}


def test_role_reaches_active_members_of_the_tenant_only(
    acme: DirectProducer, settings: Settings
) -> None:
    state, sent = run(acme, settings, roles=["editor"])
    assert set(sent) == {
        ("u1", "email"),
        ("u1", "in_app"),
        ("u1", "sms"),
        ("u2", "email"),
        ("u2", "in_app"),
    }
    assert max(sent.values()) == 1
    assert state["recipients"] == 2
    assert state["skipped"] == {"inactive": 1}


def test_group_members_are_reached(acme: DirectProducer, settings: Settings) -> None:
    _, sent = run(acme, settings, groups=["legal"])
    assert {u for u, _ in sent} == {"u1", "u3"}


def test_rule_matches_by_attribute(acme: DirectProducer, settings: Settings) -> None:
    state, sent = run(acme, settings, rules=[{"attribute": "dept", "equals": "legal"}])
    assert {u for u, _ in sent} == {"u1", "u3"}
    assert state["skipped"] == {"inactive": 1}


def test_overlapping_scopes_reach_a_user_once_naming_every_scope(
    acme: DirectProducer, settings: Settings
) -> None:
    state, sent = run(
        acme,
        settings,
        users=["u1"],
        roles=["editor"],
        groups=["legal"],
        rules=[{"attribute": "dept", "equals": "legal"}],
    )
    assert max(sent.values()) == 1
    assert {u for u, _ in sent} == {"u1", "u2", "u3"}
    chunks = [
        rec
        for _, rec in read_topic(settings, Topics(settings).resolved.name)
        if rec["event_id"] == state["event_id"]
    ]
    by_user = {r["user_id"]: r["matched_by"] for c in chunks for r in c["recipients"]}
    assert by_user["u1"] == ["user", "role:editor", "group:legal", "rule:0"]


def test_other_tenant_users_are_never_reached(vouched: DirectProducer, settings: Settings) -> None:
    state, sent = run(vouched, settings, users=["g1"], roles=["editor"])
    everything = deliveries(settings)
    assert all(d["tenant"] == "acme" for d in everything)
    assert ("g1", "in_app") not in sent
    assert state["skipped"]["unknown"] == 1


def test_zero_recipients_end_dispatched_with_the_reasons(
    vouched: DirectProducer, settings: Settings
) -> None:
    state, sent = run(vouched, settings, users=["u4", "u5", "u6", "nobody"])
    assert sent == Counter()
    assert state["stage"] == "dispatched"
    assert state["recipients"] == 0
    assert state["skipped"] == {"inactive": 1, "no_address": 1, "muted": 1, "unknown": 1}
    assert "no recipients" in state["detail"]


def test_muted_channel_is_dropped(acme: DirectProducer, settings: Settings) -> None:
    _, sent = run(acme, settings, users=["u3"])
    assert set(sent) == {("u3", "in_app"), ("u3", "sms")}


def test_directory_change_is_seen_at_processing_time(
    acme: DirectProducer, settings: Settings
) -> None:
    before, _ = run(acme, settings, users=["u1"])
    load_users(settings, [user("acme", "u7", roles=["late"])])
    deadline = time.monotonic() + 30
    while True:  # the resolver's view applies the new entry within its poll interval
        state, sent = run(acme, settings, roles=["late"])
        if sent or time.monotonic() > deadline:
            break
    assert set(sent) == {("u7", "email"), ("u7", "in_app"), ("u7", "sms")}
    assert state["directory_offset"] > before["directory_offset"]
