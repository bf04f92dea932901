"""Every metric of every service is labelled only by bounded values: services, topics,
partitions, groups, routes, codes. Never an event, user or key id; the tenant only as the
one value ``all`` unless a deployment opts in (TIDINGS_INGEST__TENANT_METRICS)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from tidings.processing.metrics import ServiceMetrics
from tidings_ingest.metrics import ALL_TENANTS, Metrics

# label -> why its values are bounded
ALLOWED = {
    "service": "ingest, resolver, fanout",
    "topic": "the deployment's topics",
    "partition": "the topics' partition counts",
    "group": "the pipeline's consumer groups",
    "stage": "the event states",
    "outcome": "the dead-letter outcomes",
    "route": "the API's routes",
    "method": "HTTP methods of those routes",
    "status": "HTTP status codes",
    "code": "the error codes of docs/errors.md",
    "kind": "the store memory kinds",
    "tenant": "one value, 'all', unless TIDINGS_INGEST__TENANT_METRICS opts in",
}


def labels_by_metric(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Metric -> its label names, for every collector of the registry."""
    out: dict[str, set[str]] = {}
    for collector in list(registry._collector_to_names):  # no public list of collectors
        if isinstance(collector, MetricWrapperBase):
            out[collector._name] = set(collector._labelnames)
            continue
        for family in collector.collect():  # a collector of its own: the labels it renders
            out[family.name] = {label for sample in family.samples for label in sample.labels}
    return out


def every_registry() -> dict[str, CollectorRegistry]:
    registries: dict[str, CollectorRegistry] = {}
    for service in ("resolver", "fanout"):
        metrics = ServiceMetrics(service)
        metrics.group_lag.update({("g", "t", 0): 1}, time.monotonic(), 60)
        registries[service] = metrics.registry
    ingest = Metrics()
    ingest.group_lag.update({("g", "t", 0): 1}, time.monotonic(), 60)
    registries["ingest"] = ingest.registry
    return registries


def test_every_label_of_every_service_metric_is_on_the_allowlist() -> None:
    found = {
        (service, metric, label)
        for service, registry in every_registry().items()
        for metric, labels in labels_by_metric(registry).items()
        for label in labels
    }
    assert {label for _, _, label in found} >= {"service", "group", "tenant"}  # the walk works
    assert {entry for entry in found if entry[2] not in ALLOWED} == set()


def test_accepted_events_are_one_series_unless_tenants_are_opted_in() -> None:
    shared, per_tenant = Metrics(), Metrics(per_tenant=True)
    for tenant in ("acme", "globex"):
        shared.accepted_by(tenant).inc()
        per_tenant.accepted_by(tenant).inc()

    def tenants(metrics: Metrics) -> dict[str, float]:
        (family,) = [f for f in metrics.registry.collect() if f.name.endswith("accepted_events")]
        return {s.labels["tenant"]: s.value for s in family.samples if s.name.endswith("_total")}

    assert tenants(shared) == {ALL_TENANTS: 2.0}
    assert tenants(per_tenant) == {"acme": 1.0, "globex": 1.0}
