"""Targeting permissions: which recipient kinds (and which role or group names) a client may
put in ``recipients``.

A target is ``KIND`` or ``KIND:PATTERN``: ``users``, ``roles``, ``groups`` or ``rules``; the
pattern (``fnmatch``, case-sensitive) is over role or group names only, because users are
limited by organization and rules have no name. A client without targets may use every kind
(tenant-wide as before); a client with targets may use only the kinds listed, and a role or
group only if some pattern of its kind matches the name. The same check runs at ingest (403
``recipients_not_allowed``) and at the resolver for records of direct producers.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tidings.errors import FieldError, RecipientsNotAllowed, ValidationFailed

KINDS = ("users", "roles", "groups", "rules")
NAMED = ("roles", "groups")  # the kinds a pattern may narrow


@dataclass(frozen=True)
class Target:
    kind: str
    pattern: str | None = None

    def __str__(self) -> str:
        return self.kind if self.pattern is None else f"{self.kind}:{self.pattern}"

    def allows(self, kind: str, name: str | None) -> bool:
        if kind != self.kind:
            return False
        return self.pattern is None or name is None or fnmatch.fnmatchcase(name, self.pattern)


def parse_target(text: str) -> Target:
    """``KIND`` or ``KIND:PATTERN``; anything else is ``ValidationFailed`` naming the target."""
    kind, sep, pattern = text.partition(":")
    if kind not in KINDS:
        raise ValidationFailed(
            "unknown target kind",
            errors=[FieldError("target", f"{text!r}: the kind is one of {', '.join(KINDS)}")],
        )
    if sep and kind not in NAMED:
        raise ValidationFailed(
            "a pattern narrows roles or groups only",
            errors=[FieldError("target", f"{text!r}: {kind} take no pattern")],
        )
    if sep and not pattern:
        raise ValidationFailed(
            "empty target pattern", errors=[FieldError("target", f"{text!r}: empty pattern")]
        )
    return Target(kind, pattern if sep else None)


def parse_targets(texts: Iterable[str]) -> tuple[Target, ...]:
    return tuple(dict.fromkeys(parse_target(t) for t in texts))


def stored_targets(texts: Iterable[str]) -> tuple[Target, ...]:
    """Targets read from a client record. One that does not parse (a hand-written record)
    is kept as a target of no kind: it allows nothing, so the client fails closed instead
    of the clients view stopping."""
    out: list[Target] = []
    for text in texts:
        try:
            out.append(parse_target(text))
        except ValidationFailed:
            out.append(Target(f"invalid:{text}"))
    return tuple(dict.fromkeys(out))


def refusals(
    targets: Sequence[Target],
    users: Sequence[str],
    roles: Sequence[str],
    groups: Sequence[str],
    rules: Sequence[object],
) -> list[FieldError]:
    """Each recipient entry the targets do not allow, by path; empty when all are allowed
    (always, for a client without targets)."""
    if not targets:
        return []
    out: list[FieldError] = []
    for kind, entries in (("users", users), ("roles", roles), ("groups", groups)):
        if not entries:
            continue
        if not any(t.kind == kind for t in targets):
            out.append(FieldError(f"recipients.{kind}", f"this credential may not target {kind}"))
            continue
        if kind in NAMED:
            singular = kind[:-1]
            out.extend(
                FieldError(
                    f"recipients.{kind}[{i}]", f"this credential may not target this {singular}"
                )
                for i, name in enumerate(entries)
                if not any(t.allows(kind, name) for t in targets)
            )
    if rules and not any(t.kind == "rules" for t in targets):
        out.append(FieldError("recipients.rules", "this credential may not target rules"))
    return out


def require_allowed(
    targets: Sequence[Target],
    users: Sequence[str],
    roles: Sequence[str],
    groups: Sequence[str],
    rules: Sequence[object],
) -> None:
    """403 ``recipients_not_allowed`` listing every refused entry (HTTP, library, resolver)."""
    errors = refusals(targets, users, roles, groups, rules)
    if errors:
        raise RecipientsNotAllowed(
            "this credential may not send to these recipients", errors=errors
        )
