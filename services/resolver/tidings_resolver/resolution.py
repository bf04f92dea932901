"""Recipient resolution: listed users, role members, group members and rule matches, within
the event's tenant only (and its organization, when its client has one: an outsider listed
by id counts as unknown, and scopes reach members of the organization only), active users
only, each user once, with the scopes that chose it.

Pure logic against a ``DirectoryReader`` (snapshot-free reads): the resolver calls this at
processing time, so the directory as it is then decides (the state record says which offset
it saw). Rules are matched by the directory's indexes (``DirectoryReader.matching``) and the
chosen users' contacts are read in one batch (``contacts``), so a large audience costs one
read per recipient, never a visit of every user of the tenant.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import orjson

from tidings.domain.directory import Contact, DirectoryReader, in_org
from tidings.domain.rules import Rule, parse_rules

INACTIVE, UNKNOWN, MUTED, NO_ADDRESS = "inactive", "unknown", "muted", "no_address"


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    matched_by: tuple[str, ...]
    channels: Mapping[str, str]


@dataclass
class Resolution:
    recipients: list[Recipient] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def chunks(self, size: int) -> Iterator[list[Recipient]]:
        for start in range(0, len(self.recipients), size):
            yield self.recipients[start : start + size]

    def chunk_count(self, size: int) -> int:
        return -(-len(self.recipients) // size)


def policy_for(
    event_type: str, policy: Mapping[str, Sequence[str]], enabled: Sequence[str]
) -> list[str]:
    """The channels an event type goes to: its own entry, else ``*``; only enabled channels."""
    wanted = policy.get(event_type, policy.get("*", []))
    return [c for c in wanted if c in enabled]


def choose_channels(user: Contact, channels: Sequence[str]) -> tuple[dict[str, str], str | None]:
    """The policy's channels the user has an address for, minus muted ones; with the skip
    reason when nothing is left."""
    addresses, muted = user.channels, user.muted
    chosen: dict[str, str] = {}
    reachable = False
    for channel in channels:  # once per recipient of every large audience: kept plain
        address = addresses.get(channel)
        if address is not None:
            reachable = True
            if channel not in muted:
                chosen[channel] = address
    if chosen:
        return chosen, None
    return chosen, MUTED if reachable else NO_ADDRESS


def parse_stored_rules(rules: Sequence[str]) -> list[Rule]:
    """Rules travel as canonical JSON strings; an invalid one raises InvalidRecipients."""
    return parse_rules([orjson.loads(r) for r in rules])


def resolve(
    tenant: str,
    users: Sequence[str],
    roles: Sequence[str],
    groups: Sequence[str],
    rules: Sequence[Rule],
    directory: DirectoryReader,
    channels: Sequence[str],
    org: str | None = None,
) -> Resolution:
    matched, result = match(tenant, users, roles, groups, rules, directory, org)
    return resolve_members(tenant, sorted(matched), matched, directory, channels, org, result)


def match(
    tenant: str,
    users: Sequence[str],
    roles: Sequence[str],
    groups: Sequence[str],
    rules: Sequence[Rule],
    directory: DirectoryReader,
    org: str | None = None,
) -> tuple[dict[str, list[str]], Resolution]:
    """The audience (user id -> the scopes that chose it), and a resolution holding the
    listed users skipped as unknown. Split from ``resolve_members`` so the resolver can
    resolve a large audience in slices (tidings_resolver/slices.py)."""
    matched: dict[str, list[str]] = {}
    result = Resolution()
    for user_id in users:
        if not in_org(directory.get(tenant, user_id), org):
            # unknown, other-tenant and other-organization look the same: by design
            result.skipped[UNKNOWN] += 1
        else:
            matched.setdefault(user_id, []).append("user")
    for role in roles:
        tag = f"role:{role}"  # one string shared by every member: large audiences stay small
        for user_id in directory.role_members(tenant, role):
            matched.setdefault(user_id, []).append(tag)
    for group in groups:
        tag = f"group:{group}"
        for user_id in directory.group_members(tenant, group):
            matched.setdefault(user_id, []).append(tag)
    for i, rule in enumerate(rules):
        tag = f"rule:{i}"
        for user_id in directory.matching(tenant, rule):
            matched.setdefault(user_id, []).append(tag)
    return matched, result


def resolve_members(
    tenant: str,
    audience: Sequence[str],
    matched: Mapping[str, Sequence[str]],
    directory: DirectoryReader,
    channels: Sequence[str],
    org: str | None = None,
    result: Resolution | None = None,
) -> Resolution:
    """``audience`` (sorted ids of ``matched``) turned into recipients and skips, added to
    ``result``: the directory as it is now decides who is active and reachable."""
    result = result if result is not None else Resolution()
    skipped, chosen_ones = result.skipped, result.recipients.append  # once per recipient below
    for user_id, user in zip(audience, directory.contacts(tenant, audience), strict=True):
        if user is None:  # deleted while we were resolving
            skipped[UNKNOWN] += 1
            continue
        if org is not None and not in_org(user, org):
            if "user" in matched[user_id]:  # left the organization while we were resolving
                skipped[UNKNOWN] += 1
            continue  # a scope's member outside the organization: never in the audience
        if not user.active:
            skipped[INACTIVE] += 1
            continue
        chosen, reason = choose_channels(user, channels)
        if reason is not None:
            skipped[reason] += 1
            continue
        chosen_ones(Recipient(user_id, tuple(matched[user_id]), chosen))
    return result
