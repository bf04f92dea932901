"""Property-based hostile input (hypothesis) against the running ingest: whatever the body,
recipient scopes, rules, payload or Idempotency-Key, the answer is 202 or a documented
problem (never a 500, never an undocumented code), a refusal appends nothing, and the
service keeps running."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hostile import Offsets, assert_documented
from tests.support.ingest import EXAMPLE, IngestProcess

URL = "/api/v1/notifications"
JSON = {"Content-Type": "application/json"}
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
names = st.sampled_from(["u-1", "u-2", "g-1", "editor", "legal", "boss", ""]) | st.text(max_size=20)
attribute = st.sampled_from(["department", "locale", "x"]) | st.text(max_size=70)
leaf_rules = st.one_of(
    st.fixed_dictionaries({"attribute": attribute, "equals": scalars}),
    st.fixed_dictionaries({"attribute": attribute, "in": st.lists(scalars, max_size=120)}),
    st.fixed_dictionaries({"attribute": attribute, "exists": st.booleans()}),
    st.dictionaries(st.sampled_from(["attribute", "equals", "in", "all", "bogus"]), scalars),
)
rules = st.recursive(
    leaf_rules,
    lambda inner: st.one_of(
        st.fixed_dictionaries({"all": st.lists(inner, max_size=6)}),
        st.fixed_dictionaries({"any": st.lists(inner, max_size=6)}),
        st.fixed_dictionaries({"not": inner}),
    ),
    max_leaves=80,
)
recipients = st.fixed_dictionaries(
    {},
    optional={
        "users": st.lists(names, max_size=8),
        "roles": st.lists(names, max_size=4),
        "groups": st.lists(names, max_size=4),
        "rules": st.lists(rules, max_size=18),
    },
)
requests = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["content.approved", "nope", ""]) | st.text(max_size=30),
        "recipients": recipients | json_values,
        "payload": st.fixed_dictionaries({"content_id": st.text(max_size=20)}) | json_values,
    },
    optional={
        "version": st.integers(-2, 4) | scalars,
        "source": st.fixed_dictionaries({}, optional={"reference": st.text(max_size=40)})
        | json_values,
    },
)


def check(http: httpx.Client, offsets: Offsets, r: httpx.Response, before: tuple[int, ...]) -> None:
    if r.status_code == 202:
        assert r.json()["status"] == "accepted"
        offsets.settled()  # its commit markers land after the 202: not the next example's
        return
    assert_documented(r)
    assert offsets.now() == before, f"{r.status_code} appended something"


def test_any_json_body_gets_a_documented_answer(http: httpx.Client, offsets: Offsets) -> None:
    @SETTINGS
    @given(value=json_values)
    def prop(value: Any) -> None:
        before = offsets.now()
        check(http, offsets, http.post(URL, content=orjson.dumps(value), headers=JSON), before)

    prop()


def test_any_request_shape_gets_a_documented_answer(http: httpx.Client, offsets: Offsets) -> None:
    @SETTINGS
    @given(body=requests)
    def prop(body: dict[str, Any]) -> None:
        before = offsets.now()
        check(http, offsets, http.post(URL, content=orjson.dumps(body), headers=JSON), before)

    prop()


def test_any_rule_tree_gets_a_documented_answer(http: httpx.Client, offsets: Offsets) -> None:
    @SETTINGS
    @given(tree=st.lists(rules, min_size=1, max_size=18))
    def prop(tree: list[Any]) -> None:
        before = offsets.now()
        body = {**EXAMPLE, "recipients": {"rules": tree}}
        check(http, offsets, http.post(URL, content=orjson.dumps(body), headers=JSON), before)

    prop()


def test_any_bytes_get_a_documented_answer(http: httpx.Client, offsets: Offsets) -> None:
    @SETTINGS
    @given(
        raw=st.binary(max_size=2000) | st.text().map(lambda t: t.encode("utf-8", "surrogatepass"))
    )
    def prop(raw: bytes) -> None:
        before = offsets.now()
        check(http, offsets, http.post(URL, content=raw, headers=JSON), before)

    prop()


def test_any_idempotency_key_gets_a_documented_answer(http: httpx.Client, offsets: Offsets) -> None:
    # Field values HTTP itself allows (visible ASCII, obs-text, inner spaces): control bytes
    # are refused by the HTTP parser (uvicorn/h11) before the API sees the request.
    field_value = (
        st.binary(max_size=300)
        .map(
            lambda b: bytes(
                c for c in b if c == 0x20 or c == 0x09 or 0x21 <= c <= 0x7E or c >= 0x80
            )
        )
        .map(lambda b: b.strip(b" \t"))
    )

    @SETTINGS
    @given(key=field_value)
    def prop(key: bytes) -> None:
        before = offsets.now()
        headers = {b"Content-Type": b"application/json", b"Idempotency-Key": key}
        r = http.post(URL, content=orjson.dumps(EXAMPLE), headers=headers)
        check(http, offsets, r, before)

    prop()


def test_service_is_still_alive_after_the_properties(
    ingest: IngestProcess, http: httpx.Client
) -> None:
    assert ingest.proc is not None
    assert ingest.proc.poll() is None
    assert http.get("/healthz").status_code == 200
