"""Record headers: what an operator needs to read a record with stock console tools."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

EVENT_ID = "event-id"
EVENT_TYPE = "event-type"
TENANT = "tenant"
CONTENT_TYPE = "content-type"
FINGERPRINT = "schema-fingerprint"
SIGNER = "signer"
SIGNATURE = "signature"
PROOF = "proof"  # a batch-signed record's Merkle proof (tidings.domain.merkle)
REPLAY_ID = "replay-id"
# On every resolved chunk: what fan-out carries into ``dispatched`` (recipients, skipped by
# reason, directory offset); fan-out sees chunks, never the resolver's state.
RESOLUTION = "resolution"
# W3C trace context (tidings/tracing.py): on events, resolved chunks and delivery requests, so
# every stage, and a sender downstream, continues the trace of the request that created it.
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

Headers = list[tuple[str, str | bytes | None]]


def to_list(values: Mapping[str, str | bytes]) -> Headers:
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in values.items()]


def to_dict(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, bytes]:
    """Last value wins, as Kafka's own header lookup does; absent headers give an empty dict."""
    return {k: (v or b"") for k, v in (headers or [])}


def text(headers: Mapping[str, bytes], name: str) -> str | None:
    value = headers.get(name)
    return value.decode("utf-8", errors="replace") if value is not None else None
