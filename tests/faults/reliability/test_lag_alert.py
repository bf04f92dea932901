"""The consumer-lag alert fires in a real Prometheus while the resolver is STOPPED, and
clears once it runs again and has caught up.

A real Prometheus (infra/prometheus.sh start, Debian's binary, on a free port with its data
under tmp_path) scrapes ingest, resolver and fan-out, started by the harness on this module's
topic prefix. The alert reads ``tidings_group_lag``, which every service measures from the
broker for every pipeline group (kafka/grouplag.py), so the resolver is terminated outright:
its own /metrics answers nothing, and ingest and fan-out still export its group's lag.
Events are produced straight to the events topic, the alert fires, the resolver is started
again (same port, same instance id), drains the backlog, and the alert resolves.

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
import urllib.parse
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
from tidings.contracts.topics import Topics
from tidings.settings import Settings

PROMETHEUS_SH = ROOT / "infra" / "prometheus.sh"
ALERTS = ROOT / "infra" / "prometheus" / "alerts.yml"
ALERT = "TidingsConsumerLagHigh"
LAG_THRESHOLD = 50  # records; production: 10000
FOR = "5s"  # production: 10m
EVENTS = 300  # well above the threshold
REFRESH = {"TIDINGS_KAFKA__GROUP_LAG_REFRESH_S": "1"}  # production: 5 s
JOBS = ("ingest", "resolver", "fanout")
FIRING_TIMEOUT_S = 90
RESOLVED_TIMEOUT_S = 120


def production_rule() -> dict[str, Any]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    (rule,) = [r for g in groups for r in g["rules"] if r.get("alert") == ALERT]
    return dict(rule)


def rules_copy(directory: Path) -> Path:
    """alerts.yml's lag rule with the same expression, a small threshold and a short for."""
    rule = production_rule()
    expr, replaced = re.subn(r">\s*\d+\s*$", f"> {LAG_THRESHOLD}", rule["expr"].strip())
    assert replaced == 1, f"{ALERT}: no '> N' threshold at the end of {rule['expr']!r}"
    path = directory / "alerts.test.yml"
    copy = {**rule, "expr": expr, "for": FOR}
    path.write_text(yaml.safe_dump({"groups": [{"name": "lag-alert-test", "rules": [copy]}]}))
    return path


class Prometheus:
    """infra/prometheus.sh on a port of this worker's block, data and pid under ``var``."""

    def __init__(self, var: Path, rules: Path, targets: dict[str, int]) -> None:
        self.var, self.port = var, free_port()
        self.env = {**os.environ, "PROMETHEUS_PORT": str(self.port), "TIDINGS_VAR_DIR": str(var)}
        self.config = var / "prometheus.yml"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for job, port in targets.items()
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

    def query(self, promql: str) -> list[tuple[dict[str, str], str]]:
        """(labels, value) of each series of ``promql`` now."""
        result = self.get(f"/api/v1/query?query={urllib.parse.quote(promql)}")["result"]
        return [(s["metric"], s["value"][1]) for s in result]

    def lag(self) -> list[tuple[dict[str, str], str]]:
        """The alert's expression without its threshold: the group lag it compares."""
        expr = re.sub(r">\s*\d+\s*$", "", production_rule()["expr"].strip())
        return self.query(expr)

    def up(self, job: str) -> list[str]:
        return [v for _, v in self.query(f'up{{job="{job}"}}')]

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
) -> Iterator[Callable[[dict[str, int]], Prometheus]]:
    started: list[Prometheus] = []

    def start(targets: dict[str, int]) -> Prometheus:
        prometheus = Prometheus(tmp_path, rules_copy(tmp_path), targets)
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
def test_lag_alert_fires_while_the_resolver_is_stopped_and_clears_after_it_resumes(
    provisioned: Settings,
    log_dir: Path,
    stacks: list[Stack],
    prometheus_for: Callable[[dict[str, int]], Prometheus],
) -> None:
    stack = Stack(provisioned, log_dir, **REFRESH)
    stacks.append(stack.start(*JOBS).wait_ready())
    prometheus = prometheus_for({job: stack.services[job].port for job in JOBS})

    def explain() -> str:
        return (
            f"alert states: {prometheus.alert_states()}\nlag in Prometheus: {prometheus.lag()}\n"
            f"up: { {job: prometheus.up(job) for job in JOBS} }\n"
            f"resolver log:\n{stack.services['resolver'].tail(15)}\n"
            f"prometheus log:\n{prometheus.log()}"
        )

    topics = Topics(provisioned)
    events, retry = topics.events.name, topics.retry.name

    def resolver_lag(series: list[tuple[dict[str, str], str]]) -> dict[str, str]:
        group = f"{provisioned.topic_prefix}resolver"
        return {labels["topic"]: v for labels, v in series if labels["group"] == group}

    stack.services["resolver"].stop()  # terminated: its group has no member, its /metrics is gone
    producer = DirectProducer(provisioned, TENANT)
    for n in range(EVENTS):
        producer.send(team_body(n))
    producer.flush()
    fired_s = wait_for(
        f"{ALERT} firing (lag > {LAG_THRESHOLD} for {FOR}) with the resolver stopped",
        lambda: "firing" in prometheus.alert_states(),
        FIRING_TIMEOUT_S,
        explain,
    )
    lag_when_firing = prometheus.lag()
    assert resolver_lag(lag_when_firing) == {events: str(EVENTS), retry: "0"}, lag_when_firing
    assert prometheus.up("resolver") == ["0"], explain()  # the lag came from ingest and fan-out

    stack.start("resolver").wait_ready()  # same port and instance id
    quiet: list[bool] = []

    def caught_up_and_quiet() -> bool:
        lag = resolver_lag(prometheus.lag())
        quiet.append(lag == {events: "0", retry: "0"} and not prometheus.alert_states())
        return quiet[-3:] == [True] * 3  # three evaluations in a row

    resolved_s = wait_for(
        f"{ALERT} quiet with the restarted resolver caught up (group lag 0)",
        caught_up_and_quiet,
        RESOLVED_TIMEOUT_S,
        explain,
    )
    print(
        f"lag alert: firing {fired_s:.0f}s after the stopped resolver fell behind, at "
        f"{lag_when_firing}; quiet and caught up {resolved_s:.0f}s after the restart"
    )
