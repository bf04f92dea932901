"""The operator CLI as an operator runs it: a process, environment settings, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.kafka import delete_topics, unique_prefix
from tidings.contracts.topics import Topics
from tidings.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
CANDIDATE = ROOT / "schemas" / "candidates" / "content.approved.3.incompatible.avsc"
V2 = ROOT / "schemas" / "payloads" / "content.approved" / "2.avsc"


def tidings(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
    }
    command = [sys.executable, "-c", "from tidings.cli.main import main; main()", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_topics_ensure_creates_then_reports_nothing_to_change(kafka_bootstrap: str) -> None:
    fresh = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=unique_prefix("cli"))
    try:
        first = as_json(tidings(fresh, "topics", "ensure", "--json"))
        second = as_json(tidings(fresh, "topics", "ensure", "--json"))
    finally:
        delete_topics(fresh)
    assert sorted(first["created"]) == sorted(spec.name for spec in Topics(fresh).all())
    assert (second["changed"], second["created"]) == (False, [])


def test_topics_describe_lists_partitions_and_policies(settings: Settings, topics: Topics) -> None:
    described = as_json(tidings(settings, "topics", "describe", "--json"))
    assert described[topics.events.name]["partitions"] == 12
    assert described[topics.state.name]["config"]["cleanup.policy"] == "compact"


def test_schemas_register_bundled_then_list(settings: Settings, topics: Topics) -> None:
    registered = as_json(tidings(settings, "schemas", "register", "--bundled", "--json"))
    listed = as_json(tidings(settings, "schemas", "list", "--json"))
    assert [(r["type"], r["version"]) for r in registered] == [
        ("content.approved", 1),
        ("content.approved", 2),
    ]
    assert [(r["type"], r["version"], r["fingerprint"]) for r in listed] == [
        (r["type"], r["version"], r["fingerprint"]) for r in registered
    ]


def test_schemas_check_exits_1_for_the_incompatible_candidate(
    settings: Settings, topics: Topics
) -> None:
    tidings(settings, "schemas", "register", "--bundled")
    args = ["--file", str(CANDIDATE), "--type", "content.approved", "--version", "3"]
    result = tidings(settings, "schemas", "check", *args, "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["compatible"] is False


def test_schemas_check_registers_nothing(settings: Settings, topics: Topics) -> None:
    tidings(settings, "schemas", "register", "--bundled")
    args = ["--file", str(CANDIDATE), "--type", "content.approved", "--version", "3"]
    tidings(settings, "schemas", "check", *args)
    listed = as_json(tidings(settings, "schemas", "list", "--json"))
    assert [r["version"] for r in listed] == [1, 2]


def test_schemas_check_offline_needs_no_broker() -> None:
    nowhere = Settings(bootstrap_servers="127.0.0.1:1", topic_prefix="none.")
    args = ["--file", str(V2), "--type", "content.approved", "--version", "2", "--offline"]
    assert as_json(tidings(nowhere, "schemas", "check", *args, "--json"))["compatible"] is True


def test_an_unreachable_broker_is_exit_3_with_a_message_not_a_traceback() -> None:
    nowhere = Settings(bootstrap_servers="127.0.0.1:1", topic_prefix="none.")
    result = tidings(nowhere, "schemas", "list", "--timeout", "2")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
