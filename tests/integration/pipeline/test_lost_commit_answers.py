"""A commit whose answer is lost (the coordinator took it, the process heard a timeout: a
broker failover) is of unknown outcome. The resolver and fan-out redo such a batch without
writing anything twice: they resume from the group's committed offsets and read their own
state back before deciding. Uses the documented hook (test_hooks.lose_commit_answer_every)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.support.pipeline import (
    DirectProducer,
    Service,
    ServiceFactory,
    deliveries,
    load_users,
    read_topic,
    register_schemas,
    wait_states,
)
from tidings.contracts.topics import Topics
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.settings import Settings

USERS = [
    {"tenant": "acme", "id": "u1", "channels": {"in_app": "u1", "email": "u1@example.com"}},
    {"tenant": "acme", "id": "u2", "channels": {"in_app": "u2"}},
]
EXPECTED_DELIVERIES = 3  # per event: u1 on two channels, u2 on one
EVENTS = 40
LOST = "commit answer lost (test hook)"


@pytest.fixture(scope="module")
def run(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> tuple[list[str], list[Service]]:
    register_schemas(settings)
    load_users(settings, USERS)
    hook = {"TIDINGS_TEST_HOOKS__LOSE_COMMIT_ANSWER_EVERY": "2"}
    services = [
        start_service("resolver", **hook).wait_healthy(),
        start_service("fanout", **hook).wait_healthy(),
    ]
    acme = DirectProducer(settings, "acme", PayloadSchemas(bundled_payload_schemas()))
    sent = []
    for n in range(EVENTS):  # spread out, so they take many transactions
        body = {
            "type": "content.approved",
            "recipients": {"users": ["u1", "u2"]},
            "payload": {"content_id": f"c{n}"},
        }
        sent.append(acme.send(body))
        acme.flush()
        time.sleep(0.05)
    wait_states(settings, sent, {"dispatched"}, timeout_s=120)
    return sent, services


def test_every_event_is_dispatched_with_one_delivery_per_user_and_channel(
    run: tuple[list[str], list[Service]], settings: Settings
) -> None:
    sent, _ = run
    counts = Counter(
        (d["event_id"], d["user_id"], d["channel"])
        for d in deliveries(settings, lambda d: d["event_id"] in set(sent))
    )
    assert len(counts) == EVENTS * EXPECTED_DELIVERIES
    assert {key: n for key, n in counts.items() if n > 1} == {}


def test_no_event_is_resolved_twice(
    run: tuple[list[str], list[Service]], settings: Settings
) -> None:
    sent, _ = run
    chunks = Counter(
        rec["event_id"] for _, rec in read_topic(settings, Topics(settings).resolved.name)
    )
    assert {e: n for e, n in chunks.items() if n > 1} == {}
    assert set(chunks) == set(sent)


def test_the_answers_were_lost_in_both_services(run: tuple[list[str], list[Service]]) -> None:
    _, services = run
    for service in services:
        assert LOST in service.log_path.read_text(), service.name
