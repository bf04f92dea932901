"""Prometheus metrics and a tiny health endpoint for one consumer service.

Each service owns a registry of its own (no global default registry), served together with
``/healthz`` by a stdlib HTTP server on a daemon thread: no asyncio in the consumer services.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from tidings.kafka.grouplag import GroupLagGauge
from tidings.stores.metrics import register_store_metrics


class ServiceMetrics:
    """consumed, produced, state transitions, lag, aborts, retries, dead letters, latency."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        register_store_metrics(r)
        self.consumed = Counter(
            "tidings_consumed", "records consumed", ["service", "topic"], registry=r
        )
        self.produced = Counter(
            "tidings_produced",
            "records produced in committed transactions",
            ["service", "topic"],
            registry=r,
        )
        self.transitions = Counter(
            "tidings_state_transitions", "state records written", ["service", "stage"], registry=r
        )
        self.lag = Gauge(
            "tidings_consumer_lag",
            "records behind the high watermark",
            ["service", "topic", "partition"],
            registry=r,
        )
        self.oldest_age = Gauge(
            "tidings_oldest_unprocessed_age_seconds",
            "age of the oldest record not yet processed (0 when caught up)",
            ["service", "topic", "partition"],
            registry=r,
        )
        # Every pipeline group's lag from the broker, this instance a member or not.
        self.group_lag = GroupLagGauge(r)
        self.assigned = Gauge(
            "tidings_consumer_assigned_partitions",
            "input partitions assigned to this instance",
            ["service"],
            registry=r,
        )
        self.commits = Counter("tidings_transactions_committed", "", ["service"], registry=r)
        self.aborts = Counter("tidings_transaction_aborts", "", ["service"], registry=r)
        self.retries = Counter("tidings_retries", "events sent to retry", ["service"], registry=r)
        self.dead_letters = Counter(
            "tidings_dead_letters", "dead-letter records", ["service", "outcome"], registry=r
        )
        self.batch_seconds = Histogram(
            "tidings_transaction_seconds",
            "one consume-produce-commit cycle",
            ["service"],
            registry=r,
        )
        self.latency = Histogram(
            "tidings_event_latency_seconds",
            "accepted_at to this service's terminal write",
            ["service"],
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.service = service

    def render(self) -> bytes:
        return generate_latest(self.registry)


class PartitionGauges:
    """The per-partition series of one instance: set only for partitions it owns, and removed
    when a partition is revoked or lost, so a former owner never reports a stale lag beside
    the new owner's (both series would be summed by any dashboard)."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._m, self._service = metrics, metrics.service
        self._owned: set[tuple[str, int]] = set()
        self._m.assigned.labels(self._service).set(0)

    def assigned(self, partitions: list[tuple[str, int]]) -> None:
        self._owned.update(partitions)
        self._m.assigned.labels(self._service).set(len(self._owned))

    def revoked(self, partitions: list[tuple[str, int]]) -> None:
        for topic, partition in partitions:
            self._owned.discard((topic, partition))
            for gauge in (self._m.lag, self._m.oldest_age):
                with contextlib.suppress(KeyError):  # never reported: nothing to remove
                    gauge.remove(self._service, topic, str(partition))
        self._m.assigned.labels(self._service).set(len(self._owned))

    def report(self, topic: str, partition: int, lag: int, age_s: float) -> None:
        if (topic, partition) not in self._owned:
            return  # revoked between the read and the report: no series may come back
        labels = (self._service, topic, str(partition))
        self._m.lag.labels(*labels).set(lag)
        self._m.oldest_age.labels(*labels).set(age_s)


def serve(
    port: int, metrics: ServiceMetrics, healthy: Callable[[], tuple[bool, str]]
) -> ThreadingHTTPServer:
    """``GET /healthz`` (200 when ``healthy()``, else 503) and ``GET /metrics``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, metrics.render(), CONTENT_TYPE_LATEST)
            elif self.path in ("/healthz", "/readyz"):
                ok, why = healthy()
                self._send(200 if ok else 503, why.encode(), "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # probes every second would drown the JSON logs

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
