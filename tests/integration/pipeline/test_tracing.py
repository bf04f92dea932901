"""One trace from the HTTP request to the delivery request: ingest, resolver and fan-out each
write their spans (``TIDINGS_TRACING__FILE``) under the caller's trace id, and the delivery
request carries it on for a sender downstream."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from tests.support.pipeline import ServiceFactory, load_users, register_schemas
from tidings import tracing
from tidings.contracts import headers as h
from tidings.contracts.topics import Topics
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.kafka.config import consumer_config
from tidings.ops.admin import create_client
from tidings.settings import Settings

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"
BODY = {
    "type": "content.approved",
    "recipients": {"users": ["u1"]},
    "payload": {"content_id": "c-1"},
}
FLAKY = "test.flaky"  # its first attempt fails transiently (the documented fault hook)
SCHEMA = {"type": "record", "name": "Ping", "fields": [{"name": "content_id", "type": "string"}]}


def span_file(log_dir: Path, service: str) -> Path:
    return log_dir / f"spans-{service}.jsonl"


@pytest.fixture(scope="module")
def api(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory, log_dir: Path
) -> Iterator[httpx.Client]:
    load_users(
        settings,
        [{"tenant": "acme", "id": "u1", "channels": {"email": "u1@x.test", "in_app": "u1"}}],
    )
    register_schemas(settings, {FLAKY: SCHEMA})
    created = create_client(settings, "acme", [SCOPE_WRITE, SCOPE_READ])

    def traced(name: str) -> dict[str, str]:
        return {
            "TIDINGS_TRACING__FILE": str(span_file(log_dir, name)),
            "OTEL_EXPORTER_OTLP_ENDPOINT": "",  # the file only, whatever the outer env says
        }

    ingest = start_service("ingest", **traced("ingest"))
    retries = {
        "TIDINGS_TEST_HOOKS__FAULTS": orjson.dumps({FLAKY: 1}).decode(),
        "TIDINGS_PROCESSING__RETRY_BASE_MS": "300",
    }
    start_service("resolver", **traced("resolver"), **retries).wait_healthy()
    start_service("fanout", **traced("fanout")).wait_healthy()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{ingest.port}",
        headers={"Authorization": f"Bearer {created.secret}"},
        timeout=10,
    ) as client:
        wait_ready(client)
        yield client


def wait_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError("ingest not ready")


def until_dispatched(api: httpx.Client, event_id: str) -> str:
    deadline = time.monotonic() + 90
    status = None
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/notifications/{event_id}")
        status = response.json().get("status") if response.status_code == 200 else None
        if status in {"dispatched", "failed", "rejected"}:
            return str(status)
        time.sleep(0.3)
    raise AssertionError(f"not dispatched: {status}")


def spans(
    path: Path,
    name: str,
    where: Callable[[dict[str, Any]], bool] = lambda span: True,
    timeout_s: float = 30,
    at_least: int = 1,
) -> list[dict[str, Any]]:
    """The spans of ``name`` in a service's span file that are ``where`` (waits for some)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            found = [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]
            found = [s for s in found if s["name"] == name and where(s)]
            if len(found) >= at_least:
                return found
        time.sleep(0.2)
    raise AssertionError(f"no {name} span in {path}")


def delivery_headers(settings: Settings) -> list[list[tuple[str, bytes]]]:
    """The headers of every committed delivery request."""
    topics = [spec.name for spec in Topics(settings).deliveries.values()]
    conf = consumer_config(settings, f"reader-{time.monotonic_ns()}", None)
    consumer = Consumer({**conf, "enable.partition.eof": True})
    parts = []
    for topic in topics:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions]
    consumer.assign(parts)
    out, pending = [], {(tp.topic, tp.partition) for tp in parts}
    deadline = time.monotonic() + 30
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=0.2):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard((msg.topic(), msg.partition()))
                continue
            out.append([(k, v or b"") for k, v in msg.headers() or []])
    consumer.close()
    return out


def post(api: httpx.Client, body: dict[str, Any], trace_id: str) -> str:
    response = api.post(
        "/api/v1/notifications",
        json=body,
        headers={"traceparent": f"00-{trace_id}-{CALLER_SPAN}-01"},
    )
    assert response.status_code == 202, response.text
    event_id = str(response.json()["id"])
    assert until_dispatched(api, event_id) == "dispatched"
    return event_id


def in_trace(trace_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda span: span["trace_id"] == trace_id


def test_one_trace_runs_from_the_request_to_the_delivery_requests(
    api: httpx.Client, settings: Settings, log_dir: Path
) -> None:
    event_id = post(api, BODY, TRACE_ID)

    (create,) = spans(
        span_file(log_dir, "ingest"),
        "POST /api/v1/notifications",
        lambda s: s["attributes"].get("tidings.event_id") == event_id,
    )
    (resolve,) = spans(span_file(log_dir, "resolver"), "resolve", in_trace(TRACE_ID))
    (fanout,) = spans(span_file(log_dir, "fanout"), "fanout", in_trace(TRACE_ID))
    # One trace, the caller's, each stage the child of the one before.
    assert [s["trace_id"] for s in (create, resolve, fanout)] == [TRACE_ID] * 3
    assert create["parent_span_id"] == CALLER_SPAN
    assert resolve["parent_span_id"] == create["span_id"]
    assert fanout["parent_span_id"] == resolve["span_id"]
    assert resolve["attributes"]["tidings.event_id"] == event_id
    assert fanout["attributes"]["tidings.event_id"] == event_id
    # Each record's span is linked to its transaction's span (a root of its own).
    for service, span in (("resolver", resolve), ("fanout", fanout)):
        (link,) = span["links"]
        (transaction,) = spans(
            span_file(log_dir, service),
            "transaction",
            lambda t, link=link: (
                (t["trace_id"], t["span_id"]) == (link["trace_id"], link["span_id"])
            ),
        )
        assert transaction["parent_span_id"] is None

    requests = [
        hs
        for hs in delivery_headers(settings)
        if h.to_dict(hs).get(h.EVENT_ID) == event_id.encode()
    ]
    assert len(requests) == 2  # email and in_app
    for headers in requests:
        assert tracing.trace_id_of(headers) == TRACE_ID
        assert h.to_dict(headers)[h.TRACEPARENT].decode().split("-")[2] == fanout["span_id"]


def test_a_retried_event_stays_in_its_trace(api: httpx.Client, log_dir: Path) -> None:
    trace_id = "5b8aa5a2d2c872e8321cf37308d69df2"
    post(api, {**BODY, "type": FLAKY}, trace_id)
    (create,) = spans(
        span_file(log_dir, "ingest"), "POST /api/v1/notifications", in_trace(trace_id)
    )
    # Attempt 1 (retrying) from the events topic, attempt 2 from the retry topic; a retry
    # record read before it was due is a span marked deferred.
    attempts = spans(
        span_file(log_dir, "resolver"),
        "resolve",
        lambda s: s["trace_id"] == trace_id and not s["attributes"].get("tidings.deferred"),
        at_least=2,
    )
    topics = [s["attributes"]["messaging.destination.name"] for s in attempts]
    assert [t.rsplit(".", 1)[-1] for t in topics] == ["events", "retry"]
    assert {s["parent_span_id"] for s in attempts} == {create["span_id"]}
    (fanout,) = spans(span_file(log_dir, "fanout"), "fanout", in_trace(trace_id))
    assert fanout["parent_span_id"] == attempts[1]["span_id"]


def test_every_item_of_a_batch_runs_in_the_callers_trace(
    api: httpx.Client, settings: Settings, log_dir: Path
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = api.post(
        "/api/v1/notifications/batch",
        json={"notifications": [BODY, {**BODY, "payload": {"content_id": "c-2"}}]},
        headers={"traceparent": f"00-{trace_id}-{CALLER_SPAN}-01"},
    )
    assert response.status_code == 202, response.text
    ids = [str(entry["id"]) for entry in response.json()["notifications"]]
    assert [until_dispatched(api, event_id) for event_id in ids] == ["dispatched"] * 2

    (batch,) = spans(
        span_file(log_dir, "ingest"), "POST /api/v1/notifications/batch", in_trace(trace_id)
    )
    assert batch["parent_span_id"] == CALLER_SPAN
    resolves = spans(span_file(log_dir, "resolver"), "resolve", in_trace(trace_id), at_least=2)
    fanouts = spans(span_file(log_dir, "fanout"), "fanout", in_trace(trace_id), at_least=2)
    # Each item is a resolve and a fan-out span of its own, children of the batch request.
    assert sorted(s["attributes"]["tidings.event_id"] for s in resolves) == sorted(ids)
    assert {s["parent_span_id"] for s in resolves} == {batch["span_id"]}
    by_event = {s["attributes"]["tidings.event_id"]: s["span_id"] for s in resolves}
    assert sorted(s["attributes"]["tidings.event_id"] for s in fanouts) == sorted(ids)
    for span in fanouts:
        assert span["parent_span_id"] == by_event[span["attributes"]["tidings.event_id"]]
    requests = [
        hs
        for hs in delivery_headers(settings)
        if h.to_dict(hs).get(h.EVENT_ID, b"").decode() in ids
    ]
    assert len(requests) == 4  # email and in_app of each item
    assert {tracing.trace_id_of(headers) for headers in requests} == {trace_id}
