"""The Grafana dashboard is valid JSON, reads from the ${DS_PROMETHEUS} variable, and every
query names only metrics the services export."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.metric_names import unknown_names

DASHBOARD = Path(__file__).resolve().parents[3] / "infra" / "grafana" / "tidings-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())  # invalid JSON fails here
    return board


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))  # a collapsed row holds its panels


def queried_panels() -> list[dict[str, Any]]:
    return [p for p in panels(dashboard()["panels"]) if p["type"] != "row"]


def test_dashboard_reads_from_the_datasource_variable() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for panel in queried_panels():
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


def test_every_panel_has_a_query_and_a_unique_id() -> None:
    ids = [p["id"] for p in panels(dashboard()["panels"])]
    assert len(ids) == len(set(ids))
    for panel in queried_panels():
        assert panel["targets"], panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]


def test_panel_queries_use_only_exported_metrics() -> None:
    exprs = [t["expr"] for p in queried_panels() for t in p["targets"]]
    assert unknown_names(exprs) == {}


def test_variable_queries_use_only_exported_metrics() -> None:
    definitions = [v.get("definition", "") for v in dashboard()["templating"]["list"]]
    metrics = [m for d in definitions for m in re.findall(r"label_values\((\w+),", d)]
    assert metrics
    assert unknown_names(metrics) == {}


def test_no_panel_repeats_a_query() -> None:
    for panel in queried_panels():
        exprs = [" ".join(target["expr"].split()) for target in panel["targets"]]
        assert len(exprs) == len(set(exprs)), panel["title"]
