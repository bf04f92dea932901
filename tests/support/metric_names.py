"""The metric names the services export, and the metric names a PromQL expression uses.

The exported names come from the services' own registries, so a renamed metric fails the
dashboard and alert tests instead of leaving a panel silently empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from tidings.processing.metrics import ServiceMetrics
from tidings_ingest.metrics import Metrics

# Series Prometheus writes itself for every scrape target.
SCRAPE_SERIES = ("up",)

# Aggregations and operators: identifiers of PromQL that are not metric names.
_KEYWORDS = frozenset(
    (
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "atan2",
        "inf",
        "nan",
    )
)
_IDENTIFIER = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_LABEL_LISTS = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_STRING = re.compile(r""""(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`""")


def _sample_names(registry: CollectorRegistry, owner: object) -> set[str]:
    # A labelled metric exposes no sample until a child exists: create one per metric
    # (_labelnames is the only way prometheus_client tells a metric's label names).
    for metric in vars(owner).values():
        if isinstance(metric, MetricWrapperBase) and metric._labelnames:
            metric.labels(*("x" for _ in metric._labelnames))
    families = list(registry.collect())
    # A collector of its own (tidings_group_lag) has no samples before its first sample:
    # a gauge's family name is its series name.
    gauges = {family.name for family in families if family.type == "gauge"}
    return gauges | {sample.name for family in families for sample in family.samples}


def exported_metric_names() -> set[str]:
    """Every series name ingest, resolver and fan-out expose on /metrics, as Prometheus sees it."""
    processing = ServiceMetrics("resolver")
    ingest = Metrics()
    return (
        _sample_names(processing.registry, processing)
        | _sample_names(ingest.registry, ingest)
        | set(SCRAPE_SERIES)
    )


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (Grafana variables allowed)."""
    expr = _STRING.sub('""', expr)  # label values may hold anything
    expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers, ${VAR}
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges, [$__rate_interval]
    expr = _LABEL_LISTS.sub(r"\1", expr)
    expr = re.sub(r"\$\w+", "", expr)  # $__range in a stat, $var outside braces
    return {name for name in _IDENTIFIER.findall(expr) if name not in _KEYWORDS}


def unknown_names(exprs: Iterable[str]) -> dict[str, set[str]]:
    """Expression -> the metric names in it that no service exports (empty when all are)."""
    exported = exported_metric_names()
    return {e: names for e in exprs if (names := metric_names(e) - exported)}
