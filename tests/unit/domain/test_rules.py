"""The recipient rule language: what parses, what is refused, and how rules match."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.rules import RuleLimits, canonical, matches, parse_rules
from tidings.errors import InvalidRecipients

LEGAL_DE = {"department": "legal", "locale": "de", "level": "3", "vip": "true"}


def one(raw: object) -> bool:
    (rule,) = parse_rules([raw])
    return matches(rule, LEGAL_DE)


def test_equals_matches_the_attribute_value() -> None:
    assert one({"attribute": "department", "equals": "legal"})
    assert not one({"attribute": "department", "equals": "sales"})


def test_in_matches_any_listed_value() -> None:
    assert one({"attribute": "locale", "in": ["fr", "de"]})
    assert not one({"attribute": "locale", "in": ["fr"]})


def test_exists_matches_a_present_attribute() -> None:
    assert one({"attribute": "locale", "exists": True})
    assert not one({"attribute": "team", "exists": True})


def test_numbers_and_booleans_compare_as_their_json_text() -> None:
    assert one({"attribute": "level", "equals": 3})
    assert one({"attribute": "vip", "equals": True})


def test_all_any_not_compose() -> None:
    rule = {
        "all": [
            {"attribute": "department", "equals": "legal"},
            {
                "any": [
                    {"attribute": "locale", "equals": "fr"},
                    {"attribute": "vip", "equals": True},
                ]
            },
            {"not": {"attribute": "team", "exists": True}},
        ]
    }
    assert one(rule)


def test_missing_attribute_never_equals() -> None:
    assert not one({"attribute": "team", "equals": ""})


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({}, "recipients.rules[0]"),
        ({"attribute": "a"}, "recipients.rules[0]"),
        ({"attribute": "a", "equals": "x", "in": ["x"]}, "recipients.rules[0]"),
        ({"attribute": "1bad", "equals": "x"}, "recipients.rules[0].attribute"),
        ({"attribute": "a", "in": []}, "recipients.rules[0].in"),
        ({"attribute": "a", "exists": False}, "recipients.rules[0].exists"),
        ({"attribute": "a", "equals": {"nested": 1}}, "recipients.rules[0].equals"),
        ({"all": []}, "recipients.rules[0].all"),
        ({"attribute": "a", "regex": ".*"}, "recipients.rules[0].regex"),
    ],
)
def test_malformed_rules_are_refused_with_their_path(raw: object, path: str) -> None:
    with pytest.raises(InvalidRecipients) as caught:
        parse_rules([raw])
    assert [e.path for e in caught.value.errors] == [path]


def test_rules_nested_deeper_than_the_limit_are_refused() -> None:
    rule: object = {"attribute": "a", "exists": True}
    for _ in range(10):
        rule = {"not": rule}
    with pytest.raises(InvalidRecipients, match="invalid recipient rule"):
        parse_rules([rule], RuleLimits(max_depth=6))


def test_rules_with_too_many_nodes_are_refused() -> None:
    wide = {"any": [{"attribute": "a", "equals": str(i)} for i in range(100)]}
    with pytest.raises(InvalidRecipients) as caught:
        parse_rules([wide], RuleLimits(max_nodes=64))
    assert "at most 64 nodes" in caught.value.errors[0].message


def test_too_many_rules_are_refused() -> None:
    with pytest.raises(InvalidRecipients):
        parse_rules([{"attribute": "a", "exists": True}] * 17, RuleLimits(max_rules=16))


def test_canonical_form_is_independent_of_key_order() -> None:
    assert canonical({"equals": "x", "attribute": "a"}) == canonical(
        {"attribute": "a", "equals": "x"}
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_any_json_either_parses_or_is_refused_cleanly(raw: object) -> None:
    try:
        rules = parse_rules([raw])
    except InvalidRecipients as refused:
        errors = refused.errors
        assert errors, "a refusal always names where"
        return
    assert all(isinstance(matches(r, LEGAL_DE), bool) for r in rules)
