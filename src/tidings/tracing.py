"""Distributed tracing (OpenTelemetry): set-up, and W3C trace context on Kafka headers.

Off unless an exporter is configured: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (OTLP/HTTP, the other
``OTEL_EXPORTER_OTLP_*`` variables apply) or ``TIDINGS_TRACING__FILE`` (one JSON line per
finished span; the tests read it). Off, no tracer provider is installed and ``ENABLED`` stays
False: hot paths check that flag and then create no span and read no header at all.

A trace travels as the ``traceparent`` (and ``tracestate``) record header: ingest writes the
create request's context onto the event, the resolver its ``resolve`` span's onto every
chunk, the fan-out its ``fanout`` span's onto every delivery request. Sampling is
ParentBased(TraceIdRatio(``TIDINGS_TRACING__SAMPLE_RATIO``)): a sampled-out trace still
carries its context (flags 00), so every stage makes the same decision.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tidings.contracts import headers as h
from tidings.settings import Settings

ENABLED = False  # read as ``tracing.ENABLED`` at each use: set once by ``configure_tracing``
_W3C = TraceContextTextMapPropagator()
_TRACE_HEADERS = (h.TRACEPARENT, h.TRACESTATE)
_tracer: trace.Tracer = trace.NoOpTracer()


def configure_tracing(settings: Settings, service: str) -> bool:
    """Install the tracer provider of this process when an exporter is configured."""
    global ENABLED, _tracer
    provider = tracer_provider(settings, service)
    if provider is None:
        return False
    trace.set_tracer_provider(provider)  # the SDK flushes and shuts it down at exit
    _tracer = provider.get_tracer("tidings")
    ENABLED = True
    return True


def tracer_provider(settings: Settings, service: str) -> TracerProvider | None:
    """The provider ``configure_tracing`` installs (None: no exporter, tracing off): OTLP
    when ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`` is set, the JSON-lines file when
    ``tracing.file`` is, both when both are; sampled at ``tracing.sample_ratio``."""
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    path = settings.tracing.file
    disabled = os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"
    if disabled or not (endpoint or path):
        return None
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"tidings-{service}"}
    provider = TracerProvider(
        resource=Resource.create(attributes),
        sampler=ParentBased(TraceIdRatioBased(settings.tracing.sample_ratio)),
    )
    if endpoint:
        # Imported only when used: it brings protobuf and requests.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if path:
        # Synchronous: a test reads the file while the service runs.
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(path)))
    return provider


def tracer() -> trace.Tracer:
    return _tracer


# -- trace context on Kafka headers ----------------------------------------------------------
def inject(headers: h.Headers, context: Context | None = None) -> h.Headers:
    """Append ``traceparent`` (and ``tracestate``) of the current span (or ``context``)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier, context)
    headers.extend((name, carrier[name].encode()) for name in _TRACE_HEADERS if name in carrier)
    return headers


def extract(headers: Iterable[tuple[str, str | bytes | None]] | Mapping[str, bytes]) -> Context:
    """The remote parent carried by record headers; an empty context (a new root) if none."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    carrier = {
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in pairs
        if name in _TRACE_HEADERS and value
    }
    return _W3C.extract(carrier, Context()) if carrier else Context()


def trace_id_of(headers: Iterable[tuple[str, str | bytes | None]]) -> str | None:
    """The hex trace id of a record's ``traceparent`` (None when it carries none)."""
    span = trace.get_current_span(extract(headers)).get_span_context()
    return format(span.trace_id, "032x") if span.is_valid else None


# -- spans -------------------------------------------------------------------------------------
@contextmanager
def server_span(name: str, http_headers: Mapping[str, str]) -> Iterator[Span]:
    """A request's span, continuing the caller's ``traceparent`` (or a new root)."""
    parent = _W3C.extract(http_headers, Context())
    with _tracer.start_as_current_span(name, parent, SpanKind.SERVER) as span:
        yield span


def batch_span(service: str, records: int) -> Span:
    """A transaction's span: a root of its own (a batch holds many traces); ended by caller."""
    return _tracer.start_span(
        "transaction",
        Context(),
        SpanKind.INTERNAL,
        {"tidings.service": service, "messaging.batch.message_count": records},
    )


_RECORD_ATTRIBUTES = {h.EVENT_ID: "tidings.event_id", h.TENANT: "tidings.tenant"}


@contextmanager
def record_span(
    name: str,
    headers: Iterable[tuple[str, bytes]],
    batch: SpanContext,
    attributes: Mapping[str, Any],
) -> Iterator[Span]:
    """One record's span in a stage, child of the record's trace, linked to its batch."""
    headers = list(headers)
    named = {
        _RECORD_ATTRIBUTES[k]: v.decode("utf-8", "replace")
        for k, v in headers
        if k in _RECORD_ATTRIBUTES and v
    }
    with _tracer.start_as_current_span(
        name,
        extract(headers),
        SpanKind.CONSUMER,
        {**attributes, **named},
        links=[Link(batch)],
        record_exception=False,  # control flow (Defer) passes through; failures abort the batch
        set_status_on_exception=False,
    ) as span:
        yield span


def annotate(attributes: Mapping[str, Any]) -> None:
    """Attributes on the current span (nothing when no span is recording)."""
    trace.get_current_span().set_attributes(attributes)


def failed(span: Span, error: BaseException) -> None:
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))


# -- the file exporter (tests) ------------------------------------------------------------------
def span_line(span: ReadableSpan) -> bytes:
    """One finished span as a JSON line."""
    ctx, parent = span.context, span.parent
    assert ctx is not None  # a finished span always has its context
    return orjson.dumps(
        {
            "service": span.resource.attributes.get("service.name"),
            "name": span.name,
            "kind": span.kind.name,
            "trace_id": format(ctx.trace_id, "032x"),
            "span_id": format(ctx.span_id, "016x"),
            "parent_span_id": format(parent.span_id, "016x") if parent else None,
            "start_ns": span.start_time,
            "end_ns": span.end_time,
            "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}),
            "links": [
                {
                    "trace_id": format(link.context.trace_id, "032x"),
                    "span_id": format(link.context.span_id, "016x"),
                }
                for link in span.links
            ],
        },
        default=str,
    )


class JsonLinesExporter(SpanExporter):
    """A span exporter of the SDK's interface: appends one JSON line per span to ``path``."""

    def __init__(self, path: Path | str) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = b"".join(span_line(span) + b"\n" for span in spans)
        try:
            with self._lock, self._path.open("ab") as f:
                f.write(data)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
