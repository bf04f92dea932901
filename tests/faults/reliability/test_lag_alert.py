"""The consumer-lag alert fires in a real Prometheus when a resolver falls behind, and clears
once it has caught up.

A real Prometheus (infra/prometheus.sh start, Debian's binary, on a free port with its data
under tmp_path) scrapes one resolver started by the harness on this module's topic prefix.
The resolver's lag gauge is exported by the resolver itself, so it is made to fall behind
while its /metrics still answers: the TIDINGS_TEST_HOOKS__SLOW_MS hook slows every record
(small batches, so the gauge is refreshed every few seconds), events are produced straight
to the events topic, and the lag grows. It is then restarted without the hook, catches up
and the alert resolves. (A stopped or SIGSTOPped process would export no lag at all: that is
what TidingsConsumerGroupEmpty is for, as the lag alert's description says.)

The rules are a test copy of infra/prometheus/alerts.yml's TidingsConsumerLagHigh: the SAME
expression with its threshold lowered from 10000 to LAG_THRESHOLD records and its ``for``
shortened from 10m to FOR, scraped and evaluated every second, so the scenario takes about
a minute instead of a quarter of an hour. Everything else (labels, annotations) is the
production rule's.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.support.load import team_body
from tests.support.pipeline import ROOT, DirectProducer
from tests.support.ports import free_port
from tests.support.stack import TENANT, Stack
from tidings.settings import Settings

PROMETHEUS_SH = ROOT / "infra" / "prometheus.sh"
ALERTS = ROOT / "infra" / "prometheus" / "alerts.yml"
ALERT = "TidingsConsumerLagHigh"
LAG_THRESHOLD = 50  # records; production: 10000
FOR = "5s"  # production: 10m
EVENTS = 300  # well above the threshold: the slow resolver needs minutes for them
SLOW = {  # 10 records a transaction, 0.3 s each: ~3 records/s, the gauge refreshed every 3 s
    "TIDINGS_TEST_HOOKS__SLOW_MS": "300",
    "TIDINGS_PROCESSING__RESOLVER_BATCH": "10",
}
FIRING_TIMEOUT_S = 90
RESOLVED_TIMEOUT_S = 120


def rules_copy(directory: Path) -> Path:
    """alerts.yml's lag rule with the same expression, a small threshold and a short for."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == ALERT]
    expr, replaced = re.subn(r">\s*\d+\s*$", f"> {LAG_THRESHOLD}", rule["expr"].strip())
    assert replaced == 1, f"{ALERT}: no '> N' threshold at the end of {rule['expr']!r}"
    path = directory / "alerts.test.yml"
    copy = {**rule, "expr": expr, "for": FOR}
    path.write_text(yaml.safe_dump({"groups": [{"name": "lag-alert-test", "rules": [copy]}]}))
    return path


class Prometheus:
    """infra/prometheus.sh on a port of this worker's block, data and pid under ``var``."""

    def __init__(self, var: Path, rules: Path, target_port: int) -> None:
        self.var, self.port = var, free_port()
        self.env = {**os.environ, "PROMETHEUS_PORT": str(self.port), "TIDINGS_VAR_DIR": str(var)}
        self.config = var / "prometheus.yml"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {
                    "job_name": "resolver",
                    "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                }
            ],
        }
        self.config.write_text(yaml.safe_dump(config))

    def _script(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PROMETHEUS_SH), *args], env=self.env, capture_output=True, text=True, timeout=120
        )

    def start(self) -> Prometheus:
        done = self._script("start", "--config", str(self.config))
        assert done.returncode == 0, f"prometheus did not start:\n{done.stdout}{done.stderr}"
        return self

    def stop(self) -> None:
        self._script("stop")

    def get(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = orjson.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def alert_states(self) -> list[str]:
        """States (pending, firing) of the lag alert now; empty when it is inactive."""
        alerts = self.get("/api/v1/alerts")["alerts"]
        return [a["state"] for a in alerts if a["labels"].get("alertname") == ALERT]

    def lag(self) -> list[tuple[dict[str, str], str]]:
        """(labels, value) of the alert's aggregation of tidings_consumer_lag now."""
        query = "sum%20by%20(service,topic)(tidings_consumer_lag)"
        return [
            (s["metric"], s["value"][1]) for s in self.get(f"/api/v1/query?query={query}")["result"]
        ]

    def log(self, lines: int = 20) -> str:
        path = self.var / "prometheus.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture
def prometheus_binary() -> None:
    # No skip, like the promtool tests: `make test` installs it (make prometheus-install).
    binary = Path(os.environ.get("PROMETHEUS_BIN", "/usr/bin/prometheus"))
    assert binary.exists(), f"{binary} is missing: run infra/prometheus.sh install"


@pytest.fixture
def prometheus_for(
    tmp_path: Path, prometheus_binary: None
) -> Iterator[Callable[[int], Prometheus]]:
    started: list[Prometheus] = []

    def start(target_port: int) -> Prometheus:
        prometheus = Prometheus(tmp_path, rules_copy(tmp_path), target_port)
        started.append(prometheus)
        return prometheus.start()

    yield start
    for prometheus in started:
        prometheus.stop()


def wait_for(
    what: str, check: Callable[[], bool], timeout_s: float, explain: Callable[[], str]
) -> float:
    """Poll ``check`` every second; the seconds it took, or fail saying what was seen."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if check():
            return time.monotonic() - started
        time.sleep(1.0)
    raise AssertionError(f"{what} not within {timeout_s}s\n{explain()}")


@pytest.mark.timeout(600)
def test_lag_alert_fires_while_the_resolver_falls_behind_and_clears_after(
    provisioned: Settings,
    log_dir: Path,
    stacks: list[Stack],
    prometheus_for: Callable[[int], Prometheus],
) -> None:
    stack = Stack(provisioned, log_dir)
    stacks.append(stack.start("resolver", **SLOW).wait_ready())
    resolver = stack.services["resolver"]
    prometheus = prometheus_for(resolver.port)

    def explain() -> str:
        return (
            f"alert states: {prometheus.alert_states()}\nlag in Prometheus: {prometheus.lag()}\n"
            f"resolver log:\n{stack.services['resolver'].tail(15)}\n"
            f"prometheus log:\n{prometheus.log()}"
        )

    producer = DirectProducer(provisioned, TENANT)
    for n in range(EVENTS):
        producer.send(team_body(n))
    producer.flush()
    fired_s = wait_for(
        f"{ALERT} firing (lag > {LAG_THRESHOLD} for {FOR})",
        lambda: "firing" in prometheus.alert_states(),
        FIRING_TIMEOUT_S,
        explain,
    )

    lag_when_firing = prometheus.lag()
    assert any(float(v) > LAG_THRESHOLD for _, v in lag_when_firing), lag_when_firing

    stack.services["resolver"].stop()
    stack.start("resolver").wait_ready()  # same port and instance id, without the slow hook
    # While no resolver answers, the lag series go stale and the alert goes quiet for lack of
    # data, not because the backlog is gone: only a lag the new process reports counts.
    quiet: list[bool] = []

    def caught_up_and_quiet() -> bool:
        lag = prometheus.lag()
        quiet.append(bool(lag) and all(v == "0" for _, v in lag) and not prometheus.alert_states())
        return quiet[-3:] == [True] * 3  # three evaluations in a row

    resolved_s = wait_for(
        f"{ALERT} quiet with the restarted resolver reporting lag 0",
        caught_up_and_quiet,
        RESOLVED_TIMEOUT_S,
        explain,
    )
    print(
        f"lag alert: firing after {fired_s:.0f}s at {lag_when_firing}; "
        f"quiet and caught up {resolved_s:.0f}s after the restart"
    )
