"""Transient failures go through the retry topic with backoff; exhausted ones end `failed`
with every attempt in the dead letter. Uses the documented fault hook (test_hooks.faults)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support.pipeline import (
    DirectProducer,
    ServiceFactory,
    load_users,
    read_topic,
    register_schemas,
    wait_states,
)
from tidings.contracts.topics import Topics
from tidings.domain.payload_schemas import PayloadSchema, PayloadSchemas, bundled_payload_schemas
from tidings.settings import Settings

SCHEMA = {"type": "record", "name": "Ping", "fields": [{"name": "content_id", "type": "string"}]}
FAULTS = {"test.flaky": 2, "test.broken": 1000}
ATTEMPTS = 3


@pytest.fixture(scope="module")
def sent(pipeline: Topics, settings: Settings, start_service: ServiceFactory) -> dict[str, str]:
    register_schemas(settings, {t: SCHEMA for t in FAULTS})
    load_users(settings, [{"tenant": "acme", "id": "u1", "channels": {"in_app": "u1"}}])
    env = {
        "TIDINGS_TEST_HOOKS__FAULTS": orjson.dumps(FAULTS).decode(),
        "TIDINGS_PROCESSING__RETRY_ATTEMPTS": str(ATTEMPTS),
        "TIDINGS_PROCESSING__RETRY_BASE_MS": "300",
        "TIDINGS_PROCESSING__RETRY_CAP_MS": "1000",
    }
    start_service("resolver", **env).wait_healthy()
    start_service("fanout").wait_healthy()
    schemas = PayloadSchemas(
        [*bundled_payload_schemas(), *(PayloadSchema.build(t, 1, SCHEMA) for t in FAULTS)]
    )
    acme = DirectProducer(settings, "acme", schemas)
    ids = {
        t: acme.send({"type": t, "recipients": {"users": ["u1"]}, "payload": {"content_id": "c"}})
        for t in [*FAULTS, "content.approved"]
    }
    acme.flush()
    return ids


@pytest.fixture(scope="module")
def history(sent: dict[str, str], settings: Settings) -> dict[str, list[dict[str, Any]]]:
    wait_states(settings, sent.values(), {"dispatched", "failed"}, timeout_s=120)
    out: dict[str, list[dict[str, Any]]] = {}
    for _, rec in read_topic(settings, Topics(settings).state.name):
        out.setdefault(rec["event_id"], []).append(rec)
    return out


def test_transient_failure_that_clears_ends_dispatched_after_retries(
    sent: dict[str, str], history: dict[str, list[dict[str, Any]]]
) -> None:
    records = history[sent["test.flaky"]]
    retrying = [r for r in records if r["stage"] == "retrying"]
    assert [r["attempt"] for r in retrying] == [1, 2]
    assert all(r["next_attempt_at"] > r["at"] for r in retrying)
    assert records[-1]["stage"] == "dispatched"


def test_failure_that_never_clears_ends_failed_after_the_configured_attempts(
    sent: dict[str, str], history: dict[str, list[dict[str, Any]]]
) -> None:
    final = history[sent["test.broken"]][-1]
    assert final["stage"] == "failed"
    assert final["attempt"] == ATTEMPTS
    assert final["error_class"] == "injected_fault"


def test_failed_event_dead_letter_holds_every_attempt(
    sent: dict[str, str], history: dict[str, Any], settings: Settings
) -> None:
    letters = [
        rec
        for _, rec in read_topic(settings, Topics(settings).dlq.name)
        if rec["event_id"] == sent["test.broken"]
    ]
    assert len(letters) == 1
    assert letters[0]["outcome"] == "failed"
    assert [a["attempt"] for a in letters[0]["attempts"]] == [1, 2, 3]
    assert letters[0]["original_value"]


def test_other_events_are_not_held_up_by_retries(
    sent: dict[str, str], history: dict[str, list[dict[str, Any]]]
) -> None:
    records = history[sent["content.approved"]]
    failed_at = history[sent["test.broken"]][-1]["at"]
    assert records[-1]["stage"] == "dispatched"
    assert records[-1]["at"] < failed_at  # produced after it, done while it was backing off
