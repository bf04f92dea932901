"""Tracing: W3C trace context on Kafka header lists, the JSON-lines span exporter, and off by
default (no exporter configured, no provider, no spans)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link

from tidings import tracing
from tidings.contracts import headers as h
from tidings.settings import Settings, TracingSettings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_extract_reads_the_traceparent_header_of_a_record() -> None:
    headers = [(h.EVENT_ID, b"e-1"), (h.TRACEPARENT, PARENT.encode())]
    span = trace.get_current_span(tracing.extract(headers)).get_span_context()
    assert (format(span.trace_id, "032x"), span.is_remote, span.trace_flags.sampled) == (
        TRACE_ID,
        True,
        True,
    )


def test_extract_reads_a_map_of_original_headers_too() -> None:
    assert tracing.trace_id_of({h.TRACEPARENT: PARENT.encode()}.items()) == TRACE_ID


def test_a_record_without_traceparent_starts_a_new_root() -> None:
    context = tracing.extract([(h.EVENT_ID, b"e-1")])
    assert context == Context()
    assert not trace.get_current_span(context).get_span_context().is_valid


def test_a_malformed_traceparent_is_ignored() -> None:
    assert tracing.trace_id_of([(h.TRACEPARENT, b"00-nothex-00f067aa0ba902b7-01")]) is None


def test_inject_appends_traceparent_and_tracestate_of_the_context() -> None:
    carrier = tracing.extract([(h.TRACEPARENT, PARENT.encode()), (h.TRACESTATE, b"vendor=1")])
    headers = h.to_list({h.EVENT_ID: "e-1"})
    tracing.inject(headers, carrier)
    assert headers == [
        (h.EVENT_ID, b"e-1"),
        (h.TRACEPARENT, PARENT.encode()),
        (h.TRACESTATE, b"vendor=1"),
    ]


def test_inject_without_a_span_adds_nothing() -> None:
    assert tracing.inject([], Context()) == []


def test_a_span_continues_the_trace_it_was_extracted_from() -> None:
    provider = TracerProvider()
    with provider.get_tracer("t").start_as_current_span(
        "resolve", tracing.extract([(h.TRACEPARENT, PARENT.encode())])
    ) as span:
        headers = tracing.inject([])
    ctx = span.get_span_context()
    assert tracing.trace_id_of(headers) == TRACE_ID
    assert headers[0][1] == f"00-{TRACE_ID}-{ctx.span_id:016x}-01".encode()


def test_the_file_exporter_writes_one_json_line_per_finished_span(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(tracing.JsonLinesExporter(path)))
    tracer = provider.get_tracer("t")
    batch = tracer.start_span("transaction", Context())
    parent = tracing.extract([(h.TRACEPARENT, PARENT.encode())])
    with tracer.start_as_current_span(
        "fanout",
        parent,
        attributes={"tidings.event_id": "e-1"},
        links=[Link(batch.get_span_context())],
    ) as child:
        pass
    batch.end()
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [line["name"] for line in lines] == ["fanout", "transaction"]
    fanout, transaction = lines
    assert fanout["trace_id"] == TRACE_ID
    assert fanout["span_id"] == f"{child.get_span_context().span_id:016x}"
    assert fanout["parent_span_id"] == "00f067aa0ba902b7"
    assert fanout["attributes"] == {"tidings.event_id": "e-1"}
    assert fanout["links"] == [
        {"trace_id": transaction["trace_id"], "span_id": transaction["span_id"]}
    ]
    assert transaction["parent_span_id"] is None
    assert transaction["trace_id"] != TRACE_ID


def test_tracing_is_off_without_an_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("TIDINGS_TRACING__FILE", raising=False)
    assert tracing.configure_tracing(Settings(), "resolver") is False
    assert tracing.ENABLED is False
    assert isinstance(tracing.tracer(), trace.NoOpTracer)


def test_the_sample_ratio_is_a_probability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDINGS_TRACING__SAMPLE_RATIO", "0.25")
    assert Settings().tracing.sample_ratio == 0.25
    monkeypatch.setenv("TIDINGS_TRACING__SAMPLE_RATIO", "2")
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Settings()


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A local OTLP/HTTP endpoint: (its URL, the (path, body) of every request it got)."""
    received: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_spans_go_to_the_otlp_endpoint_when_it_is_set(
    monkeypatch: pytest.MonkeyPatch, collector: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, received = collector
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    provider = tracing.tracer_provider(Settings(), "resolver")
    assert provider is not None
    with provider.get_tracer("t").start_as_current_span("resolve"):
        pass
    assert provider.force_flush(10_000)
    provider.shutdown()
    ((path, body),) = received
    request = ExportTraceServiceRequest.FromString(body)
    (resource,) = request.resource_spans
    names = [span.name for scope in resource.scope_spans for span in scope.spans]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert (path, names, service["service.name"]) == ("/v1/traces", ["resolve"], "tidings-resolver")


def exported(tmp_path: Path, ratio: float, roots: int, parent: Context | None = None) -> int:
    """Spans written by a provider configured at ``ratio`` after ``roots`` spans were made."""
    path = tmp_path / f"spans-{ratio}.jsonl"
    settings = Settings(tracing=TracingSettings(sample_ratio=ratio, file=path))
    provider = tracing.tracer_provider(settings, "fanout")
    assert provider is not None
    tracer = provider.get_tracer("t")
    for _ in range(roots):
        tracer.start_span("fanout", parent if parent is not None else Context()).end()
    provider.shutdown()
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def test_the_sample_ratio_decides_how_many_new_traces_are_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert exported(tmp_path, 1.0, 200) == 200
    assert exported(tmp_path, 0.0, 200) == 0
    # TraceIdRatio on random trace ids: about a quarter of 2000 (500, standard deviation
    # 19); 400-600 is five deviations either side, missed about once in five million runs.
    assert 400 <= exported(tmp_path, 0.25, 2000) <= 600


def test_a_sampled_caller_is_followed_whatever_the_ratio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    sampled = tracing.extract([(h.TRACEPARENT, PARENT.encode())])
    assert exported(tmp_path, 0.0, 10, sampled) == 10
    unsampled = tracing.extract([(h.TRACEPARENT, PARENT[:-2].encode() + b"00")])
    assert exported(tmp_path, 1.0, 10, unsampled) == 0
