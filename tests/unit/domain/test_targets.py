"""Targeting permissions: the recipient kinds and role/group names a client may use."""

from __future__ import annotations

import pytest

from tidings.domain.targets import (
    Target,
    parse_target,
    parse_targets,
    refusals,
    require_allowed,
    stored_targets,
)
from tidings.errors import RecipientsNotAllowed, ValidationFailed


def paths(targets: str, **scope: list[str]) -> list[str]:
    errors = refusals(
        parse_targets(targets.split()),
        scope.get("users", []),
        scope.get("roles", []),
        scope.get("groups", []),
        scope.get("rules", []),
    )
    return [e.path for e in errors]


def test_a_kind_alone_and_a_kind_with_a_pattern_parse() -> None:
    assert parse_target("users") == Target("users")
    assert parse_target("roles:ops-*") == Target("roles", "ops-*")
    assert str(parse_target("groups:legal")) == "groups:legal"


@pytest.mark.parametrize("text", ["people", "users:u-*", "rules:x", "roles:", ""])
def test_an_unknown_kind_a_pattern_on_users_or_rules_and_an_empty_pattern_are_refused(
    text: str,
) -> None:
    with pytest.raises(ValidationFailed):
        parse_target(text)


def test_no_targets_allow_every_kind() -> None:
    assert paths("", users=["u"], roles=["r"], groups=["g"], rules=[{"attribute": "a"}]) == []


def test_a_kind_not_listed_is_refused_as_a_whole() -> None:
    assert paths("users", users=["u"], roles=["a", "b"]) == ["recipients.roles"]


def test_rules_need_the_rules_target() -> None:
    assert paths("users roles", rules=[{"attribute": "a", "exists": True}]) == ["recipients.rules"]
    assert paths("rules", rules=[{"attribute": "a", "exists": True}]) == []


def test_a_pattern_allows_only_the_names_it_matches_each_refusal_by_index() -> None:
    assert paths("roles:ops-*", roles=["ops-1", "admin", "ops-2", "Ops-3"]) == [
        "recipients.roles[1]",
        "recipients.roles[3]",
    ]


def test_any_of_several_patterns_of_a_kind_allows_a_name() -> None:
    assert paths("groups:legal groups:hr-*", groups=["legal", "hr-eu", "sales"]) == [
        "recipients.groups[2]"
    ]


def test_a_kind_without_pattern_allows_every_name_of_it() -> None:
    assert paths("roles roles:ops-*", roles=["admin"]) == []


def test_a_pattern_for_roles_does_not_open_groups() -> None:
    assert paths("roles:*", groups=["legal"]) == ["recipients.groups"]


def test_require_allowed_is_403_recipients_not_allowed_listing_every_refusal() -> None:
    with pytest.raises(RecipientsNotAllowed) as caught:
        require_allowed(parse_targets(["users"]), [], ["r"], ["g"], [])
    assert caught.value.status == 403
    assert caught.value.code == "recipients_not_allowed"
    assert [e.path for e in caught.value.errors] == ["recipients.roles", "recipients.groups"]


def test_a_stored_target_that_does_not_parse_allows_nothing() -> None:
    targets = stored_targets(["bogus"])
    assert refusals(targets, ["u"], [], [], []) != []
