"""Broken authentication (OWASP API2): every failing credential gets the same 401, whatever
part of it was right, on every route; a revoked or service credential is no exception."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import httpx
import pytest

from tests.support.ingest import IngestProcess, new_client
from tests.support.security import Clients, without_request_id
from tidings.domain.clients import client_id_of
from tidings.stores.clients import put_client

URL = "/api/v1/notifications"


def variants(clients: Clients, revoked_secret: str) -> dict[str, str | None]:
    acme, globex = clients.acme_rw.secret, clients.globex_rw.secret
    acme_id = client_id_of(acme)
    return {
        "none": None,
        "empty_bearer": "Bearer",
        "basic_scheme": f"Basic {acme}",
        "no_scheme": acme,
        "prefix_only": "Bearer tds_",
        "last_char_wrong": f"Bearer {acme[:-1]}{'A' if acme[-1] != 'A' else 'B'}",
        "truncated": f"Bearer {acme[:-1]}",
        "extended": f"Bearer {acme}x",
        "other_tenants_random_part": f"Bearer tds_{acme_id}.{globex.rsplit('.', 1)[1]}",
        "unknown_client": f"Bearer tds_c{uuid.uuid4().hex[:16]}.{acme.rsplit('.', 1)[1]}",
        "hash_as_secret": f"Bearer {clients.acme_rw.client.secret_hash}",
        "revoked": f"Bearer {revoked_secret}",
        "oversized": "Bearer " + "A" * 8000,
    }


@pytest.fixture(scope="module")
def revoked_secret(ingest: IngestProcess) -> str:
    created = new_client(ingest, "acme")
    put_client(ingest.settings, replace(created.client, revoked=True))
    with httpx.Client(base_url=ingest.url, timeout=10) as http:
        for _ in range(100):
            auth = {"Authorization": f"Bearer {created.secret}"}
            if http.get(f"{URL}/x", headers=auth).status_code == 401:
                break
            time.sleep(0.1)
    return created.secret


@pytest.fixture(scope="module")
def reference(ingest: IngestProcess) -> dict[str, object]:
    with httpx.Client(base_url=ingest.url, timeout=10) as http:
        r = http.get(f"{URL}/x")
    return without_request_id(r.json())


@pytest.mark.parametrize(
    "name",
    [
        "none",
        "empty_bearer",
        "basic_scheme",
        "no_scheme",
        "prefix_only",
        "last_char_wrong",
        "truncated",
        "extended",
        "other_tenants_random_part",
        "unknown_client",
        "hash_as_secret",
        "revoked",
        "oversized",
    ],
)
@pytest.mark.parametrize("route", ["create", "read"])
def test_every_failing_credential_gets_the_same_401(
    ingest: IngestProcess,
    clients: Clients,
    revoked_secret: str,
    reference: dict[str, object],
    name: str,
    route: str,
) -> None:
    value = variants(clients, revoked_secret)[name]
    headers = {} if value is None else {"Authorization": value}
    with httpx.Client(base_url=ingest.url, timeout=10, headers=headers) as http:
        if route == "create":
            r = http.post(URL, json={"type": "content.approved"})
        else:
            r = http.get(f"{URL}/{uuid.uuid4()}")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="tidings"'
    assert without_request_id(r.json()) == reference
    assert "ratelimit" not in r.headers  # nothing about a client is revealed before auth


def test_ingest_service_identity_is_no_api_credential(ingest: IngestProcess) -> None:
    """The ingest's signing identity (tenant "*") exists in the clients topic; a bearer
    naming it is refused like any unknown client."""
    with httpx.Client(base_url=ingest.url, timeout=10) as http:
        r = http.get(f"{URL}/x", headers={"Authorization": "Bearer tds_svc.ingest.ingest-0.AAAA"})
    assert r.status_code == 401
