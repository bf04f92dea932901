"""Per-partition gauges exist only for the partitions an instance owns."""

from __future__ import annotations

from tidings.processing.metrics import PartitionGauges, ServiceMetrics


def sample(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"service": "resolver", **labels})


def series(metrics: ServiceMetrics, name: str) -> list[dict[str, str]]:
    return [s.labels for m in metrics.registry.collect() for s in m.samples if s.name == name]


def test_a_revoked_partition_loses_its_lag_and_age_series() -> None:
    metrics = ServiceMetrics("resolver")
    gauges = PartitionGauges(metrics)
    gauges.assigned([("events", 0), ("events", 1)])
    gauges.report("events", 0, 7, 3.5)
    gauges.report("events", 1, 0, 0.0)
    gauges.revoked([("events", 0)])
    assert [s["partition"] for s in series(metrics, "tidings_consumer_lag")] == ["1"]
    assert [s["partition"] for s in series(metrics, "tidings_oldest_unprocessed_age_seconds")] == [
        "1"
    ]
    assert sample(metrics, "tidings_consumer_assigned_partitions") == 1


def test_a_report_after_the_revoke_does_not_bring_the_series_back() -> None:
    metrics = ServiceMetrics("resolver")
    gauges = PartitionGauges(metrics)
    gauges.assigned([("events", 0)])
    gauges.revoked([("events", 0)])
    gauges.report("events", 0, 5, 1.0)
    assert series(metrics, "tidings_consumer_lag") == []
    assert sample(metrics, "tidings_consumer_assigned_partitions") == 0


def test_revoking_a_partition_never_reported_is_harmless() -> None:
    metrics = ServiceMetrics("resolver")
    gauges = PartitionGauges(metrics)
    gauges.assigned([("events", 0), ("events.retry", 0)])
    gauges.revoked([("events.retry", 0), ("events", 3)])
    assert sample(metrics, "tidings_consumer_assigned_partitions") == 1
