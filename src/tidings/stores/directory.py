"""The directory view: the compacted directory topic in local stores, with the indexes that
scopes and rules need, read through ``StoreDirectory`` (a ``DirectoryReader``).

One store per directory partition (stores/changelog.py). A user's record and every index
entry derived from it live in the store of the user's partition and change in one batch, so
record and indexes never disagree, even after a crash:

    r/<tenant>/<user>                     the directory_entry record, Avro bytes as on the topic
    p/<tenant>/<user>                     its contact: [active, channels, muted, orgs] (JSON), what
                                          resolution reads per recipient (a covering index)
    i/user/<tenant>/<user>                every user of a tenant (``not`` rules, exports)
    i/role/<tenant>/<role>/<user>         role members
    i/group/<tenant>/<group>/<user>       group members
    i/org/<tenant>/<org>/<user>           organisation members (records that carry ``orgs``)
    i/attr/<tenant>/<name>/<user>         users with an attribute (``exists``)
    i/value/<tenant>/<name>/=<value>/<user>   users with an attribute value (``equals``, ``in``)
    c/<tenant>                            users of the tenant in this partition (8 bytes)

A rule is evaluated by set operations on those lookups (``rules.select``), so a rule over a
million users reads the members of the values it names, not every user. A bounded LRU keeps
the decoded users read one at a time (``get``: the users a request lists); large audiences
read only their contacts, in one multi-get per partition, not cached. Members found by an
index scan come with the partition they were found in, so reading their contacts needs no
murmur2 of each key (``_Located``).
"""

from __future__ import annotations

import functools
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import partition_for
from tidings.contracts.topics import Topics, user_key
from tidings.domain.directory import Directory, User
from tidings.domain.rules import Rule, select
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.stores.cache import HotCache
from tidings.stores.changelog import (
    Change,
    ChangelogStores,
    StoreView,
    reader_error,
    shared_config,
    stores_root,
)
from tidings.stores.kv import (
    PartitionStore,
    StoreCorrupt,
    StoreError,
    Write,
    escape,
    index_prefix,
    record_key,
)

log = get_logger(__name__)

RECORD = "directory_entry"
USER, ROLE, GROUP, ORG, ATTR, VALUE = "user", "role", "group", "org", "attr", "value"
# A role's or group's members per organization: does it exist for an organization's client
# (one key lookup, however large the role and however few of it are in the organization)?
ORG_ROLE, ORG_GROUP = "org-role", "org-group"
COUNT = b"c/"
CONTACTS = b"p/"
_NONE: tuple[set[bytes], set[bytes]] = (set(), set())
_COUNT = struct.Struct(">q")
LOCATED_MAX = 2_000_000
"""Most member locations a thread keeps between a scan and the contacts read after it."""


class Reach(NamedTuple):
    """A ``Contact`` read from the contact index (a tuple: cheap to build by the 100,000)."""

    active: bool
    channels: Mapping[str, str]
    muted: Sequence[str]  # a few channels at most: a list is searched as fast as a set
    orgs: Sequence[str]  # absent from contacts stored before orgs (``directory.in_org``)


def contact_key(tenant: str, user: str) -> bytes:
    return CONTACTS + user_key(tenant, user)


def contact_value(record: Mapping[str, Any]) -> bytes:
    muted = sorted(record.get("muted") or ())
    orgs = sorted(record.get("orgs") or ())
    return orjson.dumps(
        [bool(record.get("active", True)), record.get("channels") or {}, muted, orgs]
    )


_loads = orjson.loads
_reach = functools.partial(tuple.__new__, Reach)  # Reach._make without its Python frame


def read_contact(raw: bytes) -> Reach:
    return _reach(_loads(raw))


def _value(value: str) -> str:
    # An attribute value may be empty, an index part may not: every value gets a mark.
    return "=" + value


def index_entries(record: dict[str, Any]) -> set[bytes]:
    """Every index key of one directory record, byte for byte ``kv.index_key``'s (empty
    names are not indexed: no scope or rule can name them)."""
    scopes, others = _entries(record)
    return scopes | others


def _entries(record: dict[str, Any]) -> tuple[set[bytes], set[bytes]]:
    """(role, group and org entries: they carry the contact; the other entries)."""
    tenant, user = str(record["tenant"]), str(record["id"])
    if not tenant or not user:
        return set(), set()
    member = b"/" + escape(user)
    scopes: set[bytes] = set()
    for name, values in ((ROLE, "roles"), (GROUP, "groups"), (ORG, "orgs")):
        names = record.get(values)
        if names:
            prefix = _prefix(name, tenant)
            scopes.update(prefix + escape(value) + member for value in names if value)
    others = {_prefix(USER, tenant) + member[1:]}
    orgs = [escape(org) + b"/" for org in record.get("orgs") or () if org]
    if orgs:
        for name, values in ((ORG_ROLE, "roles"), (ORG_GROUP, "groups")):
            prefix = _prefix(name, tenant)
            for value in record.get(values) or ():
                if value:
                    part = escape(value) + member
                    others.update(prefix + org + part for org in orgs)
    attributes = record.get("attributes")
    if attributes:
        having, valued = _prefix(ATTR, tenant), _prefix(VALUE, tenant)
        for name, value in attributes.items():
            if name:
                part = escape(name)
                others.add(having + part + member)
                others.add(valued + part + b"/" + escape(_value(value)) + member)
    return scopes, others


@functools.lru_cache(maxsize=4096)
def _prefix(index: str, tenant: str) -> bytes:
    return index_prefix(index, tenant)


def _count_key(tenant: str) -> bytes:
    return COUNT + tenant.encode()


class DirectoryTable:
    """The ``Table`` of the directory stores: records, their index entries, tenant counts."""

    def __init__(self, codec: Codec, cache: HotCache[bytes, User]) -> None:
        self._codec = codec
        self._cache = cache
        self._users: list[bytes] = []  # record keys of the last ``writes`` (for ``applied``)
        self.generation = 0  # batches applied: what a reader saw may have changed since

    def writes(self, store: PartitionStore, changes: Sequence[Change]) -> list[Write]:
        out: list[Write] = []
        held: dict[bytes, dict[str, Any] | None] = {}
        counts: dict[str, int] = {}
        for change in changes:
            if change.key is None:
                continue
            record: dict[str, Any] | None = None
            if change.value is None:  # tombstone: the user leaves the directory
                tenant, _, user = change.key.decode(errors="replace").partition("/")
            else:
                try:
                    record = self._codec.decode(change.value, expect=RECORD)[1]
                except Exception:  # one bad record must not stop the view
                    log.warning("directory_record_undecodable", offset=change.offset)
                    continue
                tenant, user = str(record["tenant"]), str(record["id"])
            key = record_key(user_key(tenant, user))
            if key not in held:
                held[key] = self._decoded(store.get(key, fill_cache=False))
            old = held[key]
            scopes_before, others_before = _entries(old) if old is not None else _NONE
            scopes, others = _entries(record) if record is not None else _NONE
            out.extend((e, None) for e in sorted(scopes_before - scopes))
            out.extend((e, None) for e in sorted(others_before - others))
            out.extend((e, b"") for e in sorted(others - others_before))
            contact = None if record is None else contact_value(record)
            if contact is not None:
                # Scope entries carry the contact (a role's audience is read by one scan):
                # all of them are rewritten when the contact changes.
                same = old is not None and contact_value(old) == contact
                out.extend((e, contact) for e in sorted(scopes - scopes_before if same else scopes))
            out.append((key, change.value))
            out.append((contact_key(tenant, user), contact))
            if (old is None) != (record is None):
                counts[tenant] = counts.get(tenant, 0) + (1 if record is not None else -1)
            held[key] = record
        self._users = list(held)
        for tenant, delta in counts.items():
            if delta:
                raw = store.get(_count_key(tenant))
                now = (_COUNT.unpack(raw)[0] if raw else 0) + delta
                out.append((_count_key(tenant), _COUNT.pack(now) if now > 0 else None))
        return out

    def _decoded(self, value: bytes | None) -> dict[str, Any] | None:
        return None if value is None else self._codec.decode(value, expect=RECORD)[1]

    def applied(self, partition: int, writes: Sequence[Write]) -> None:
        self._cache.invalidate(self._users)
        self.generation += 1

    def forget(self, partition: int) -> None:
        self._cache.clear()


class StoreDirectory:
    """A ``DirectoryReader`` over the directory stores of this process (every partition)."""

    def __init__(self, stores: ChangelogStores, codec: Codec, cache: HotCache[bytes, User]) -> None:
        self._stores = stores
        self._codec = codec
        self._cache = cache
        self._view: StoreView | None = None
        self._located = _Located()

    def attach(self, view: StoreView) -> None:
        self._view = view

    # -- one user --------------------------------------------------------------------------

    def get(self, tenant: str, user_id: str) -> User | None:
        key = record_key(user_key(tenant, user_id))
        return self._cache.load(key, lambda: self._read_one(tenant, user_id, key))

    def _read_one(self, tenant: str, user_id: str, key: bytes) -> User | None:
        home = partition_for(user_key(tenant, user_id), self._stores.partitions)
        # Its murmur2 partition first; any other only if a producer partitioned otherwise.
        order = sorted(self._stores.open_stores(), key=lambda ps: ps[0] != home)
        with self._guard() as guard:
            for partition, store in order:
                guard.partition = partition
                value = store.get(key)
                if value is not None:
                    return User.from_stored(self._codec.decode(value, expect=RECORD)[1])
        return None

    def contacts(self, tenant: str, user_ids: Sequence[str]) -> list[Reach | None]:
        located, known = self._located.take(tenant, self._generation())
        prefix = contact_key(tenant, "")
        # Contacts read with the scope's index entries first, in one comprehension: a role's
        # 100,000 members are decoded here (B9's role resolution: 0.753 -> 0.702 CPU s).
        carried = known.get
        found: list[Reach | None] = [
            _reach(_loads(raw)) if (raw := carried(user_id)) else None for user_id in user_ids
        ]
        if all(found):
            return found
        keys: dict[int, bytes] = {}
        wanted: dict[int, list[int]] = {}
        for i, user_id in enumerate(user_ids):
            if found[i] is not None:
                continue
            keys[i] = prefix + user_id.encode()
            home = located.get(user_id)
            if home is None:
                home = partition_for(user_key(tenant, user_id), self._stores.partitions)
            wanted.setdefault(home, []).append(i)
        missing = self._read_contacts(keys, found, wanted)
        if missing:  # a producer that did not partition by murmur2: look everywhere
            everywhere = dict.fromkeys((p for p, _ in self._stores.open_stores()), missing)
            self._read_contacts(keys, found, everywhere)
        return found

    def _read_contacts(
        self, keys: dict[int, bytes], found: list[Reach | None], wanted: dict[int, list[int]]
    ) -> list[int]:
        """Fill ``found`` from the stores named in ``wanted``; what is still missing."""
        with self._guard() as guard:
            for partition, positions in sorted(wanted.items()):
                store = self._stores.get(partition)
                if store is None:
                    continue
                guard.partition = partition
                pending = [i for i in positions if found[i] is None]
                values = store.get_many([keys[i] for i in pending])
                for i, value in zip(pending, values, strict=True):
                    if value is not None:
                        found[i] = read_contact(value)
        return sorted({i for positions in wanted.values() for i in positions if found[i] is None})

    # -- scopes ----------------------------------------------------------------------------

    def has_role(self, tenant: str, role: str, org: str | None = None) -> bool:
        if org is not None:
            return self._any(ORG_ROLE, tenant, org, role)
        return self._any(ROLE, tenant, role)

    def has_group(self, tenant: str, group: str, org: str | None = None) -> bool:
        if org is not None:
            return self._any(ORG_GROUP, tenant, org, group)
        return self._any(GROUP, tenant, group)

    def has_org(self, tenant: str, org: str) -> bool:
        return self._any(ORG, tenant, org)

    def role_members(self, tenant: str, role: str) -> list[str]:
        return sorted(self._scope(ROLE, tenant, role))

    def group_members(self, tenant: str, group: str) -> list[str]:
        return sorted(self._scope(GROUP, tenant, group))

    def org_members(self, tenant: str, org: str) -> list[str]:
        return sorted(self._scope(ORG, tenant, org))

    def _scope(self, index: str, *parts: str) -> list[str]:
        """Members of a role, group or org; their contacts, which the entries carry, are
        kept for the ``contacts`` read that follows (no lookup per member)."""
        if not all(parts):
            return []
        out: list[str] = []
        generation = self._generation()
        with self._guard() as guard:
            for partition, store in self._stores.open_stores():
                guard.partition = partition
                found = store.member_values(index, *parts)
                self._located.add_contacts(parts[0], found, generation)
                out.extend(user for user, _ in found)
        return out

    def matching(self, tenant: str, rule: Rule) -> set[str]:
        return select(rule, _TenantIndex(self, tenant))

    def _any(self, index: str, *parts: str) -> bool:
        if not all(parts):
            return False
        prefix = index_prefix(index, *parts)
        with self._guard() as guard:
            for partition, store in self._stores.open_stores():
                guard.partition = partition
                if next(store.iter_keys(prefix), None) is not None:
                    return True
        return False

    def _members(self, index: str, *parts: str) -> list[str]:
        if not all(parts):
            return []
        out: list[str] = []
        with self._guard() as guard:
            for partition, store in self._stores.open_stores():
                guard.partition = partition
                found = list(store.members(index, *parts))
                self._located.add(parts[0], found, partition)
                out.extend(found)
        return out

    # -- whole tenants ---------------------------------------------------------------------

    def users(self, tenant: str) -> Iterator[User]:
        """Every user of ``tenant``, decoded one at a time (nothing is collected)."""
        prefix = record_key(f"{tenant}/".encode())
        for partition, store in self._stores.open_stores():
            with self._guard() as guard:
                guard.partition = partition
                for _, value in store.iter_prefix(prefix):
                    yield User.from_stored(self._codec.decode(value, expect=RECORD)[1])

    def count(self, tenant: str | None = None) -> int:
        return sum(n for name, n in self._counts() if tenant is None or name == tenant)

    def tenants(self) -> list[str]:
        return sorted({name for name, n in self._counts() if n > 0})

    def _counts(self) -> Iterator[tuple[str, int]]:
        with self._guard() as guard:
            for partition, store in self._stores.open_stores():
                guard.partition = partition
                for key, raw in store.iter_prefix(COUNT):
                    yield key[len(COUNT) :].decode(), _COUNT.unpack(raw)[0]

    def _generation(self) -> int:
        table = self._stores.table
        return table.generation if isinstance(table, DirectoryTable) else 0

    def _guard(self) -> _Guard:
        return _Guard(self._view)


class _Guard:
    """Turns a store failure under a reader into ``Unavailable`` (retriable), and has a
    damaged store rebuilt by the view's thread."""

    def __init__(self, view: StoreView | None) -> None:
        self._view = view
        self.partition: int | None = None

    def __enter__(self) -> _Guard:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, StoreError):
            damaged = isinstance(exc, StoreCorrupt) and self.partition is not None
            if damaged and self._view is not None and self.partition is not None:
                self._view.report_damaged(self.partition, exc.reason)
            raise reader_error(exc) from exc


class _Located(threading.local):
    """Per thread: what the latest scans learned of their members, per tenant: the partition
    each was found in and, for scopes, its contact. The ``contacts`` read that follows uses
    it instead of hashing and looking up every key (bounded; dropped once read)."""

    def __init__(self) -> None:
        self.where: dict[str, dict[str, int]] = {}
        self.contacts: dict[str, dict[str, bytes]] = {}
        self.size = 0
        self.generation = -1  # of the directory when the first of them was scanned

    def add(self, tenant: str, members: list[str], partition: int) -> None:
        if self._full(len(members)):
            return
        self.where.setdefault(tenant, {}).update(dict.fromkeys(members, partition))

    def add_contacts(self, tenant: str, found: list[tuple[str, bytes]], generation: int) -> None:
        if self._full(len(found)):
            return
        if not self.contacts:
            self.generation = generation
        self.contacts.setdefault(tenant, {}).update(found)

    def _full(self, more: int) -> bool:
        self.size += more
        if self.size <= LOCATED_MAX:
            return False
        self.where, self.contacts = {}, {}  # the contacts read then looks them up instead
        return True

    def take(self, tenant: str, generation: int) -> tuple[dict[str, int], dict[str, bytes]]:
        """What was learned of ``tenant``; contacts only if the directory has not changed
        since they were scanned (else they are read again, as of now)."""
        where, contacts = self.where.get(tenant, {}), self.contacts.get(tenant, {})
        if generation != self.generation:
            contacts = {}
        self.where, self.contacts, self.size = {}, {}, 0
        return where, contacts


class _TenantIndex:
    """``rules.AttributeIndex`` of one tenant, read from the directory stores."""

    def __init__(self, directory: StoreDirectory, tenant: str) -> None:
        self._directory, self._tenant = directory, tenant

    def having(self, attribute: str) -> set[str]:
        return set(self._directory._members(ATTR, self._tenant, attribute))

    def valued(self, attribute: str, value: str) -> set[str]:
        return set(self._directory._members(VALUE, self._tenant, attribute, _value(value)))

    def everyone(self) -> set[str]:
        return set(self._directory._members(USER, self._tenant))


def store_directory(
    settings: Settings, codec: Codec, service: str, root: Path | None = None
) -> tuple[StoreDirectory, StoreView]:
    """The directory of one service process, in its own stores (default under
    ``stores_root``), and the view that keeps them: ``start()`` it, wait until ready."""
    cache: HotCache[bytes, User] = HotCache(settings.stores.hot_entries)
    stores = ChangelogStores(
        root or stores_root(settings, service),
        "directory",
        Topics(settings).directory,
        DirectoryTable(codec, cache),
        shared_config(settings),
    )
    directory = StoreDirectory(stores, codec, cache)
    view = StoreView(settings, stores, name="directory")
    directory.attach(view)
    return directory, view


def directory_view(settings: Settings, codec: Codec, directory: Directory) -> CompactedView:
    """The topic into the in-memory ``Directory`` (tools that read it once, tests)."""

    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        if value is None:
            tenant, _, user_id = key.decode().partition("/")
            directory.delete(tenant, user_id)
            return
        directory.put(User.from_record(codec.decode(value, expect=RECORD)[1]))

    return CompactedView(settings, Topics(settings).directory.name, apply, name="directory")
