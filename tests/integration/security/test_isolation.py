"""Tenant isolation (OWASP API1 broken object-level and API3 property-level authorization):
two tenants, clients with different scopes; no request reads, targets or infers the other
tenant's users, events or states."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess
from tests.support.security import Clients, without_request_id

URL = "/api/v1/notifications"
OWN_USER = {"acme": "u-1", "globex": "g-1"}
OTHER = {"acme": "globex", "globex": "acme"}
# Answers that legitimately differ between two requests.
VARYING = {"x-request-id", "date", "ratelimit", "content-length"}


def body_for(tenant: str) -> dict[str, Any]:
    return {**EXAMPLE, "recipients": {"users": [OWN_USER[tenant]]}}


@pytest.fixture(scope="module")
def events(ingest: IngestProcess, clients: Clients) -> dict[str, str]:
    """One accepted event per tenant: tenant -> event id."""
    out = {}
    for tenant, client in (("acme", clients.acme_rw), ("globex", clients.globex_rw)):
        with ingest.client(client.secret) as http:
            r = http.post(URL, json=body_for(tenant))
            assert r.status_code == 202, r.text
            out[tenant] = r.json()["id"]
    return out


MATRIX = [
    # client, action, expected status
    ("acme_rw", "create_own", 202),
    ("acme_rw", "read_own", 200),
    ("acme_rw", "read_other", 404),
    ("acme_rw", "target_other", 422),
    ("acme_write", "create_own", 202),
    ("acme_write", "read_own", 403),
    ("acme_write", "read_other", 403),
    ("acme_write", "target_other", 422),
    ("acme_read", "create_own", 403),
    ("acme_read", "read_own", 200),
    ("acme_read", "read_other", 404),
    ("acme_read", "target_other", 403),
    ("acme_typed", "create_own", 403),
    ("acme_typed", "read_own", 200),
    ("acme_typed", "read_other", 404),
    ("acme_typed", "target_other", 403),
    ("globex_rw", "create_own", 202),
    ("globex_rw", "read_own", 200),
    ("globex_rw", "read_other", 404),
    ("globex_rw", "target_other", 422),
]


@pytest.mark.parametrize(("name", "action", "status"), MATRIX)
def test_access_matrix(
    ingest: IngestProcess,
    clients: Clients,
    events: dict[str, str],
    name: str,
    action: str,
    status: int,
) -> None:
    tenant = clients.by_name(name).client.tenant
    with ingest.client(clients.by_name(name).secret) as http:
        if action == "create_own":
            r = http.post(URL, json=body_for(tenant))
        elif action == "read_own":
            r = http.get(f"{URL}/{events[tenant]}")
        elif action == "read_other":
            r = http.get(f"{URL}/{events[OTHER[tenant]]}")
        else:
            r = http.post(URL, json=body_for(OTHER[tenant]))
    assert r.status_code == status, r.text


def _fingerprint(r: httpx.Response) -> tuple[int, dict[str, object], set[str]]:
    headers = {h for h in r.headers if not any(h.startswith(v) for v in VARYING)}
    return r.status_code, without_request_id(r.json()), headers


@pytest.mark.parametrize("name", ["acme_rw", "acme_read", "acme_write", "globex_rw"])
def test_other_tenants_event_is_indistinguishable_from_a_missing_one(
    ingest: IngestProcess, clients: Clients, events: dict[str, str], name: str
) -> None:
    tenant = clients.by_name(name).client.tenant
    with ingest.client(clients.by_name(name).secret) as http:
        existing = http.get(f"{URL}/{events[OTHER[tenant]]}")
        missing = http.get(f"{URL}/{uuid.uuid4()}")
    assert _fingerprint(existing) == _fingerprint(missing)


@pytest.mark.parametrize("scope", ["users", "roles", "groups"])
@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_other_tenants_recipients_are_answered_like_missing_ones(
    ingest: IngestProcess, clients: Clients, tenant: str, scope: str
) -> None:
    theirs = {
        "acme": {"users": "g-1", "roles": "boss", "groups": "board"},
        "globex": {"users": "u-1", "roles": "editor", "groups": "legal"},
    }[tenant][scope]
    client = clients.acme_rw if tenant == "acme" else clients.globex_rw
    with ingest.client(client.secret) as http:
        other = http.post(URL, json={**EXAMPLE, "recipients": {scope: [theirs]}})
        missing = http.post(URL, json={**EXAMPLE, "recipients": {scope: [theirs + "-x"]}})
    assert other.status_code == 422
    other_body, missing_body = without_request_id(other.json()), without_request_id(missing.json())
    # The only difference allowed is the name the caller sent itself, echoed back.
    assert str(other_body).replace(theirs, "N") == str(missing_body).replace(theirs + "-x", "N")


def test_idempotency_key_used_by_another_tenant_reveals_nothing(
    ingest: IngestProcess, clients: Clients
) -> None:
    key = {"Idempotency-Key": f"shared-{uuid.uuid4().hex[:8]}"}
    with ingest.client(clients.acme_rw.secret) as acme:
        first = acme.post(URL, json=body_for("acme"), headers=key)
    with ingest.client(clients.globex_rw.secret) as globex:
        second = globex.post(URL, json=body_for("globex"), headers=key)  # another body
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replayed" not in second.headers


@pytest.mark.parametrize(
    "extra",
    [
        {"tenant": "globex"},
        {"event_id": "00000000-0000-0000-0000-000000000001"},
        {"client_id": "c-someone-else"},
        {"accepted_at": 0},
        {"source": {"client_id": "c-someone-else"}},
        {"source": {"tenant": "globex"}},
        {"recipients": {"users": ["u-1"], "tenant": "globex"}},
    ],
    ids=lambda e: ".".join(str(k) for k in e) + ("." + next(iter(e.values())).__str__()[:12]),
)
def test_server_owned_properties_cannot_be_set_by_the_client(
    ingest: IngestProcess, clients: Clients, extra: dict[str, Any]
) -> None:
    with ingest.client(clients.acme_rw.secret) as http:
        r = http.post(URL, json={**EXAMPLE, **extra})
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")


def test_answers_expose_no_credential_or_signature_material(
    ingest: IngestProcess, clients: Clients, events: dict[str, str]
) -> None:
    with ingest.client(clients.acme_rw.secret) as http:
        accepted = http.post(URL, json=body_for("acme"))
        state = http.get(f"{URL}/{events['acme']}")
    for r in (accepted, state):
        text = r.text.lower()
        for word in ("secret", "signature", "signer", "public_key", "sha256$", "tds_"):
            assert word not in text, f"{word!r} in {r.text}"
