"""The directory in local stores (``tidings.stores.directory``) answers exactly as the
in-memory reference ``Directory`` does: lookups, scopes, rule matches and whole resolutions,
on random directories changed by random updates and deletions (hypothesis)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import partition_for
from tidings.contracts.topics import TopicSpec, user_key
from tidings.domain.directory import Contact, Directory, User
from tidings.domain.rules import All, AnyOf, Equals, Exists, In, Not, Rule, matches
from tidings.stores.cache import HotCache
from tidings.stores.changelog import Change, ChangelogStores
from tidings.stores.directory import DirectoryTable, StoreDirectory, index_entries
from tidings.stores.kv import index_key
from tidings_resolver.resolution import resolve

CODEC = Codec()
PARTITIONS = 3
SPEC = TopicSpec("t.directory", "directory_entry", PARTITIONS, {"cleanup.policy": "compact"})
TENANTS = ("acme", "globex")
NAMES = ("dept", "plan", "locale")
VALUES = ("", "a", "b", "c/d", "100%")


@contextmanager
def store_directory(hot: int = 16) -> Iterator[tuple[StoreDirectory, ChangelogStores]]:
    with tempfile.TemporaryDirectory() as root:
        cache: HotCache[bytes, User] = HotCache(hot)
        stores = ChangelogStores(Path(root), "directory", SPEC, DirectoryTable(CODEC, cache))
        stores.open(range(PARTITIONS), {})
        try:
            yield StoreDirectory(stores, CODEC, cache), stores
        finally:
            stores.close_all()


class Log:
    """Writes both directories the same way: the topic's records, applied in order."""

    def __init__(self, memory: Directory, stores: ChangelogStores) -> None:
        self.memory, self.stores = memory, stores
        self.offsets = [0] * PARTITIONS

    def put(self, record: dict[str, Any]) -> None:
        self.memory.put(User.from_record(record))
        key = user_key(record["tenant"], record["id"])
        self._apply(key, CODEC.encode("directory_entry", record))

    def delete(self, tenant: str, user_id: str) -> None:
        self.memory.delete(tenant, user_id)
        self._apply(user_key(tenant, user_id), None)

    def _apply(self, key: bytes, value: bytes | None) -> None:
        partition = partition_for(key, PARTITIONS)
        offset = self.offsets[partition]
        self.offsets[partition] += 1
        assert self.stores.apply([Change(partition, offset, key, value)]) == []


users = st.fixed_dictionaries(
    {
        "tenant": st.sampled_from(TENANTS),
        "id": st.sampled_from([f"u{i}" for i in range(12)]),
        "active": st.booleans(),
        "roles": st.lists(st.sampled_from(["admin", "editor", "viewer"]), unique=True),
        "groups": st.lists(st.sampled_from(["legal", "ops"]), max_size=2, unique=True),
        "attributes": st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES)),
        "channels": st.dictionaries(
            st.sampled_from(["email", "sms", "in_app"]), st.just("addr"), max_size=3
        ),
        "muted": st.lists(st.sampled_from(["email", "sms"]), unique=True),
        "orgs": st.lists(st.sampled_from(["north", "south"]), unique=True),
    }
)
operations = st.lists(
    st.one_of(
        users.map(lambda u: ("put", u)),
        st.tuples(st.sampled_from(TENANTS), st.sampled_from([f"u{i}" for i in range(12)])).map(
            lambda t: ("delete", {"tenant": t[0], "id": t[1]})
        ),
    ),
    max_size=40,
)
leaves: st.SearchStrategy[Rule] = st.one_of(
    st.builds(Equals, st.sampled_from(NAMES), st.sampled_from(VALUES)),
    st.builds(In, st.sampled_from(NAMES), st.frozensets(st.sampled_from(VALUES), min_size=1)),
    st.builds(Exists, st.sampled_from(NAMES)),
)
rules: st.SearchStrategy[Rule] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(Not, inner),
        st.lists(inner, min_size=1, max_size=3).map(lambda rs: All(tuple(rs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda rs: AnyOf(tuple(rs))),
    ),
    max_leaves=6,
)
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(ops: list[tuple[str, dict[str, Any]]], log: Log) -> None:
    for op, record in ops:
        if op == "put":
            log.put(record)
        else:
            log.delete(record["tenant"], record["id"])


def as_record(user: User | None) -> dict[str, Any] | None:
    return None if user is None else user.to_record()


def contact(found: Contact | None) -> tuple[bool, dict[str, str], list[str]] | None:
    if found is None:
        return None
    return found.active, dict(found.channels), sorted(found.muted)


@EXAMPLES
@given(operations, st.lists(rules, min_size=1, max_size=4))
def test_rule_matches_by_index_are_the_users_matches_selects(
    ops: list[tuple[str, dict[str, Any]]], chosen: list[Rule]
) -> None:
    memory = Directory()
    with store_directory() as (stored, stores):
        build(ops, Log(memory, stores))
        for tenant in TENANTS:
            for rule in chosen:
                expected = {u.id for u in memory.users(tenant) if matches(rule, u.attributes)}
                assert stored.matching(tenant, rule) == expected, rule


@EXAMPLES
@given(operations)
def test_lookups_and_scopes_answer_as_the_in_memory_directory(
    ops: list[tuple[str, dict[str, Any]]],
) -> None:
    memory = Directory()
    with store_directory() as (stored, stores):
        build(ops, Log(memory, stores))
        ids = [f"u{i}" for i in range(12)]
        for tenant in TENANTS:
            for uid in ids:
                assert as_record(stored.get(tenant, uid)) == as_record(memory.get(tenant, uid))
            assert [contact(u) for u in stored.contacts(tenant, ids)] == [
                contact(u) for u in memory.contacts(tenant, ids)
            ]
            for role in ("admin", "editor", "viewer", "nobody"):
                assert stored.role_members(tenant, role) == memory.role_members(tenant, role)
                for org in (None, "north", "south"):
                    found = stored.has_role(tenant, role, org)
                    assert found == memory.has_role(tenant, role, org), (role, org)
            for group in ("legal", "ops", "nobody"):
                assert stored.group_members(tenant, group) == memory.group_members(tenant, group)
                for org in (None, "north", "south"):
                    found = stored.has_group(tenant, group, org)
                    assert found == memory.has_group(tenant, group, org), (group, org)
            assert stored.count(tenant) == memory.count(tenant)
            assert sorted(u.id for u in stored.users(tenant)) == sorted(
                u.id for u in memory.users(tenant)
            )
        assert stored.count() == memory.count()
        assert stored.tenants() == [t for t in memory.tenants() if memory.count(t)]


@EXAMPLES
@given(operations, st.lists(rules, max_size=2))
def test_a_resolution_is_the_same_from_the_stores(
    ops: list[tuple[str, dict[str, Any]]], chosen: list[Rule]
) -> None:
    memory = Directory()
    with store_directory() as (stored, stores):
        build(ops, Log(memory, stores))
        listed, channels = ["u1", "u2", "u11", "nobody"], ["email", "in_app"]
        for tenant in TENANTS:
            a = resolve(tenant, listed, ["editor"], ["legal"], chosen, memory, channels)
            b = resolve(tenant, listed, ["editor"], ["legal"], chosen, stored, channels)
            assert a == b


def test_an_update_moves_a_user_between_index_entries() -> None:
    memory = Directory()
    with store_directory() as (stored, stores):
        log = Log(memory, stores)
        base = {"tenant": "acme", "id": "u1", "roles": ["admin"], "attributes": {"dept": "a"}}
        log.put(base)
        log.put({**base, "roles": ["viewer"], "attributes": {"dept": "b"}})
        assert stored.role_members("acme", "admin") == []
        assert stored.role_members("acme", "viewer") == ["u1"]
        assert stored.matching("acme", Equals("dept", "a")) == set()
        assert stored.matching("acme", Equals("dept", "b")) == {"u1"}


def test_organisations_are_indexed_when_a_record_carries_them() -> None:
    record: dict[str, Any] = {"tenant": "acme", "id": "u1", "orgs": ["north"], "roles": []}
    assert index_key("org", "acme", "north", member="u1") in index_entries(record)
    assert not any(b"i/org/" in key for key in index_entries({**record, "orgs": []}))
    assert not any(b"i/org/" in key for key in index_entries({"tenant": "acme", "id": "u1"}))


def test_a_role_exists_for_an_organization_only_while_one_of_its_members_is_in_it() -> None:
    memory = Directory()
    with store_directory() as (stored, stores):
        log = Log(memory, stores)
        log.put({"tenant": "acme", "id": "u1", "orgs": ["north"], "roles": ["staff"]})
        log.put({"tenant": "acme", "id": "u2", "orgs": [], "groups": ["hr"]})
        assert stored.has_role("acme", "staff", "north")
        assert not stored.has_role("acme", "staff", "south")  # as unknown as "nobody"
        assert stored.has_group("acme", "hr")
        assert not stored.has_group("acme", "hr", "north")
        log.put({"tenant": "acme", "id": "u1", "orgs": ["south"], "roles": ["staff"]})
        assert not stored.has_role("acme", "staff", "north")
        assert stored.has_role("acme", "staff", "south")
        log.delete("acme", "u1")
        assert not stored.has_role("acme", "staff", "south")


def test_a_cached_user_is_replaced_when_the_view_applies_a_newer_record() -> None:
    memory = Directory()
    with store_directory() as (stored, stores):
        log = Log(memory, stores)
        log.put({"tenant": "acme", "id": "u1", "active": True})
        first = stored.get("acme", "u1")
        assert first is not None
        assert first.active
        log.put({"tenant": "acme", "id": "u1", "active": False})
        again = stored.get("acme", "u1")
        assert again is not None
        assert not again.active
        log.delete("acme", "u1")
        assert stored.get("acme", "u1") is None


def test_a_user_in_an_unexpected_partition_is_still_found() -> None:
    with store_directory() as (stored, stores):
        key = user_key("acme", "stray")
        other = (partition_for(key, PARTITIONS) + 1) % PARTITIONS
        record = {"tenant": "acme", "id": "stray", "channels": {"email": "e"}}
        stores.apply([Change(other, 0, key, CODEC.encode("directory_entry", record))])
        assert stored.get("acme", "stray") is not None
        assert stored.contacts("acme", ["stray"])[0] is not None


@pytest.mark.parametrize("hot", [0, 4])
def test_reads_are_the_same_with_or_without_the_hot_cache(hot: int) -> None:
    memory = Directory()
    with store_directory(hot) as (stored, stores):
        log = Log(memory, stores)
        for i in range(10):
            log.put({"tenant": "acme", "id": f"u{i}", "attributes": {"plan": str(i % 2)}})
        for _ in range(2):
            assert [c is not None for c in stored.contacts("acme", ["u1", "u9", "zz"])] == [
                True,
                True,
                False,
            ]
            assert all(stored.get("acme", f"u{i}") is not None for i in range(10))
