"""The directory API: whole entries in the JSON Lines format without ``tenant``, scoped to
the credential's tenant, written to the directory topic and read back on any replica."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.support.contract import CHECKS as CONTRACT
from tests.support.ingest import BIN, IngestProcess, new_client
from tidings.domain.clients import (
    SCOPE_DIRECTORY_READ,
    SCOPE_DIRECTORY_WRITE,
    SCOPE_READ,
    SCOPE_WRITE,
)

USERS = "/api/v1/directory/users"
ENTRY = {
    "roles": ["editor"],
    "groups": ["legal"],
    "attributes": {"plan": "pro"},
    "channels": {"email": "d1@example.com"},
}


@pytest.fixture(scope="module")
def admin(ingest: IngestProcess) -> Iterator[httpx.Client]:
    created = new_client(ingest, "acme", (SCOPE_DIRECTORY_READ, SCOPE_DIRECTORY_WRITE))
    with ingest.client(created.secret) as client:
        yield client


def test_put_then_get_returns_the_whole_entry(admin: httpx.Client) -> None:
    put = admin.put(f"{USERS}/d-1", json=ENTRY)
    assert put.status_code == 200, put.text
    got = admin.get(f"{USERS}/d-1")
    assert got.status_code == 200
    body = got.json()
    assert "tenant" not in body
    assert body["id"] == "d-1"
    assert body["active"] is True
    assert body["roles"] == ["editor"]
    assert body["channels"] == {"email": "d1@example.com"}


def test_put_replaces_the_whole_entry(admin: httpx.Client) -> None:
    admin.put(f"{USERS}/d-2", json=ENTRY)
    assert admin.put(f"{USERS}/d-2", json={"roles": ["viewer"]}).status_code == 200
    body = admin.get(f"{USERS}/d-2").json()
    assert body["roles"] == ["viewer"]
    assert body["groups"] == []
    assert body["channels"] == {}


def test_a_tenant_in_the_body_is_refused_with_its_pointer(admin: httpx.Client) -> None:
    answer = admin.put(f"{USERS}/d-3", json={**ENTRY, "tenant": "globex"})
    assert answer.status_code == 422
    assert answer.json()["code"] == "validation_failed"
    assert [e["path"] for e in answer.json()["errors"]] == ["/tenant"]


def test_a_bad_field_is_named_by_its_pointer(admin: httpx.Client) -> None:
    answer = admin.put(f"{USERS}/d-3", json={"channels": {"email": 5}})
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["/channels/email"]


def test_an_id_in_the_body_must_be_the_path_id(admin: httpx.Client) -> None:
    answer = admin.put(f"{USERS}/d-3", json={"id": "other"})
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["/id"]


def test_delete_leaves_every_role_and_group_and_makes_the_user_inactive(
    admin: httpx.Client,
) -> None:
    admin.put(f"{USERS}/d-4", json=ENTRY)
    deleted = admin.delete(f"{USERS}/d-4")
    assert deleted.status_code == 200, deleted.text
    body = admin.get(f"{USERS}/d-4").json()
    assert body["active"] is False
    assert body["roles"] == []
    assert body["groups"] == []
    assert body["channels"] == {"email": "d1@example.com"}  # the rest is kept


def test_unknown_user_is_404_for_get_and_delete(admin: httpx.Client) -> None:
    assert admin.get(f"{USERS}/nobody").json()["code"] == "not_found"
    assert admin.delete(f"{USERS}/nobody").status_code == 404


def test_another_tenants_user_is_answered_like_a_missing_one(
    ingest: IngestProcess, admin: httpx.Client
) -> None:
    assert admin.get(f"{USERS}/g-1").status_code == 404  # globex's user in the seed
    globex = new_client(ingest, "globex", (SCOPE_DIRECTORY_READ,))
    with ingest.client(globex.secret) as http:
        assert http.get(f"{USERS}/g-1").status_code == 200


def test_batch_upserts_every_user(admin: httpx.Client) -> None:
    users = [{"id": f"b-{i}", **ENTRY} for i in range(5)]
    answer = admin.post(f"{USERS}/batch", json={"users": users})
    assert answer.status_code == 200, answer.text
    assert [u["id"] for u in answer.json()["users"]] == [f"b-{i}" for i in range(5)]
    for i in range(5):
        assert admin.get(f"{USERS}/b-{i}").json()["roles"] == ["editor"]


def test_batch_with_one_bad_user_writes_nothing_and_points_at_it(admin: httpx.Client) -> None:
    users = [{"id": f"x-{i}", **ENTRY} for i in range(5)]
    users[3]["channels"] = ["not", "an", "object"]
    answer = admin.post(f"{USERS}/batch", json={"users": users})
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["/users/3/channels"]
    assert admin.get(f"{USERS}/x-0").status_code == 404


def test_batch_over_the_limit_is_422_and_writes_nothing(admin: httpx.Client) -> None:
    users = [{"id": f"y-{i}"} for i in range(101)]
    answer = admin.post(f"{USERS}/batch", json={"users": users})
    assert answer.status_code == 422
    assert [e["path"] for e in answer.json()["errors"]] == ["/users"]
    assert admin.get(f"{USERS}/y-0").status_code == 404


def test_notification_scopes_do_not_reach_the_directory(ingest: IngestProcess) -> None:
    client = new_client(ingest, "acme", (SCOPE_WRITE, SCOPE_READ))
    with ingest.client(client.secret) as http:
        assert http.get(f"{USERS}/u-1").json()["code"] == "forbidden"
        assert http.put(f"{USERS}/u-1", json=ENTRY).status_code == 403
        assert http.delete(f"{USERS}/u-1").status_code == 403
        assert http.post(f"{USERS}/batch", json={"users": []}).status_code == 403


def test_directory_read_may_read_but_not_write(ingest: IngestProcess) -> None:
    client = new_client(ingest, "acme", (SCOPE_DIRECTORY_READ,))
    with ingest.client(client.secret) as http:
        assert http.get(f"{USERS}/u-1").status_code == 200
        assert http.put(f"{USERS}/u-1", json=ENTRY).json()["code"] == "forbidden"


def test_a_put_is_seen_by_a_get_on_another_replica_within_a_second(
    ingest: IngestProcess, admin: httpx.Client, tmp_path: Path
) -> None:
    other = IngestProcess(ingest.settings, tmp_path).start()
    try:
        reader = new_client(other, "acme", (SCOPE_DIRECTORY_READ,))
        with other.client(reader.secret) as http:
            for n in range(3):
                assert admin.put(f"{USERS}/r-1", json={"roles": [f"r{n}"]}).status_code == 200
                started = time.monotonic()
                got = http.get(f"{USERS}/r-1")
                assert time.monotonic() - started < 1.0
                assert got.json()["roles"] == [f"r{n}"]
    finally:
        other.stop()


def test_the_cli_creates_credentials_with_directory_scopes(ingest: IngestProcess) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": ingest.settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": ingest.settings.topic_prefix,
    }
    args = ["clients", "create", "--tenant", "acme", "--json"]
    args += ["--scope", SCOPE_DIRECTORY_READ, "--scope", SCOPE_DIRECTORY_WRITE]
    done = subprocess.run(
        [str(BIN / "tidings"), *args], env=env, capture_output=True, timeout=120, check=True
    )
    assert orjson.loads(done.stdout)["scopes"] == [SCOPE_DIRECTORY_READ, SCOPE_DIRECTORY_WRITE]


def test_delete_leaves_every_organization_too(admin: httpx.Client) -> None:
    admin.put(f"{USERS}/o-1", json={**ENTRY, "orgs": ["north"]})
    assert admin.get(f"{USERS}/o-1").json()["orgs"] == ["north"]
    assert admin.delete(f"{USERS}/o-1").json()["orgs"] == []


def test_an_organizations_client_reads_its_members_only_and_writes_nothing(
    ingest: IngestProcess, admin: httpx.Client
) -> None:
    admin.put(f"{USERS}/o-2", json={**ENTRY, "orgs": ["south"]})
    admin.put(f"{USERS}/o-3", json={**ENTRY, "orgs": ["east"]})
    scopes = (SCOPE_DIRECTORY_READ, SCOPE_DIRECTORY_WRITE)
    south = new_client(ingest, "acme", scopes, org="south")
    with ingest.client(south.secret) as http:
        assert http.get(f"{USERS}/o-2").status_code == 200
        assert http.get(f"{USERS}/o-3").json()["code"] == "not_found"
        assert http.put(f"{USERS}/o-2", json=ENTRY).json()["code"] == "forbidden"
        assert http.delete(f"{USERS}/o-2").status_code == 403


def test_directory_api_matches_its_openapi_document(
    ingest: IngestProcess, admin: httpx.Client
) -> None:
    schema = schemathesis.openapi.from_url(f"{ingest.url}/openapi.json")
    operations = [
        op for op in (r.ok() for r in schema.get_all_operations()) if "/directory/" in op.path
    ]
    assert len(operations) == 4
    cases = [(op, mode) for op in operations for mode in GenerationMode]
    for operation, mode in cases:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=ingest.url, headers=dict(admin.headers), checks=CONTRACT
            )

        conforms()
