"""The per-tenant directory index: lookups never cross tenants, updates re-index."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tidings.domain.directory import Directory, DirectoryLine, User, in_org
from tidings.stores.directory import read_contact


def user(tenant: str, uid: str, **fields: object) -> User:
    return User.from_record({"tenant": tenant, "id": uid, **fields})


def test_a_user_is_found_only_in_its_own_tenant() -> None:
    d = Directory()
    d.put(user("acme", "u-1", roles=["editor"]))
    assert d.get("acme", "u-1") is not None
    assert d.get("globex", "u-1") is None
    assert not d.has_role("globex", "editor")


def test_role_and_group_members_follow_updates() -> None:
    d = Directory()
    d.put(user("acme", "u-1", roles=["editor"], groups=["legal"]))
    d.put(user("acme", "u-1", roles=["viewer"], groups=[]))
    assert d.role_members("acme", "editor") == []
    assert d.role_members("acme", "viewer") == ["u-1"]
    assert not d.has_group("acme", "legal")


def test_a_role_without_a_member_in_the_organization_is_unknown_to_it() -> None:
    d = Directory()
    d.put(user("acme", "u-1", roles=["editor"], groups=["legal"], orgs=["north"]))
    assert d.has_role("acme", "editor", "north")
    assert d.has_group("acme", "legal", "north")
    assert not d.has_role("acme", "editor", "south")
    assert not d.has_group("acme", "legal", "south")
    assert d.has_role("acme", "editor")  # a tenant-wide client sees every role


def test_delete_removes_the_user_and_its_memberships() -> None:
    d = Directory()
    d.put(user("acme", "u-1", roles=["editor"]))
    d.delete("acme", "u-1")
    assert d.get("acme", "u-1") is None
    assert not d.has_role("acme", "editor")


def test_users_snapshot_survives_concurrent_growth() -> None:
    d = Directory()
    d.put(user("acme", "u-1"))
    snapshot = d.users("acme")
    d.put(user("acme", "u-2"))
    assert [u.id for u in snapshot] == ["u-1"]


def test_absent_lists_are_empty_and_active_defaults_to_true() -> None:
    u = user("acme", "u-1")
    assert u.active
    assert u.roles == ()
    assert u.muted == frozenset()
    assert dict(u.channels) == {}


def test_record_round_trip_is_lossless() -> None:
    record = {
        "tenant": "acme",
        "id": "u-1",
        "active": False,
        "roles": ["editor"],
        "groups": ["legal"],
        "attributes": {"locale": "de"},
        "channels": {"email": "u1@example.com"},
        "muted": ["sms"],
        "orgs": ["north"],
    }
    assert User.from_record(record).to_record() == record


def test_version_counts_every_change() -> None:
    d = Directory()
    d.put(user("acme", "u-1"))
    d.delete("acme", "u-1")
    assert d.version == 2


def test_a_line_may_name_the_organizations_of_its_user_absent_means_none() -> None:
    line = DirectoryLine.model_validate({"tenant": "acme", "id": "u-1", "orgs": ["north"]})
    assert User.from_line(line).orgs == ("north",)
    assert User.from_line(DirectoryLine(tenant="acme", id="u-2")).orgs == ()


def test_an_organization_name_follows_the_id_syntax() -> None:
    with pytest.raises(ValidationError):
        DirectoryLine.model_validate({"tenant": "acme", "id": "u-1", "orgs": ["no spaces"]})


def test_a_tenant_wide_caller_reaches_every_known_user_an_organization_only_its_members() -> None:
    both = User.from_record({"tenant": "acme", "id": "b", "orgs": ["north", "south"]})
    neither = User.from_record({"tenant": "acme", "id": "n"})
    assert in_org(neither, None)
    assert in_org(both, None)
    assert in_org(both, "north")
    assert in_org(both, "south")
    assert not in_org(neither, "north")
    assert not in_org(None, None)  # unknown stays unknown


def test_a_contact_stored_before_organizations_belongs_to_none() -> None:
    legacy = read_contact(b'[true, {"email": "a@x"}, []]')  # [active, channels, muted]
    assert not in_org(legacy, "north")
    assert in_org(legacy, None)
    assert in_org(read_contact(b'[true, {}, [], ["north"]]'), "north")
