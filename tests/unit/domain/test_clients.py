"""Credentials: tenant-bound, hashed, every failure the same 401."""

from __future__ import annotations

import pytest

from tidings.domain.clients import (
    SERVICE_TENANT,
    ApiClient,
    ClientRegistry,
    hash_secret,
    new_secret,
    sees,
)
from tidings.domain.targets import parse_targets
from tidings.errors import Forbidden, RecipientsNotAllowed, Unauthenticated


def registry_with(client_id: str = "c1", **fields: object) -> tuple[ClientRegistry, str]:
    secret = new_secret(client_id)
    registry = ClientRegistry()
    base = {"tenant": "acme", "scopes": ("notifications:write",)}
    registry.put(
        ApiClient(client_id=client_id, secret_hash=hash_secret(secret), **{**base, **fields})
    )  # type: ignore[arg-type]
    return registry, secret


def test_a_valid_secret_authenticates_its_client() -> None:
    registry, secret = registry_with()
    assert registry.authenticate(secret).tenant == "acme"


@pytest.mark.parametrize("presented", [None, "", "Bearer x", "tds_c1.wrong", "tds_nobody.x"])
def test_every_bad_credential_is_the_same_401(presented: str | None) -> None:
    registry, _ = registry_with()
    with pytest.raises(Unauthenticated, match="missing or invalid credential"):
        registry.authenticate(presented)


def test_a_revoked_client_no_longer_authenticates() -> None:
    registry, secret = registry_with(revoked=True)
    with pytest.raises(Unauthenticated):
        registry.authenticate(secret)


def test_the_service_signing_identity_is_not_an_api_credential() -> None:
    registry, secret = registry_with("svc", tenant=SERVICE_TENANT)
    with pytest.raises(Unauthenticated):
        registry.authenticate(secret)


def test_the_secret_is_stored_only_as_a_hash() -> None:
    registry, secret = registry_with()
    stored = registry.get("c1")
    assert stored is not None
    assert secret not in repr(stored)
    assert stored.secret_hash.startswith("sha256$")


def test_event_type_patterns_allow_and_forbid() -> None:
    client = ApiClient("c1", "acme", "h", ("notifications:write",), event_types=("content.*",))
    client.require_type("content.approved")
    with pytest.raises(Forbidden):
        client.require_type("billing.failed")


def test_missing_scope_is_forbidden() -> None:
    client = ApiClient("c1", "acme", "h", ("notifications:write",))
    with pytest.raises(Forbidden):
        client.require_scope("notifications:read")


def test_org_and_targets_survive_the_record_round_trip() -> None:
    client = ApiClient(
        "c1",
        "acme",
        "h",
        ("notifications:write",),
        org="north",
        targets=parse_targets(["roles:ops-*"]),
    )
    again = ApiClient.from_record(client.to_record())
    assert (again.org, [str(t) for t in again.targets]) == ("north", ["roles:ops-*"])


def test_a_record_written_before_organizations_is_a_tenant_wide_client_of_every_kind() -> None:
    record = ApiClient("c1", "acme", "h", ("notifications:write",)).to_record()
    del record["org"], record["targets"]
    old = ApiClient.from_record(record)
    assert (old.org, old.targets) == (None, ())


def test_a_tenant_wide_reader_sees_every_organization_an_organization_only_its_own() -> None:
    assert sees(None, "north")
    assert sees(None, None)
    assert sees("north", "north")
    assert not sees("north", "south")
    assert not sees("north", None)  # not even a tenant-wide client's events


def test_require_targets_refuses_a_kind_outside_the_client_targets() -> None:
    client = ApiClient("c1", "acme", "h", (), targets=parse_targets(["users"]))
    client.require_targets(["u"], [], [], [])
    with pytest.raises(RecipientsNotAllowed):
        client.require_targets([], ["admin"], [], [])
