"""Authentication, permissions, revocation and tenant isolation."""

from __future__ import annotations

import dataclasses
import time

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess, new_client
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.stores.clients import put_client

URL = "/api/v1/notifications"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer tds_nobody.secret", "Basic dXNlcjpwYXNz"]
)
def test_missing_or_bad_credential_is_401_with_www_authenticate(
    ingest: IngestProcess, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    r = httpx.post(f"{ingest.url}{URL}", json=EXAMPLE, headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_wrong_secret_of_a_real_client_is_401(ingest: IngestProcess) -> None:
    client = new_client(ingest)
    forged = client.secret[:-4] + "AAAA"
    with ingest.client(forged) as http:
        assert http.post(URL, json=EXAMPLE).status_code == 401


def test_missing_write_scope_is_403(ingest: IngestProcess) -> None:
    reader = new_client(ingest, scopes=(SCOPE_READ,))
    with ingest.client(reader.secret) as http:
        r = http.post(URL, json=EXAMPLE)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")


def test_missing_read_scope_is_403(ingest: IngestProcess) -> None:
    writer = new_client(ingest, scopes=(SCOPE_WRITE,))
    with ingest.client(writer.secret) as http:
        event_id = http.post(URL, json=EXAMPLE).json()["id"]
        assert http.get(f"{URL}/{event_id}").status_code == 403


def test_event_type_outside_the_allow_list_is_403(ingest: IngestProcess) -> None:
    limited = new_client(ingest, event_types=("invoice.*",))
    with ingest.client(limited.secret) as http:
        r = http.post(URL, json=EXAMPLE)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")


def test_event_type_inside_the_allow_list_is_accepted(ingest: IngestProcess) -> None:
    allowed = new_client(ingest, event_types=("content.*",))
    with ingest.client(allowed.secret) as http:
        assert http.post(URL, json=EXAMPLE).status_code == 202


def test_revoked_client_is_refused_within_seconds(ingest: IngestProcess) -> None:
    created = new_client(ingest)
    put_client(ingest.settings, dataclasses.replace(created.client, revoked=True))
    deadline = time.monotonic() + 10
    with ingest.client(created.secret) as http:
        while http.post(URL, json=EXAMPLE).status_code != 401:
            assert time.monotonic() < deadline, "revocation not seen in 10 s"
            time.sleep(0.2)


def test_tenant_in_the_body_is_422(http: httpx.Client) -> None:
    r = http.post(URL, json={**EXAMPLE, "tenant": "globex"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")


def test_recipient_of_another_tenant_is_answered_like_a_missing_one(http: httpx.Client) -> None:
    other = http.post(URL, json={**EXAMPLE, "recipients": {"users": ["g-1"]}})
    missing = http.post(URL, json={**EXAMPLE, "recipients": {"users": ["zz-404"]}})
    assert other.status_code == missing.status_code == 422
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(other) == strip(missing)


def test_role_of_another_tenant_is_unknown(http: httpx.Client) -> None:
    r = http.post(URL, json={**EXAMPLE, "recipients": {"roles": ["boss"]}})
    assert (r.status_code, r.json()["code"]) == (422, "invalid_recipients")


def test_another_tenants_event_is_404_like_a_missing_one(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    globex = new_client(ingest, "globex")
    with ingest.client(globex.secret) as other:
        r = other.post(URL, json={**EXAMPLE, "recipients": {"users": ["g-1"]}})
        assert r.status_code == 202
    probe = http.get(f"{URL}/{r.json()['id']}")
    missing = http.get(f"{URL}/00000000-0000-0000-0000-000000000000")
    assert probe.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(probe) == strip(missing)
