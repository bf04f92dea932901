"""Recipient resolution against an in-memory directory (no broker)."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.domain.directory import Directory, User
from tidings.domain.rules import parse_rules
from tidings.errors import InvalidRecipients
from tidings_resolver.resolution import (
    choose_channels,
    parse_stored_rules,
    policy_for,
    resolve,
)

CHANNELS = ["in_app", "email", "sms"]


def put(d: Directory, tenant: str, uid: str, **fields: Any) -> None:
    record = {
        "tenant": tenant,
        "id": uid,
        "channels": {"in_app": uid, "email": f"{uid}@x"},
        **fields,
    }
    d.put(User.from_record(record))


@pytest.fixture
def directory() -> Directory:
    d = Directory()
    put(d, "acme", "u1", roles=["editor"], groups=["legal"], attributes={"dept": "legal"})
    put(d, "acme", "u2", roles=["editor"], active=False)
    put(d, "acme", "u3", groups=["legal"], muted=["email"])
    put(d, "acme", "u4", roles=["viewer"], channels={})
    put(d, "acme", "u5", roles=["viewer"], channels={"email": "e"}, muted=["email"])
    put(d, "globex", "u1", roles=["editor"])
    put(d, "globex", "g1", roles=["editor"])
    return d


def ids(directory: Directory, **scope: Any) -> dict[str, tuple[str, ...]]:
    result = resolve(
        "acme",
        scope.get("users", []),
        scope.get("roles", []),
        scope.get("groups", []),
        parse_rules(scope.get("rules", [])),
        directory,
        CHANNELS,
    )
    return {r.user_id: r.matched_by for r in result.recipients}


def test_each_user_appears_once_with_every_scope_that_matched(directory: Directory) -> None:
    matched = ids(
        directory,
        users=["u1"],
        roles=["editor"],
        groups=["legal"],
        rules=[{"attribute": "dept", "equals": "legal"}],
    )
    assert matched["u1"] == ("user", "role:editor", "group:legal", "rule:0")


def test_other_tenant_user_is_unknown(directory: Directory) -> None:
    result = resolve("acme", ["g1"], ["editor"], [], [], directory, CHANNELS)
    assert [r.user_id for r in result.recipients] == ["u1"]
    assert result.skipped == {"unknown": 1, "inactive": 1}


def test_skip_reasons_are_counted_once_per_user(directory: Directory) -> None:
    result = resolve("acme", ["u4", "u5", "u2"], ["viewer"], [], [], directory, CHANNELS)
    assert result.recipients == []
    assert result.skipped == {"no_address": 1, "muted": 1, "inactive": 1}


def test_muted_channel_is_dropped_and_others_kept(directory: Directory) -> None:
    user = directory.get("acme", "u3")
    assert user is not None
    assert choose_channels(user, CHANNELS) == ({"in_app": "u3"}, None)


def test_policy_of_the_type_wins_over_the_default() -> None:
    policy = {"content.approved": ["email", "fax"], "*": ["in_app"]}
    assert policy_for("content.approved", policy, CHANNELS) == ["email"]
    assert policy_for("other", policy, CHANNELS) == ["in_app"]


def test_chunks_split_recipients_in_order(directory: Directory) -> None:
    for i in range(7):
        put(directory, "acme", f"m{i}", roles=["many"])
    result = resolve("acme", [], ["many"], [], [], directory, CHANNELS)
    chunks = list(result.chunks(3))
    assert result.chunk_count(3) == 3
    assert [len(c) for c in chunks] == [3, 3, 1]


def test_stored_rules_that_do_not_parse_are_refused() -> None:
    with pytest.raises(InvalidRecipients):
        parse_stored_rules(['{"attribute": "a"}'])


@pytest.fixture
def orgs() -> Directory:
    """North, south, both and neither: one of each in every role, group and rule."""
    d = Directory()
    for uid, member_of in (
        ("n", ["north"]),
        ("s", ["south"]),
        ("b", ["north", "south"]),
        ("x", []),
    ):
        put(d, "acme", uid, roles=["staff"], groups=["all"], attributes={"k": "v"}, orgs=member_of)
    return d


def audience(directory: Directory, org: str | None, **scope: Any) -> tuple[set[str], int]:
    result = resolve(
        "acme",
        scope.get("users", []),
        scope.get("roles", []),
        scope.get("groups", []),
        parse_rules(scope.get("rules", [])),
        directory,
        CHANNELS,
        org=org,
    )
    return {r.user_id for r in result.recipients}, result.skipped["unknown"]


@pytest.mark.parametrize(
    "scope",
    [
        {"roles": ["staff"]},
        {"groups": ["all"]},
        {"rules": [{"attribute": "k", "equals": "v"}]},
        {"rules": [{"not": {"attribute": "x", "exists": True}}]},
    ],
)
@pytest.mark.parametrize(
    ("org", "reached"),
    [("north", {"n", "b"}), ("south", {"s", "b"}), (None, {"n", "s", "b", "x"})],
)
def test_scopes_reach_members_of_the_events_organization_only(
    orgs: Directory, scope: dict[str, Any], org: str | None, reached: set[str]
) -> None:
    assert audience(orgs, org, **scope) == (reached, 0)


def test_a_listed_user_outside_the_organization_counts_as_unknown(orgs: Directory) -> None:
    assert audience(orgs, "north", users=["n", "s", "b", "x", "nobody"]) == ({"n", "b"}, 3)


def test_a_listed_outsider_also_in_a_role_is_still_unknown_and_not_reached(orgs: Directory) -> None:
    assert audience(orgs, "south", users=["n"], roles=["staff"]) == ({"s", "b"}, 1)
