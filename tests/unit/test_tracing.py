"""Tracing: W3C trace context on Kafka header lists, the JSON-lines span exporter, and off by
default (no exporter configured, no provider, no spans)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link

from tidings import tracing
from tidings.contracts import headers as h
from tidings.settings import Settings

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
