"""Health, readiness, metrics, the OpenAPI document, and graceful shutdown."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess, new_client
from tidings.contracts import headers as h
from tidings.settings import Settings

from .records import read_all

URL = "/api/v1/notifications"


def test_healthz_is_200(ingest: IngestProcess) -> None:
    assert httpx.get(f"{ingest.url}/healthz").json() == {"status": "ok"}


def test_readyz_is_200_once_views_and_publisher_are_ready(ingest: IngestProcess) -> None:
    r = httpx.get(f"{ingest.url}/readyz")
    assert (r.status_code, r.json()["status"]) == (200, "ready")


def test_metrics_count_requests_accepted_events_under_all_tenants_and_rejections(
    http: httpx.Client,
) -> None:
    http.post(URL, json=EXAMPLE)
    http.post(URL, json={**EXAMPLE, "type": "no.such"})
    text = http.get("/metrics").text
    assert 'tidings_ingest_accepted_events_total{tenant="all"}' in text
    assert 'tidings_ingest_rejected_total{code="unknown_event_type"}' in text
    assert 'route="create_notification"' in text
    assert "tidings_ingest_produce_seconds_bucket" in text


def test_openapi_document_lists_the_api(ingest: IngestProcess) -> None:
    doc = httpx.get(f"{ingest.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) >= {"/api/v1/notifications", "/api/v1/notifications/{event_id}"}


def test_sigterm_finishes_in_flight_requests_and_exits_cleanly(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory, ingest: IngestProcess
) -> None:
    proc = IngestProcess(
        seeded,
        tmp_path_factory.mktemp("shutdown"),
        TIDINGS_INGEST__INSTANCE_ID="ingest-s",
        TIDINGS_KAFKA__LINGER_MS="800",  # requests sit in the producer at SIGTERM
        TIDINGS_TEST_HOOKS__ANSWER_DELAY_MS="1500",  # and stay in flight after their ack
    ).start()
    client = new_client(proc)
    answers: list[httpx.Response] = []

    def post() -> None:
        with proc.client(client.secret) as http:
            answers.append(http.post(URL, json=EXAMPLE))

    threads = [threading.Thread(target=post) for _ in range(5)]
    for t in threads:
        t.start()
    # SIGTERM only once the server holds all five: a request that has not reached it by then
    # is refused, which says nothing about shutdown (a slow machine lost two that way).
    deadline = time.monotonic() + 10
    while proc.in_flight() < 5:
        assert time.monotonic() < deadline, "the five requests never were in flight together"
        time.sleep(0.02)
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown completed.
    assert proc.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "ingest_stopped" in proc.log_path.read_text()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [202] * 5
    ids = {r.json()["id"].encode() for r in answers}
    events = read_all(seeded, f"{seeded.topic_prefix}events")
    assert ids <= {h.to_dict(m.headers()).get(h.EVENT_ID) for m in events}
