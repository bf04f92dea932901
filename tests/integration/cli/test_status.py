"""``tidings status`` against a real resolver: lag grows while it is stopped, drains as it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ingest import IngestProcess
from tests.support.kafka import module_settings
from tests.support.pipeline import DirectProducer, Service
from tests.support.stack import TENANT, provision
from tidings.contracts.topics import Topics
from tidings.settings import Settings, TopicSettings

EVENT = {
    "type": "content.approved",
    "recipients": {"users": ["u0"]},
    "payload": {"content_id": "c-1"},
}


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    return module_settings(
        kafka_bootstrap, request, topics=TopicSettings(events_partitions=4, other_partitions=2)
    )


@pytest.fixture(scope="module")
def resolver(
    topics: Topics, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    provision(settings)
    service = Service("resolver", settings, tmp_path_factory.mktemp("status"))
    yield service
    service.stop()


def run_status(settings: Settings, *args: str) -> str:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
        "COLUMNS": "200",
    }
    command = [sys.executable, "-c", "from tidings.cli.main import main; main()", "status", *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr
    return result.stdout


def status(settings: Settings, *args: str) -> dict[str, Any]:
    return dict(json.loads(run_status(settings, "--json", *args)))


def group(report: dict[str, Any], service: str) -> dict[str, Any]:
    return next(g for g in report["groups"] if g["service"] == service)


def metric(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_resolver_lag_grows_while_stopped_and_drains_to_zero_when_started(
    settings: Settings, resolver: Service
) -> None:
    resolver.start().wait_healthy()
    resolver.stop()  # the group exists; nobody consumes now
    producer = DirectProducer(settings, TENANT)
    for _ in range(5):
        producer.send(EVENT)
    producer.flush()
    first = group(status(settings, "--ingest", "http://127.0.0.1:1"), "resolver")
    for _ in range(7):
        producer.send(EVENT)
    producer.flush()
    time.sleep(1.1)  # the oldest record is at least this old now
    second = group(status(settings), "resolver")

    assert (first["lag"], second["lag"]) == (5, 12)
    assert first["members"] == []
    assert second["state"] in {"EMPTY", "DEAD"}
    assert second["in_per_s"] == pytest.approx(12 / 60, abs=0.01)
    assert second["oldest_age_s"] >= 1.0
    lagging = [p for p in second["partitions"] if p["lag"] > 0]
    assert [p["topic"] for p in lagging] == [Topics(settings).events.name]

    resolver.start().wait_healthy()
    deadline = time.monotonic() + 60
    report = status(settings)
    while group(report, "resolver")["lag"] > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        report = status(settings)
    drained = group(report, "resolver")
    assert (drained["lag"], drained["oldest_age_s"]) == (0, 0.0), resolver.tail()
    assert drained["state"] == "STABLE"
    assert [len(m["partitions"]) for m in drained["members"]] == [8]  # events + retry, 4 each
    # Out over the last minute: the resolved chunks of the 12 events (one user each), plus
    # the markers of the transactions that wrote them; the fan-out reads what came out.
    assert 12 / 60 <= drained["out_per_s"] <= 24 / 60, drained
    assert group(report, "fanout")["in_per_s"] == drained["out_per_s"]
    assert report["ingest"][0]["ready"] is False  # nothing answers the default URL here


def test_resolver_metrics_report_only_owned_partitions(
    settings: Settings, resolver: Service
) -> None:
    if not resolver.healthy():
        resolver.start().wait_healthy()
    # Lag and age are reported every second, once the positions of the partitions are known.
    deadline = time.monotonic() + 60
    while not metric(text := resolver.metrics(), "tidings_consumer_lag"):
        assert time.monotonic() < deadline, resolver.tail()
        time.sleep(0.2)
    assert metric(text, "tidings_consumer_assigned_partitions") == [
        'tidings_consumer_assigned_partitions{service="resolver"} 8.0'
    ]
    ages = metric(text, "tidings_oldest_unprocessed_age_seconds")
    assert len(ages) == len(metric(text, "tidings_consumer_lag")) > 0
    assert all(line.endswith(" 0.0") for line in ages), ages


def test_the_human_table_names_both_services(settings: Settings, resolver: Service) -> None:
    table = run_status(settings, "--window", "30")
    assert all(word in table for word in ("resolver", "fanout", "ingest /readyz")), table
    assert "in/s (30 s)" in table, table


def test_a_running_ingest_answers_the_readiness_probe(
    settings: Settings, resolver: Service, tmp_path: Path
) -> None:
    partitions = {
        "TIDINGS_TOPICS__EVENTS_PARTITIONS": str(settings.topics.events_partitions),
        "TIDINGS_TOPICS__OTHER_PARTITIONS": str(settings.topics.other_partitions),
    }
    ingest = IngestProcess(settings, tmp_path, **partitions).start()
    try:
        report = status(settings, "--ingest", ingest.url, "--ingest", "http://127.0.0.1:1")
    finally:
        ingest.stop()
    ready, refused = report["ingest"]
    assert (ready["url"], ready["ready"], ready["status"]) == (ingest.url, True, 200)
    assert (refused["ready"], refused["status"]) == (False, None)


def test_the_age_gauge_is_above_zero_while_the_resolver_is_behind(
    settings: Settings, resolver: Service
) -> None:
    resolver.stop()
    slow = Service(
        "resolver",
        settings,
        resolver.log_path.parent,
        TIDINGS_TEST_HOOKS__SLOW_MS="500",
        TIDINGS_PROCESSING__RESOLVER_BATCH="1",
    ).start()
    try:
        slow.wait_healthy()
        producer = DirectProducer(settings, TENANT)
        for _ in range(10):  # one partition (one tenant): 5 s of work at 0.5 s a record
            producer.send(EVENT)
        producer.flush()
        deadline = time.monotonic() + 30
        ages: list[float] = []
        while not any(age > 0 for age in ages) and time.monotonic() < deadline:
            time.sleep(0.2)
            text = slow.metrics()
            ages = [
                float(line.split()[-1])
                for line in metric(text, "tidings_oldest_unprocessed_age_seconds")
            ]
        assert any(age > 0 for age in ages), slow.tail()
    finally:
        slow.stop()


def test_a_group_whose_input_ends_in_a_transaction_marker_shows_no_lag(
    settings: Settings, resolver: Service
) -> None:
    # The resolver writes resolved transactionally: each commit adds a marker that takes an
    # offset but is never delivered, so committed offsets stop one short of the end.
    if not resolver.healthy():
        resolver.start().wait_healthy()
    producer = DirectProducer(settings, TENANT)
    producer.send(EVENT)
    producer.flush()
    fanout = Service("fanout", settings, resolver.log_path.parent).start().wait_healthy()
    try:
        deadline = time.monotonic() + 60
        report = group(status(settings), "fanout")
        while report["lag"] > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            report = group(status(settings), "fanout")
        assert (report["lag"], report["oldest_age_s"]) == (0, 0.0), report["partitions"]
        # the premise: the group's committed offset stops short of the end (the marker)
        assert any(p["end"] == (p["committed"] or 0) + 1 for p in report["partitions"])
        # The service's own gauges agree (reported every second, so polled for).
        deadline = time.monotonic() + 30
        while True:
            text = fanout.metrics()
            gauges = metric(text, "tidings_consumer_lag")
            gauges += metric(text, "tidings_oldest_unprocessed_age_seconds")
            settled = bool(gauges) and all(line.endswith(" 0.0") for line in gauges)
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert gauges, text
        assert all(line.endswith(" 0.0") for line in gauges), gauges
    finally:
        fanout.stop()


def lag_series(service: Service) -> set[str]:
    return {line.split("}")[0] for line in metric(service.metrics(), "tidings_consumer_lag")}


def test_after_a_rebalance_no_partition_is_reported_by_two_instances(
    settings: Settings, resolver: Service
) -> None:
    if not resolver.healthy():
        resolver.start().wait_healthy()
    deadline = time.monotonic() + 60  # gauges are reported every second: polled for
    while not lag_series(resolver) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lag_series(resolver)  # the first instance reported every partition it owned
    second = Service("resolver", settings, resolver.log_path.parent, instance="1").start()
    try:
        second.wait_healthy()
        owned = 'tidings_consumer_assigned_partitions{service="resolver"} 4.0'
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(
            metric(s.metrics(), "tidings_consumer_assigned_partitions") == [owned]
            for s in (resolver, second)
        ):
            time.sleep(0.5)
        time.sleep(1.5)
        # the series are keyed by service/topic/partition: instance 0 dropped what it lost
        assert not lag_series(resolver) & lag_series(second)
        assert metric(resolver.metrics(), "tidings_consumer_assigned_partitions") == [owned]
    finally:
        second.stop()
