"""An Idempotency-Key names one event on the direct path too: a second body under a key is
refused at the resolver (``idempotency_key_reused``, the API's code, with a dead letter) and
never touches the first event; the same body again is a silent duplicate; and the rule
holds after the resolver restarts with its stores gone (its index is the state it restores).
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
import uuid
from typing import Any

import pytest

from tests.support.pipeline import (
    DirectProducer,
    Service,
    ServiceFactory,
    load_users,
    read_topic,
    wait_states,
)
from tidings.contracts.topics import Topics
from tidings.domain.clients import SCOPE_WRITE
from tidings.errors import IdempotencyKeyReused
from tidings.ops.admin import CreatedClient, create_client
from tidings.producer import NotificationProducer
from tidings.settings import Settings

TENANT = "acme"
ENDED = {"dispatched", "rejected", "failed"}


def body(user: str, content: str = "c") -> dict[str, Any]:
    return {
        "type": "content.approved",
        "recipients": {"users": [user]},
        "payload": {"content_id": content},
    }


@pytest.fixture(scope="module")
def resolver(pipeline: Topics, settings: Settings, start_service: ServiceFactory) -> Service:
    load_users(
        settings,
        [{"tenant": TENANT, "id": u, "channels": {"in_app": u}} for u in ("u1", "u2")],
    )
    started = start_service("resolver").wait_healthy()
    start_service("fanout").wait_healthy()
    return started


@pytest.fixture(scope="module")
def producer(resolver: Service, settings: Settings) -> DirectProducer:
    return DirectProducer(settings, TENANT)


def letters(settings: Settings, event_id: str) -> list[dict[str, Any]]:
    dlq = Topics(settings).dlq.name
    return [rec for _, rec in read_topic(settings, dlq) if rec["event_id"] == event_id]


def reached(settings: Settings, event_id: str) -> set[str]:
    chunks = read_topic(settings, Topics(settings).resolved.name)
    return {r["user_id"] for _, c in chunks if c["event_id"] == event_id for r in c["recipients"]}


def send(producer: DirectProducer, envelope: dict[str, Any]) -> str:
    producer.send_envelope(envelope)
    producer.flush()
    return str(envelope["event_id"])


def first_dispatched(producer: DirectProducer, settings: Settings, key: str) -> str:
    event_id = send(producer, producer.envelope(body("u1"), key))
    assert wait_states(settings, [event_id], ENDED)[event_id]["stage"] == "dispatched"
    return event_id


def wait_letter(settings: Settings, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = letters(settings, event_id)
        if found:
            return found[-1]
        time.sleep(0.5)
    raise AssertionError(f"no dead letter for {event_id}")


def assert_refused_and_first_untouched(settings: Settings, first: str, refused: str) -> None:
    """The refused record's dead letter names the API's code; the first event still
    reached u1 alone and ended dispatched, with no state of the refusal over it."""
    letter = wait_letter(settings, refused)
    assert (letter["outcome"], letter["error_class"]) == ("rejected", "idempotency_key_reused")
    state = wait_states(settings, [first], ENDED)[first]
    assert (state["stage"], state["error_class"]) == ("dispatched", None)
    assert reached(settings, first) == {"u1"}


def test_a_second_body_under_a_key_is_refused_without_touching_the_first(
    producer: DirectProducer, settings: Settings
) -> None:
    first = first_dispatched(producer, settings, "k-second-body")
    again = send(producer, producer.envelope(body("u2"), "k-second-body"))
    assert again == first  # the key names the event
    assert_refused_and_first_untouched(settings, first, first)


def test_a_hand_written_record_with_a_fresh_event_id_under_a_used_key_is_rejected(
    producer: DirectProducer, settings: Settings
) -> None:
    first = first_dispatched(producer, settings, "k-fresh-id")
    forged = {**producer.envelope(body("u2"), "k-fresh-id"), "event_id": str(uuid.uuid4())}
    refused = send(producer, forged)
    assert_refused_and_first_untouched(settings, first, refused)
    state = wait_states(settings, [refused], ENDED)[refused]  # its own id: its own state
    assert (state["stage"], state["error_class"]) == ("rejected", "idempotency_key_reused")
    assert reached(settings, refused) == set()


def test_a_fresh_event_id_beside_an_unused_key_is_rejected(
    producer: DirectProducer, settings: Settings
) -> None:
    """Nothing could find such an event by its key: refused before it could take the key."""
    forged = {**producer.envelope(body("u1"), "k-unused"), "event_id": str(uuid.uuid4())}
    refused = send(producer, forged)
    state = wait_states(settings, [refused], ENDED)[refused]
    assert (state["stage"], state["error_class"]) == ("rejected", "invalid_idempotency_key")
    assert reached(settings, refused) == set()


def test_the_same_body_twice_is_a_silent_duplicate(
    producer: DirectProducer, settings: Settings
) -> None:
    first = first_dispatched(producer, settings, "k-same-body")
    assert send(producer, producer.envelope(body("u1"), "k-same-body")) == first
    marker = send(producer, producer.envelope(body("u1", "after")))  # processed after it
    wait_states(settings, [marker], ENDED)
    assert letters(settings, first) == []
    assert wait_states(settings, [first], ENDED)[first]["stage"] == "dispatched"


def library(settings: Settings, created: CreatedClient) -> NotificationProducer:
    assert created.signing_key is not None
    return NotificationProducer(
        settings,
        tenant=TENANT,
        client_id=created.client.client_id,
        signing_key=created.signing_key,
    )


def test_two_library_producers_racing_with_different_bodies_under_one_key(
    resolver: Service, settings: Settings
) -> None:
    """Neither library has seen the other's record when it checks the key: both write, and
    the resolver keeps the first in the log and refuses the other."""
    created = create_client(settings, TENANT, [SCOPE_WRITE], signing_key=True)
    producers = [library(settings, created), library(settings, created)]
    start = threading.Barrier(2)
    sent: list[str] = []

    def race(index: int) -> None:
        start.wait()
        # Refused locally when this one's view saw the other's record first.
        with contextlib.suppress(IdempotencyKeyReused):
            sent.append(producers[index].send(body(f"u{index + 1}"), idempotency_key="race"))
        producers[index].flush()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for p in producers:
        p.close()
    event_id = sent[0]
    assert set(sent) == {event_id}
    state = wait_states(settings, [event_id], ENDED)[event_id]
    assert state["stage"] == "dispatched"
    winners = reached(settings, event_id)
    assert winners in ({"u1"}, {"u2"})  # one body, never both
    if len(sent) == 2:
        assert wait_letter(settings, event_id)["error_class"] == "idempotency_key_reused"
    print(f"\nrace: {len(sent)} record(s) written, the resolver kept the body to {winners}")


def test_the_rule_holds_after_the_resolver_restarts_with_its_stores_gone(
    resolver: Service, producer: DirectProducer, settings: Settings
) -> None:
    first = first_dispatched(producer, settings, "k-restart")
    resolver.stop()
    stores = settings.data_dir / "stores"
    for path in stores.glob(f"{settings.topic_prefix}resolver.*"):
        shutil.rmtree(path)  # rebuilt from the state topic: the key's state says its body
    resolver.start().wait_healthy()
    again = send(producer, producer.envelope(body("u2"), "k-restart"))
    assert_refused_and_first_untouched(settings, first, again)
