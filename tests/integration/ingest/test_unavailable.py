"""503 when the broker cannot take the write: nothing half-written, and the service recovers.

The shared broker is never stopped. Instead this module's events topic is deleted (the
broker does not auto-create topics), so the transaction's produce times out exactly as it does
when partition leaders are unreachable; and a second ingest is pointed at a bootstrap address
where no broker listens.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka.admin import AdminClient

from tests.support.ingest import EXAMPLE, IngestProcess
from tidings.contracts import headers as h
from tidings.kafka.admin import ensure_topics
from tidings.settings import Settings

from .records import read_all

URL = "/api/v1/notifications"


@pytest.fixture(scope="module")
def ingest(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    proc = IngestProcess(
        seeded,
        tmp_path_factory.mktemp("ingest"),
        TIDINGS_KAFKA__DELIVERY_TIMEOUT_MS="3000",
        TIDINGS_INGEST__PRODUCE_TIMEOUT_S="5",
    ).start()
    yield proc
    proc.stop()


def drop_events_topic(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    name = f"{settings.topic_prefix}events"
    admin.delete_topics([name], operation_timeout=30)[name].result()
    deadline = time.monotonic() + 30
    while name in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.fixture
def unwritable_events(ingest: IngestProcess) -> Iterator[None]:
    """The events topic is gone (auto-creation is off): every produce times out."""
    drop_events_topic(ingest.settings)
    yield
    ensure_topics(ingest.settings)


def written(settings: Settings, topic: str, marker: bytes) -> list[object]:
    return [
        m
        for m in read_all(settings, f"{settings.topic_prefix}{topic}")
        if marker in (m.key() or b"") or h.to_dict(m.headers()).get(h.EVENT_ID) == marker
    ]


def test_unwritable_log_is_503_with_retry_after_and_nothing_half_written(
    http: httpx.Client, ingest: IngestProcess, unwritable_events: None
) -> None:
    idem = f"k-{uuid.uuid4()}"
    r = http.post(URL, json=EXAMPLE, headers={"Idempotency-Key": idem})
    assert (r.status_code, r.json()["code"]) == (503, "unavailable")
    assert int(r.headers["retry-after"]) >= 1
    # read_committed, as every Tidings reader: the aborted transaction left no trace.
    assert written(ingest.settings, "idempotency", idem.encode()) == []
    events = read_all(ingest.settings, f"{ingest.settings.topic_prefix}events")
    keyed = [m for m in events if h.to_dict(m.headers()).get("idempotency") == idem.encode()]
    assert keyed == []


def test_503_body_names_no_broker_internals(http: httpx.Client, unwritable_events: None) -> None:
    r = http.post(URL, json=EXAMPLE)
    assert r.status_code == 503
    for leak in ("UNKNOWN_TOPIC", "9092", "Kafka", "librdkafka", "events"):
        assert leak not in r.text


def test_service_recovers_and_the_key_is_usable_after_a_503(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    idem = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    drop_events_topic(ingest.settings)
    try:
        assert http.post(URL, json=EXAMPLE, headers=idem).status_code == 503
    finally:
        ensure_topics(ingest.settings)
    # A client retries a 503 after Retry-After; the producers need a metadata refresh to see
    # the recreated topic, so recovery is "soon", not "on the very next request".
    deadline = time.monotonic() + 60
    r = http.post(URL, json=EXAMPLE, headers=idem)
    while r.status_code == 503 and time.monotonic() < deadline:
        assert "retry-after" in r.headers
        time.sleep(1)
        r = http.post(URL, json=EXAMPLE, headers=idem)
    assert r.status_code == 202
    # The retry under the same key is one event on the log, never two.
    assert len(written(ingest.settings, "events", r.json()["id"].encode())) == 1


def wait_answer(client: httpx.Client, path: str, timeout_s: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return client.get(path)
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_no_broker_at_all_is_503_and_not_ready(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory, acme: object
) -> None:
    dead = Settings(bootstrap_servers="127.0.0.1:1", topic_prefix=seeded.topic_prefix)
    proc = IngestProcess(
        dead, tmp_path_factory.mktemp("dead"), TIDINGS_INGEST__INSTANCE_ID="ingest-dead"
    ).start(wait_ready=False)
    try:
        with httpx.Client(base_url=proc.url, timeout=10) as client:
            ready = wait_answer(client, "/readyz")
            assert ready.status_code == 503
            r = client.post(URL, json=EXAMPLE, headers={"Authorization": "Bearer tds_x.y"})
        assert (r.status_code, r.json()["code"]) == (503, "unavailable")
        assert "retry-after" in r.headers
    finally:
        proc.stop()
