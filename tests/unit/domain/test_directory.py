"""The per-tenant directory index: lookups never cross tenants, updates re-index."""

from __future__ import annotations

from tidings.domain.directory import Directory, User


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
    }
    assert User.from_record(record).to_record() == record


def test_version_counts_every_change() -> None:
    d = Directory()
    d.put(user("acme", "u-1"))
    d.delete("acme", "u-1")
    assert d.version == 2
