"""Request validation and the envelope: same input, same answer, tenant from the credential."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.domain.directory import Directory, User
from tidings.domain.envelope import (
    build_envelope,
    event_id_for,
    parse_request,
    request_fingerprint,
    validate_request,
)
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.errors import (
    InvalidRecipients,
    PayloadTooLarge,
    SchemaValidationFailed,
    UnknownEventType,
    UnknownSchemaVersion,
    ValidationFailed,
)
from tidings.settings import LimitSettings

SCHEMAS = PayloadSchemas(bundled_payload_schemas())


def directory() -> Directory:
    d = Directory()
    d.put(
        User.from_record({"tenant": "acme", "id": "u-1", "roles": ["editor"], "groups": ["legal"]})
    )
    d.put(User.from_record({"tenant": "globex", "id": "g-1", "roles": ["boss"]}))
    return d


def body(**overrides: Any) -> dict[str, Any]:
    base = {
        "type": "content.approved",
        "recipients": {"users": ["u-1"]},
        "payload": {"content_id": "c"},
    }
    return {**base, **overrides}


def validate(raw: dict[str, Any], limits: LimitSettings | None = None) -> Any:
    return validate_request(
        parse_request(raw), "acme", SCHEMAS, limits or LimitSettings(), directory()
    )


def test_the_readme_example_is_valid_and_takes_the_newest_version() -> None:
    assert validate(body()).version == 2


def test_an_explicit_version_is_kept() -> None:
    assert validate(body(version=1)).version == 1


def test_a_tenant_in_the_body_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_request(body(tenant="globex"))
    assert caught.value.errors[0].path == "tenant"


def test_a_version_given_as_a_string_is_refused_not_coerced() -> None:
    with pytest.raises(ValidationFailed):
        parse_request(body(version="1"))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"type": "no.such.type"}, UnknownEventType),
        ({"version": 9}, UnknownSchemaVersion),
        ({"payload": {"content_id": 1}}, SchemaValidationFailed),
        ({"payload": {}}, SchemaValidationFailed),
        ({"recipients": {}}, InvalidRecipients),
        ({"recipients": {"roles": ["nobody"]}}, InvalidRecipients),
        ({"recipients": {"groups": ["nobody"]}}, InvalidRecipients),
    ],
)
def test_invalid_requests_get_their_stable_error(
    overrides: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        validate(body(**overrides))


def orgs_directory() -> Directory:
    d = Directory()
    for uid, orgs in (("n", ["north"]), ("s", ["south"]), ("b", ["north", "south"]), ("x", [])):
        d.put(User.from_record({"tenant": "acme", "id": uid, "orgs": orgs}))
    return d


def validate_as(org: str | None, *users: str) -> Any:
    request = parse_request(body(recipients={"users": list(users)}))
    return validate_request(request, "acme", SCHEMAS, LimitSettings(), orgs_directory(), org)


def test_a_user_outside_the_callers_organization_is_answered_exactly_as_unknown() -> None:
    with pytest.raises(InvalidRecipients) as outside:
        validate_as("north", "s")
    with pytest.raises(InvalidRecipients) as missing:
        validate_as("north", "zz-9")
    assert outside.value.detail == missing.value.detail
    assert outside.value.errors == missing.value.errors


def test_an_organization_reaches_its_members_and_users_of_several_organizations() -> None:
    validate_as("north", "n", "b")
    validate_as("south", "s", "b")


def test_a_user_of_no_organization_is_reached_by_tenant_wide_callers_only() -> None:
    validate_as(None, "n", "s", "b", "x")
    with pytest.raises(InvalidRecipients):
        validate_as("north", "x")


def test_a_role_or_group_without_members_in_the_callers_organization_is_unknown_to_it() -> None:
    d = Directory()
    d.put(User.from_record({"tenant": "acme", "id": "s", "orgs": ["south"], "roles": ["staff"]}))
    d.put(User.from_record({"tenant": "acme", "id": "x", "groups": ["hr"]}))

    def check(org: str | None, recipients: dict[str, list[str]]) -> Any:
        request = parse_request(body(recipients=recipients))
        return validate_request(request, "acme", SCHEMAS, LimitSettings(), d, org)

    check("south", {"roles": ["staff"]})
    check(None, {"roles": ["staff"], "groups": ["hr"]})
    for scope, name in (("roles", "staff"), ("groups", "hr"), ("roles", "nobody")):
        with pytest.raises(InvalidRecipients) as refused:
            check("north", {scope: [name]})
        assert refused.value.errors[0].message == f"unknown {scope[:-1]}"


def test_the_envelope_carries_the_callers_organization() -> None:
    validated = validate_as("north", "n")
    env = build_envelope(validated, tenant="acme", client_id="c", idempotency_key=None, org="north")
    assert env["org"] == "north"


def test_another_tenants_user_is_answered_as_unknown() -> None:
    with pytest.raises(InvalidRecipients) as other:
        validate(body(recipients={"users": ["g-1"]}))
    with pytest.raises(InvalidRecipients) as missing:
        validate(body(recipients={"users": ["zz-9"]}))
    assert other.value.errors[0].message == missing.value.errors[0].message == "unknown user"


def test_payload_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        validate(body(payload={"content_id": "x" * 200}), LimitSettings(max_payload_bytes=100))


def test_the_same_tenant_and_key_give_the_same_event_id() -> None:
    assert event_id_for("acme", "k") == event_id_for("acme", "k")
    assert event_id_for("acme", "k") != event_id_for("globex", "k")
    assert event_id_for("acme", None) != event_id_for("acme", None)


def test_an_organizations_key_names_another_event_than_the_tenants() -> None:
    ids = {event_id_for("acme", "k"), event_id_for("acme", "k", "north")}
    ids.add(event_id_for("acme", "k", "south"))
    assert len(ids) == 3
    assert event_id_for("acme", "k", None) == event_id_for("acme", "k")  # unchanged ids
    assert event_id_for("acme", "k", "north") == event_id_for("acme", "k", "north")


def test_the_fingerprint_ignores_key_order_but_not_content() -> None:
    a = parse_request(
        {
            "payload": {"content_id": "c"},
            "type": "content.approved",
            "recipients": {"users": ["u-1"]},
        }
    )
    assert request_fingerprint(a) == request_fingerprint(parse_request(body()))
    assert request_fingerprint(a) != request_fingerprint(parse_request(body(version=1)))


def test_the_envelope_takes_tenant_and_source_from_the_credential() -> None:
    env = build_envelope(
        validate(body(source={"reference": "cms-42"})),
        tenant="acme",
        client_id="c1",
        idempotency_key="k",
    )
    assert env["tenant"] == "acme"
    assert env["source"] == {"client_id": "c1", "reference": "cms-42"}
    assert env["event_id"] == event_id_for("acme", "k")
    north = build_envelope(
        validate(body()), tenant="acme", client_id="c1", idempotency_key="k", org="north"
    )
    assert north["event_id"] == event_id_for("acme", "k", "north")
    assert north["idempotency_key"] == "k"  # the key as the client sent it
