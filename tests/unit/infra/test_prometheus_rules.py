"""The Prometheus config and alert rules load, pass their promtool unit tests, and use only
metrics the services export."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.metric_names import unknown_names

PROMETHEUS_DIR = Path(__file__).resolve().parents[3] / "infra" / "prometheus"
CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"


def promtool(*args: str) -> None:
    # No skip: an alert rule nobody ran is the failure this test exists to catch.
    path = shutil.which("promtool")
    assert path, "promtool is missing: run infra/prometheus.sh install"
    done = subprocess.run(
        [path, *args], capture_output=True, text=True, timeout=60, cwd=PROMETHEUS_DIR
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}{done.stderr}"


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_prometheus_config_is_valid() -> None:
    promtool("check", "config", str(CONFIG))


def test_alert_rules_are_valid() -> None:
    promtool("check", "rules", str(ALERTS))


def test_alert_rules_pass_their_unit_tests() -> None:
    promtool("test", "rules", str(ALERTS_TEST))


def test_config_scrapes_the_three_services_and_loads_the_alerts() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    targets = {
        job["job_name"]: [t for static in job["static_configs"] for t in static["targets"]]
        for job in config["scrape_configs"]
    }
    assert targets == {
        "ingest": ["127.0.0.1:8080"],
        "resolver": ["127.0.0.1:9181"],
        "fanout": ["127.0.0.1:9182"],
    }
    assert config["rule_files"] == [ALERTS.name]


def test_alert_expressions_use_only_exported_metrics() -> None:
    assert unknown_names(rule["expr"] for rule in alert_rules()) == {}


def test_every_alert_waits_and_says_what_to_do() -> None:
    for rule in alert_rules():
        assert rule.get("for"), rule["alert"]
        assert {"summary", "description"} <= rule["annotations"].keys(), rule["alert"]


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load(ALERTS_TEST.read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    for name in {rule["alert"] for rule in alert_rules()}:
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case.get("exp_alerts") for case in mine), f"{name} never fires in a test"
        assert any(not case.get("exp_alerts") for case in mine), f"{name} is never quiet"
