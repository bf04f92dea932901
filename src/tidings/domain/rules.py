"""The recipient rule language: a small, bounded, side-effect-free predicate over attributes.

A rule is one of ``{"attribute": A, "equals": V}``, ``{"attribute": A, "in": [V, ...]}``,
``{"attribute": A, "exists": true}``, ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": rule}``.
Values are strings, numbers or booleans, compared as their JSON text (``true``, ``3``) against
the directory's string attributes. Depth, node count and list sizes are bounded so that no
rule is expensive to parse or to evaluate (docs/rules.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from tidings.errors import FieldError, InvalidRecipients
from tidings.settings import LimitSettings

_DEFAULTS = LimitSettings.model_fields

ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
MAX_VALUE_LEN = 256
MAX_IN_VALUES = 100


@dataclass(frozen=True, slots=True)
class Equals:
    attribute: str
    value: str


@dataclass(frozen=True, slots=True)
class In:
    attribute: str
    values: frozenset[str]


@dataclass(frozen=True, slots=True)
class Exists:
    attribute: str


@dataclass(frozen=True, slots=True)
class All:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Not:
    rule: Rule


Rule = Equals | In | Exists | All | AnyOf | Not


@dataclass(frozen=True)
class RuleLimits:
    # Defaults are the settings' own (TIDINGS_LIMITS__MAX_RULE_*), written once there.
    max_depth: int = _DEFAULTS["max_rule_depth"].default
    max_nodes: int = _DEFAULTS["max_rule_nodes"].default
    max_rules: int = _DEFAULTS["max_rules"].default

    @classmethod
    def of(cls, limits: LimitSettings) -> RuleLimits:
        return cls(limits.max_rule_depth, limits.max_rule_nodes, limits.max_rules)


class _Parser:
    def __init__(self, limits: RuleLimits) -> None:
        self.limits = limits
        self.nodes = 0
        self.errors: list[FieldError] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def parse(self, raw: object, path: str, depth: int) -> Rule | None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            if self.nodes == self.limits.max_nodes + 1:
                self.fail(path, f"rules may have at most {self.limits.max_nodes} nodes")
            return None
        if depth > self.limits.max_depth:
            self.fail(path, f"rules may nest at most {self.limits.max_depth} deep")
            return None
        if not isinstance(raw, dict) or not raw:
            self.fail(path, "a rule is a non-empty JSON object")
            return None
        keys = set(raw)
        if keys == {"all"} or keys == {"any"}:
            (op,) = keys
            items = raw[op]
            if not isinstance(items, list) or not items:
                self.fail(f"{path}.{op}", "expected a non-empty list of rules")
                return None
            parsed = [self.parse(r, f"{path}.{op}[{i}]", depth + 1) for i, r in enumerate(items)]
            if any(p is None for p in parsed):
                return None
            children = tuple(p for p in parsed if p is not None)
            return All(children) if op == "all" else AnyOf(children)
        if keys == {"not"}:
            inner = self.parse(raw["not"], f"{path}.not", depth + 1)
            return Not(inner) if inner is not None else None
        return self._leaf(raw, path)

    def _leaf(self, raw: dict[str, Any], path: str) -> Rule | None:
        attribute = raw.get("attribute")
        if not isinstance(attribute, str) or not ATTRIBUTE.match(attribute):
            self.fail(f"{path}.attribute", "expected an attribute name ([A-Za-z_][A-Za-z0-9_.:-]*)")
            return None
        ops = set(raw) - {"attribute"}
        if len(ops) != 1:
            self.fail(path, "a rule has exactly one of equals, in, exists, all, any, not")
            return None
        (op,) = ops
        if op == "equals":
            value = self._value(raw["equals"], f"{path}.equals")
            return Equals(attribute, value) if value is not None else None
        if op == "in":
            values = raw["in"]
            if not isinstance(values, list) or not 0 < len(values) <= MAX_IN_VALUES:
                self.fail(f"{path}.in", f"expected a list of 1 to {MAX_IN_VALUES} values")
                return None
            texts = [self._value(v, f"{path}.in[{i}]") for i, v in enumerate(values)]
            if any(t is None for t in texts):
                return None
            return In(attribute, frozenset(t for t in texts if t is not None))
        if op == "exists":
            if raw["exists"] is not True:
                self.fail(f"{path}.exists", "expected true")
                return None
            return Exists(attribute)
        self.fail(f"{path}.{op}", "unknown operator")
        return None

    def _value(self, value: object, path: str) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return orjson.dumps(value).decode()
        if isinstance(value, str) and len(value) <= MAX_VALUE_LEN:
            return value
        self.fail(path, f"expected a string (at most {MAX_VALUE_LEN}), number or boolean")
        return None


def parse_rules(
    raw: object, limits: RuleLimits = RuleLimits(), path: str = "recipients.rules"
) -> list[Rule]:
    """Parse a list of rules; every problem is reported with its path, then raised at once."""
    if not isinstance(raw, list):
        raise InvalidRecipients(
            "rules must be a list", errors=[FieldError(path, "expected a list")]
        )
    if len(raw) > limits.max_rules:
        raise InvalidRecipients(
            "too many rules", errors=[FieldError(path, f"at most {limits.max_rules} rules")]
        )
    parser = _Parser(limits)
    parsed = [parser.parse(r, f"{path}[{i}]", 1) for i, r in enumerate(raw)]
    if parser.errors:
        raise InvalidRecipients("invalid recipient rule", errors=parser.errors)
    return [p for p in parsed if p is not None]


def matches(rule: Rule, attributes: Mapping[str, str]) -> bool:
    """Evaluation is linear in the rule's size (bounded by max_nodes): no rule is expensive."""
    match rule:
        case Equals(attribute, value):
            return attributes.get(attribute) == value
        case In(attribute, values):
            return attributes.get(attribute) in values
        case Exists(attribute):
            return attribute in attributes
        case All(rules):
            return all(matches(r, attributes) for r in rules)
        case AnyOf(rules):
            return any(matches(r, attributes) for r in rules)
        case Not(inner):
            return not matches(inner, attributes)
    raise TypeError(f"not a rule: {rule!r}")


class AttributeIndex(Protocol):
    """Who has what, within one tenant: the lookups ``select`` needs instead of a scan."""

    def having(self, attribute: str) -> set[str]:
        """Users with ``attribute`` set (to any value)."""
        ...

    def valued(self, attribute: str, value: str) -> set[str]:
        """Users whose ``attribute`` is exactly ``value``."""
        ...

    def everyone(self) -> set[str]:
        """Every user (only a negation that nothing positive bounds asks for it)."""
        ...


def select(rule: Rule, index: AttributeIndex) -> set[str]:
    """The users ``rule`` matches, by set operations on index lookups: the same users as
    ``matches`` over every user, without visiting the ones no leaf names. A negation is
    carried as a complement and resolved against ``everyone`` only when nothing positive
    bounds it (``not`` alone, or an ``any`` with a ``not`` in it)."""
    chosen, complement = _select(rule, index)
    return index.everyone() - chosen if complement else chosen


def _select(rule: Rule, index: AttributeIndex) -> tuple[set[str], bool]:
    """``(users, False)``: exactly these; ``(users, True)``: everyone but these."""
    match rule:
        case Equals(attribute, value):
            return index.valued(attribute, value), False
        case In(attribute, values):
            found: set[str] = set()
            for value in sorted(values):
                found |= index.valued(attribute, value)
            return found, False
        case Exists(attribute):
            return index.having(attribute), False
        case Not(inner):
            users, complement = _select(inner, index)
            return users, not complement
        case All(rules):
            positive, negative = _split([_select(r, index) for r in rules])
            if positive:  # a AND b AND NOT c  =  (a & b) - c
                result = set.intersection(*sorted(positive, key=len))
                for users in negative:
                    result -= users
                return result, False
            return set().union(*negative), True  # NOT a AND NOT b  =  NOT (a | b)
        case AnyOf(rules):
            positive, negative = _split([_select(r, index) for r in rules])
            if negative:  # a OR NOT b OR NOT c  =  NOT ((b & c) - a)
                result = set.intersection(*sorted(negative, key=len))
                for users in positive:
                    result -= users
                return result, True
            return set().union(*positive), False
    raise TypeError(f"not a rule: {rule!r}")


def _split(parts: list[tuple[set[str], bool]]) -> tuple[list[set[str]], list[set[str]]]:
    positive = [users for users, complement in parts if not complement]
    negative = [users for users, complement in parts if complement]
    return positive, negative


def canonical(raw: object) -> str:
    """The stored form of a rule in the event envelope: sorted-key compact JSON."""
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode()
