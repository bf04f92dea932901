"""The PromQL name extraction the dashboard and alert tests rely on."""

from __future__ import annotations

from tests.support.metric_names import exported_metric_names, metric_names


def test_counters_are_exported_with_the_total_suffix() -> None:
    names = exported_metric_names()
    assert "tidings_consumed_total" in names
    assert "tidings_ingest_requests_total" in names
    assert "tidings_consumed" not in names


def test_histograms_are_exported_as_bucket_sum_and_count() -> None:
    names = exported_metric_names()
    for suffix in ("_bucket", "_sum", "_count"):
        assert f"tidings_ingest_request_seconds{suffix}" in names


def test_functions_labels_keywords_and_variables_are_not_metric_names() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{route=~"$r", x="y(z)"}'
        "[$__rate_interval]))) / on (route) group_left (le) b_total offset 5m > bool 1e3"
        " or absent(up{job='ingest'} == 1) unless c[${DS}]"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "up", "c"}


def test_a_bare_selector_is_a_metric_name() -> None:
    assert metric_names("tidings_consumer_lag") == {"tidings_consumer_lag"}
