"""Idempotency-Key semantics (IETF draft), per tenant, across restarts and replicas."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess, new_client
from tidings.settings import Settings

URL = "/api/v1/notifications"


@pytest.fixture(scope="module")
def ingest(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    # A long group-commit window keeps a request in flight long enough to race it.
    proc = IngestProcess(
        seeded, tmp_path_factory.mktemp("ingest"), TIDINGS_KAFKA__LINGER_MS="600"
    ).start()
    yield proc
    proc.stop()


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"k-{uuid.uuid4()}"}


def test_same_key_and_body_replays_the_same_id(http: httpx.Client) -> None:
    headers = key()
    first = http.post(URL, json=EXAMPLE, headers=headers)
    second = http.post(URL, json=EXAMPLE, headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["location"] == first.headers["location"]


def test_same_key_with_another_body_is_422(http: httpx.Client) -> None:
    headers = key()
    assert http.post(URL, json=EXAMPLE, headers=headers).status_code == 202
    other = {**EXAMPLE, "payload": {"content_id": "c-2"}}
    r = http.post(URL, json=other, headers=headers)
    assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")


def test_concurrent_duplicate_is_409(http: httpx.Client, ingest: IngestProcess) -> None:
    headers = key()
    first: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: first.append(http.post(URL, json=EXAMPLE, headers=headers))
    )
    thread.start()
    # The duplicate only once the server holds the first (its key taken, its record lingering
    # 600 ms): a fixed pause lets a slow machine send the duplicate before the first arrived.
    deadline = time.monotonic() + 10
    while ingest.in_flight() < 1:
        assert time.monotonic() < deadline, "the first request never was in flight"
        time.sleep(0.01)
    r = http.post(URL, json=EXAMPLE, headers=headers)
    thread.join()
    assert (r.status_code, r.json()["code"]) == (409, "idempotency_key_in_flight")
    assert first[0].status_code == 202


@pytest.mark.parametrize("value", ["", "x" * 256, "caf\u00e9", '"unterminated', "tab\there"])
def test_malformed_key_is_400(http: httpx.Client, value: str) -> None:
    r = http.post(URL, json=EXAMPLE, headers={"Idempotency-Key": value.encode("utf-8")})  # type: ignore[dict-item]
    assert (r.status_code, r.json()["code"]) == (400, "invalid_idempotency_key")


def test_quoted_structured_field_key_equals_the_bare_key(http: httpx.Client) -> None:
    bare = f"k-{uuid.uuid4()}"
    first = http.post(URL, json=EXAMPLE, headers={"Idempotency-Key": bare})
    second = http.post(URL, json=EXAMPLE, headers={"Idempotency-Key": f'"{bare}"'})
    assert second.json()["id"] == first.json()["id"]


def test_same_key_in_another_tenant_is_a_different_event(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    headers = key()
    mine = http.post(URL, json=EXAMPLE, headers=headers)
    globex = new_client(ingest, "globex")
    with ingest.client(globex.secret) as other:
        theirs = other.post(
            URL, json={**EXAMPLE, "recipients": {"users": ["g-1"]}}, headers=headers
        )
    assert theirs.status_code == 202
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


def test_failed_request_does_not_consume_the_key(http: httpx.Client) -> None:
    headers = key()
    bad = http.post(URL, json={**EXAMPLE, "type": "no.such"}, headers=headers)
    assert bad.status_code == 422
    assert http.post(URL, json=EXAMPLE, headers=headers).status_code == 202


def test_key_survives_a_service_restart(ingest: IngestProcess) -> None:
    client = new_client(ingest)
    headers = key()
    with ingest.client(client.secret) as http:
        first = http.post(URL, json=EXAMPLE, headers=headers)
    ingest.restart()
    with ingest.client(client.secret) as http:
        second = http.post(URL, json=EXAMPLE, headers=headers)
        reused = http.post(URL, json={**EXAMPLE, "version": 1}, headers=headers)
    assert second.status_code == 202
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    assert reused.status_code == 422


def test_second_replica_replays_a_completed_key(
    ingest: IngestProcess, seeded: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    client = new_client(ingest)
    headers = key()
    with ingest.client(client.secret) as http:
        first = http.post(URL, json=EXAMPLE, headers=headers)
    replica = IngestProcess(
        seeded, tmp_path_factory.mktemp("replica"), TIDINGS_INGEST__INSTANCE_ID="ingest-r"
    ).start()
    try:
        with replica.client(client.secret) as http:
            second = http.post(URL, json=EXAMPLE, headers=headers)
    finally:
        replica.stop()
    assert second.json()["id"] == first.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"


def test_a_key_reused_after_the_window_is_a_clear_422_not_a_silent_drop(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory, ingest: IngestProcess
) -> None:
    # The key's event id (uuid5 of tenant and key) is taken for good: a new event under it
    # would be dropped downstream as a duplicate, so the answer says so instead of 202.
    short = IngestProcess(
        seeded,
        tmp_path_factory.mktemp("window"),
        TIDINGS_INGEST__INSTANCE_ID="ingest-w",
        TIDINGS_TOPICS__IDEMPOTENCY_WINDOW_MS="1500",
    ).start()
    try:
        client = new_client(short)
        headers = key()
        with short.client(client.secret) as http:
            first = http.post(URL, json=EXAMPLE, headers=headers)
            assert first.status_code == 202
            time.sleep(2)
            other = http.post(URL, json={**EXAMPLE, "version": 1}, headers=headers)
    finally:
        short.stop()
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_expired")
    assert first.json()["id"] in other.json()["detail"]
    assert "idempotent-replayed" not in other.headers
