"""``rules.select``: set operations on an attribute index pick exactly the users ``matches``
picks one by one (hypothesis over random users and rules, negations included)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.domain.rules import All, AnyOf, Equals, Exists, In, Not, Rule, matches, select

NAMES = ("dept", "plan")
VALUES = ("", "a", "b")

people = st.dictionaries(
    st.sampled_from([f"u{i}" for i in range(10)]),
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from(VALUES)),
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
    max_leaves=8,
)


class Index:
    def __init__(self, users: dict[str, dict[str, str]]) -> None:
        self.users = users
        self.everyone_asked = 0

    def having(self, attribute: str) -> set[str]:
        return {u for u, attrs in self.users.items() if attribute in attrs}

    def valued(self, attribute: str, value: str) -> set[str]:
        return {u for u, attrs in self.users.items() if attrs.get(attribute) == value}

    def everyone(self) -> set[str]:
        self.everyone_asked += 1
        return set(self.users)


@settings(max_examples=300)
@given(people, rules)
def test_select_picks_the_users_matches_picks(users: dict[str, dict[str, str]], rule: Rule) -> None:
    expected = {u for u, attrs in users.items() if matches(rule, attrs)}
    assert select(rule, Index(users)) == expected


def test_a_negation_bounded_by_a_positive_leaf_never_lists_everyone() -> None:
    index = Index({"u1": {"dept": "a"}, "u2": {"dept": "a", "plan": "b"}, "u3": {}})
    rule = All((Equals("dept", "a"), Not(Equals("plan", "b"))))
    assert select(rule, index) == {"u1"}
    assert index.everyone_asked == 0


def test_a_bare_negation_is_everyone_else() -> None:
    index = Index({"u1": {"dept": "a"}, "u2": {}})
    assert select(Not(Exists("dept")), index) == {"u2"}
