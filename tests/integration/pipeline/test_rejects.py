"""Invalid records produced straight to the events topic end `rejected` with a dead letter,
and the events behind them on the same partition are still processed."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from tests.support.pipeline import (
    DirectProducer,
    ServiceFactory,
    load_users,
    read_topic,
    wait_states,
)
from tidings.contracts import headers as h
from tidings.contracts.codec import CONTENT_TYPE_JSON, MAGIC
from tidings.contracts.topics import Topics
from tidings.domain.envelope import encode_event
from tidings.settings import Settings

BODY = {
    "type": "content.approved",
    "recipients": {"users": ["u1"]},
    "payload": {"content_id": "c-9"},
}
ENDED = {"dispatched", "rejected", "failed"}


@pytest.fixture(scope="module")
def sent(pipeline: Topics, settings: Settings, start_service: ServiceFactory) -> dict[str, str]:
    """Each invalid kind, then a valid event on the same partition; event ids by kind."""
    load_users(settings, [{"tenant": "acme", "id": "u1", "channels": {"in_app": "u1"}}])
    acme = DirectProducer(settings, "acme")
    ids: dict[str, str] = {}

    def raw(kind: str, value: bytes, extra: dict[str, str] | None = None) -> None:
        ids[kind] = str(uuid.uuid4())
        acme.send_raw(b"acme", value, h.to_list({h.EVENT_ID: ids[kind], **(extra or {})}))

    raw("garbage", b"\x00not avro at all")
    raw("unknown_fingerprint", MAGIC + os.urandom(8) + b"\x02xx")
    wrong_key = acme.envelope(BODY)
    ids["wrong_tenant_key"] = wrong_key["event_id"]
    acme.send_envelope(wrong_key, record_key=b"globex")
    bad_payload: dict[str, Any] = {**acme.envelope(BODY), "payload": '{"nope": true}'}
    ids["schema"] = bad_payload["event_id"]
    acme.send_envelope(bad_payload)
    as_json = acme.envelope(BODY)
    _, headers = encode_event(acme.codec, as_json, acme.signer)
    json_headers = [
        (k, CONTENT_TYPE_JSON.encode() if k == h.CONTENT_TYPE else v) for k, v in headers
    ]
    acme.send_raw(b"acme", acme.codec.encode_json("event", as_json), json_headers)
    ids["avro_json"] = as_json["event_id"]
    ids["valid"] = acme.send(BODY)
    acme.flush()
    start_service("resolver").wait_healthy()
    start_service("fanout").wait_healthy()
    return ids


@pytest.fixture(scope="module")
def resolver_metrics(states: dict[str, Any], start_service: ServiceFactory) -> str:
    return start_service.started[0].metrics()


@pytest.fixture(scope="module")
def states(sent: dict[str, str], settings: Settings) -> dict[str, dict[str, Any]]:
    return wait_states(settings, sent.values(), ENDED)


@pytest.fixture(scope="module")
def dead_letters(states: dict[str, Any], settings: Settings) -> dict[str, dict[str, Any]]:
    return {rec["event_id"]: rec for _, rec in read_topic(settings, Topics(settings).dlq.name)}


@pytest.mark.parametrize(
    ("kind", "error_class"),
    [
        ("garbage", "corrupt_record"),
        ("unknown_fingerprint", "unknown_fingerprint"),
        ("wrong_tenant_key", "origin_rejected"),
        ("schema", "schema_validation_failed"),
    ],
)
def test_invalid_record_is_rejected_with_a_dead_letter(
    kind: str,
    error_class: str,
    sent: dict[str, str],
    states: dict[str, Any],
    dead_letters: dict[str, Any],
) -> None:
    event_id = sent[kind]
    assert states[event_id]["stage"] == "rejected"
    assert states[event_id]["error_class"] == error_class
    letter = dead_letters[event_id]
    assert letter["outcome"] == "rejected"
    assert letter["error_class"] == error_class
    assert letter["original_value"]


def test_events_behind_rejected_records_are_processed(
    sent: dict[str, str], states: dict[str, Any]
) -> None:
    assert states[sent["valid"]]["stage"] == "dispatched"
    assert states[sent["valid"]]["deliveries"] == {"in_app": 1}


def test_avro_json_encoded_event_is_processed_like_binary(
    sent: dict[str, str], states: dict[str, Any]
) -> None:
    assert states[sent["avro_json"]]["stage"] == "dispatched"


def test_metrics_count_rejections_dead_letters_and_commits(resolver_metrics: str) -> None:
    lines = resolver_metrics.splitlines()

    def value(prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix))

    assert value('tidings_state_transitions_total{service="resolver",stage="rejected"}') >= 4
    assert value('tidings_dead_letters_total{outcome="rejected",service="resolver"}') >= 4
    assert value('tidings_consumed_total{service="resolver"') >= 6
    assert value('tidings_transactions_committed_total{service="resolver"}') >= 1
