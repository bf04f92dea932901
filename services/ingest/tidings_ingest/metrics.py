"""Prometheus metrics of one app instance (its own registry, so tests can build several)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tidings.kafka.grouplag import GroupLagGauge
from tidings.stores.metrics import register_store_metrics

ALL_TENANTS = "all"  # the tenant label unless per-tenant series are asked for


class Metrics:
    def __init__(self, per_tenant: bool = False) -> None:
        """``per_tenant``: label accepted events by tenant (TIDINGS_INGEST__TENANT_METRICS);
        off, one series labelled ``all``: tenants are unbounded, a series each would grow the
        scrape with every new customer."""
        self._per_tenant = per_tenant
        self.registry = CollectorRegistry()
        register_store_metrics(self.registry)
        self.requests = Counter(
            "tidings_ingest_requests_total",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tidings_ingest_request_seconds",
            "HTTP request latency by route.",
            ["route"],
            registry=self.registry,
        )
        self.produce = Histogram(
            "tidings_ingest_produce_seconds",
            "From handing the event to the producer to the broker's acks=all acknowledgement.",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.accepted = Counter(
            "tidings_ingest_accepted_events_total",
            "Events accepted (appended with acks=all), by tenant when"
            ' TIDINGS_INGEST__TENANT_METRICS is on, else tenant="all".',
            ["tenant"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "tidings_ingest_rejected_total",
            "Requests answered with an error, by error code.",
            ["code"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "tidings_ingest_ready", "1 when the service is ready.", registry=self.registry
        )
        # Read at scrape time from the runtime's counter (Runtime sets the function), so
        # the request path pays nothing for it.
        self.loop_lag = Gauge(
            "tidings_ingest_loop_lag_seconds",
            "How late the event loop runs its 20 ms timer (smoothed): the wait in front of"
            " the app.",
            registry=self.registry,
        )
        self.admission_limit = Gauge(
            "tidings_ingest_admission_limit",
            "Creates and batches taken at once now: the in-flight bound, lowered while the"
            " loop runs later than TIDINGS_INGEST__SHED_LOOP_LAG_MS; more are answered 503.",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "tidings_ingest_in_flight_requests",
            "Create and batch requests being worked on (admission sheds at the bound).",
            registry=self.registry,
        )
        # The pipeline groups' lag from the broker: still exported when a stage is stopped.
        self.group_lag = GroupLagGauge(self.registry)
        self._accepted: dict[str, Any] = {}
        self._rejected: dict[str, Any] = {}
        self._answered: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count an answer and observe its latency, each child looked up once (routes,
        methods and statuses are few)."""
        children = self._answered.get((route, method, status))
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
            self._answered[(route, method, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def rejected_by(self, code: str) -> Any:
        """The error code's child of ``rejected`` (codes are few)."""
        return _child(self._rejected, self.rejected, code)

    def accepted_by(self, tenant: str) -> Any:
        """The tenant's child of ``accepted`` (the one ``all`` child unless per tenant)."""
        return _child(self._accepted, self.accepted, tenant if self._per_tenant else ALL_TENANTS)


def _child(children: dict[str, Any], metric: Counter, value: str) -> Any:
    """``metric.labels(value)``, looked up once per value (``labels()`` costs µs a call)."""
    child = children.get(value)
    if child is None:
        child = children[value] = metric.labels(value)
    return child
