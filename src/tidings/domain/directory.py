"""The tenant directory: users with roles, groups, organizations, attributes, channel addresses
and preferences.

The compacted directory topic (key ``tenant/user id``) is the source. ``DirectoryReader`` is
what resolution and request validation read; services read it from local stores with
indexes (stores/directory.py), tools and tests from the in-memory ``Directory`` here, the
reference model. Lookups never cross tenants: every index is per tenant. Organizations
narrow further, at the caller's choice: a user belongs to any number of its tenant's
organizations (``orgs``), and an organization's client reaches only their members
(``in_org``), so an outsider looks exactly like an unknown user.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tidings.domain.rules import Rule, matches

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$"
OrgName = Annotated[str, StringConstraints(pattern=ID_PATTERN)]


class DirectoryLine(BaseModel):
    """One line of a directory JSON Lines file (README: directory files)."""

    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(pattern=ID_PATTERN)
    id: str = Field(pattern=ID_PATTERN)
    active: bool = True
    roles: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)
    attributes: dict[str, str] = Field(default_factory=dict)
    channels: dict[str, str] = Field(default_factory=dict)
    muted: list[str] = Field(default_factory=list)
    orgs: list[OrgName] = Field(default_factory=list)


_SHARED: dict[tuple[str, ...], tuple[str, ...]] = {}
_NO_CHANNELS: frozenset[str] = frozenset()


def _interned(values: list[str]) -> tuple[str, ...]:
    # A million users share a few hundred role/group/attribute names and far fewer distinct
    # combinations of them: intern the names, and share one tuple per combination.
    names = tuple(sys.intern(v) for v in values)
    return _SHARED.setdefault(names, names)


def _muted(values: list[str]) -> frozenset[str]:
    return frozenset(_interned(values)) if values else _NO_CHANNELS  # most users mute nothing


class SmallMap(Mapping[str, str]):
    """An immutable mapping of a few entries (a user's attributes, channel addresses): a
    keys tuple shared by every user with the same keys plus a values tuple, about a third of
    a dict's memory. A directory of a million users holds two per user."""

    __slots__ = ("_keys", "_values")

    def __init__(self, items: Mapping[str, str]) -> None:
        self._keys = _interned(list(items))
        self._values = tuple(items[k] for k in self._keys)

    def __getitem__(self, key: str) -> str:
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return repr(dict(self))


@dataclass(frozen=True, slots=True)
class User:
    tenant: str
    id: str
    active: bool
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    attributes: Mapping[str, str]
    channels: Mapping[str, str]
    muted: frozenset[str]
    orgs: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> User:
        return cls(
            tenant=sys.intern(record["tenant"]),
            id=record["id"],
            active=bool(record.get("active", True)),
            roles=_interned(list(record.get("roles", []))),
            groups=_interned(list(record.get("groups", []))),
            # Attribute values repeat too (locale, plan, region…): interned like the names.
            attributes=SmallMap(
                {k: sys.intern(v) for k, v in record.get("attributes", {}).items()}
            ),
            channels=SmallMap(record.get("channels", {})),
            muted=_muted(list(record.get("muted", []))),
            orgs=_interned(list(record.get("orgs", []))),
        )

    @classmethod
    def from_stored(cls, record: Mapping[str, Any]) -> User:
        """A user read from a store for one use (nothing interned: it is not kept long)."""
        return cls(
            tenant=record["tenant"],
            id=record["id"],
            active=bool(record.get("active", True)),
            roles=tuple(record.get("roles", ())),
            groups=tuple(record.get("groups", ())),
            attributes=record.get("attributes") or {},
            channels=record.get("channels") or {},
            muted=frozenset(record.get("muted") or ()) or _NO_CHANNELS,
            orgs=tuple(record.get("orgs") or ()),
        )

    @classmethod
    def from_line(cls, line: DirectoryLine) -> User:
        return cls.from_record(line.model_dump())

    def to_record(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "id": self.id,
            "active": self.active,
            "roles": list(self.roles),
            "groups": list(self.groups),
            "attributes": dict(self.attributes),
            "channels": dict(self.channels),
            "muted": sorted(self.muted),
            "orgs": list(self.orgs),
        }


class Contact(Protocol):
    """What delivery needs of a user: is it active, where it can be reached, what it muted,
    which organizations it belongs to. A ``User`` is one; a store may keep a lighter
    projection for large audiences."""

    @property
    def active(self) -> bool: ...
    @property
    def channels(self) -> Mapping[str, str]: ...
    @property
    def muted(self) -> Collection[str]: ...
    @property
    def orgs(self) -> Collection[str]: ...


def in_org(contact: Contact | None, org: str | None) -> bool:
    """Is this (known) user reachable by a client of ``org``? Every user is, for a
    tenant-wide client (``org`` None); else only members of ``org``."""
    if contact is None:
        return False
    if org is None:
        return True
    try:
        return org in contact.orgs
    except IndexError:  # a contact stored before contacts carried orgs: it has none
        return False


class DirectoryReader(Protocol):
    """What resolution and request validation read of a directory, one tenant at a time."""

    def get(self, tenant: str, user_id: str) -> User | None: ...

    def contacts(self, tenant: str, user_ids: Sequence[str]) -> Sequence[Contact | None]:
        """The contact of each id, in order, None for an unknown one: an audience of any
        size is read in one batch."""
        ...

    def has_role(self, tenant: str, role: str, org: str | None = None) -> bool:
        """Has ``role`` a member (in ``org``, when given: to an organization's client a role
        with no member in it is as unknown as one that does not exist)?"""
        ...

    def has_group(self, tenant: str, group: str, org: str | None = None) -> bool: ...
    def role_members(self, tenant: str, role: str) -> list[str]: ...
    def group_members(self, tenant: str, group: str) -> list[str]: ...

    def matching(self, tenant: str, rule: Rule) -> set[str]:
        """Ids of the tenant's users whose attributes ``rule`` matches (``rules.matches``)."""
        ...

    def users(self, tenant: str) -> Iterator[User]: ...
    def count(self, tenant: str | None = None) -> int: ...
    def tenants(self) -> list[str]: ...


class _Tenant:
    __slots__ = ("groups", "roles", "users")

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.roles: dict[str, set[str]] = {}
        self.groups: dict[str, set[str]] = {}


class Directory:
    """In-memory, per-tenant index. Written by one view thread, read by many; a lock guards
    writers against readers that take snapshots (iterating a dict that grows would raise)."""

    def __init__(self) -> None:
        self._tenants: dict[str, _Tenant] = {}
        self._lock = threading.RLock()
        self.version = 0  # records applied: which directory state a resolution saw

    def put(self, user: User) -> None:
        with self._lock:
            tenant = self._tenants.setdefault(user.tenant, _Tenant())
            old = tenant.users.get(user.id)
            if old is not None:
                self._unindex(tenant, old)
            tenant.users[user.id] = user
            for role in user.roles:
                tenant.roles.setdefault(role, set()).add(user.id)
            for group in user.groups:
                tenant.groups.setdefault(group, set()).add(user.id)
            self.version += 1

    def delete(self, tenant_id: str, user_id: str) -> None:
        with self._lock:
            tenant = self._tenants.get(tenant_id)
            old = tenant.users.pop(user_id, None) if tenant else None
            if tenant is not None and old is not None:
                self._unindex(tenant, old)
            self.version += 1

    @staticmethod
    def _unindex(tenant: _Tenant, user: User) -> None:
        for index, names in ((tenant.roles, user.roles), (tenant.groups, user.groups)):
            for name in names:
                members = index.get(name)
                if members is not None:
                    members.discard(user.id)
                    if not members:
                        del index[name]

    def get(self, tenant: str, user_id: str) -> User | None:
        t = self._tenants.get(tenant)
        return t.users.get(user_id) if t else None

    def has_role(self, tenant: str, role: str, org: str | None = None) -> bool:
        t = self._tenants.get(tenant)
        return bool(t and self._any_in(t, t.roles.get(role, ()), org))

    def has_group(self, tenant: str, group: str, org: str | None = None) -> bool:
        t = self._tenants.get(tenant)
        return bool(t and self._any_in(t, t.groups.get(group, ()), org))

    @staticmethod
    def _any_in(tenant: _Tenant, members: Collection[str], org: str | None) -> bool:
        if org is None:
            return bool(members)
        return any(in_org(tenant.users.get(member), org) for member in members)

    def contacts(self, tenant: str, user_ids: Sequence[str]) -> list[User | None]:
        t = self._tenants.get(tenant)
        return [t.users.get(u) if t else None for u in user_ids]

    def matching(self, tenant: str, rule: Rule) -> set[str]:
        """Every user of the tenant tested in turn: the reference the indexed stores match."""
        return {u.id for u in self.users(tenant) if matches(rule, u.attributes)}

    def role_members(self, tenant: str, role: str) -> list[str]:
        with self._lock:
            t = self._tenants.get(tenant)
            return sorted(t.roles.get(role, ())) if t else []

    def group_members(self, tenant: str, group: str) -> list[str]:
        with self._lock:
            t = self._tenants.get(tenant)
            return sorted(t.groups.get(group, ())) if t else []

    def users(self, tenant: str) -> Iterator[User]:
        """A snapshot of one tenant's users, safe to iterate while the view keeps applying."""
        with self._lock:
            t = self._tenants.get(tenant)
            snapshot = list(t.users.values()) if t else []
        return iter(snapshot)

    def count(self, tenant: str | None = None) -> int:
        if tenant is not None:
            t = self._tenants.get(tenant)
            return len(t.users) if t else 0
        return sum(len(t.users) for t in self._tenants.values())

    def tenants(self) -> list[str]:
        return sorted(self._tenants)
