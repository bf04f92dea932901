"""SIGKILL the resolver (and once the fan-out) while large audiences are resolved in slices
(fair sharing, docs/processing.md): after restarts every member of every event has exactly
one delivery request, and each event is dispatched once its last slice is fanned out.
Slices of 500 users, so every kill lands between or inside slices."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from tests.support.directory_load import member, write_directory
from tests.support.pipeline import (
    DirectProducer,
    Service,
    ServiceFactory,
    deliveries,
    wait_states,
)
from tidings.contracts.topics import Topics
from tidings.settings import Settings

MEMBERS = 10_000
EVENTS = 2
SLICED = {"TIDINGS_PROCESSING__RESOLVE_SLICE_SIZE": "500"}


@pytest.mark.timeout(900)
def test_sigkill_between_and_inside_slices_loses_and_duplicates_nothing(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> None:
    rng = random.Random(11)
    write_directory(settings, [member("crash", f"c{i:05d}", ["all"]) for i in range(MEMBERS)])
    services: dict[str, Service] = {
        "resolver": start_service("resolver", **SLICED).wait_healthy(300),
        "fanout": start_service("fanout").wait_healthy(300),
    }
    producer = DirectProducer(settings, "crash")
    ids = [
        producer.send(
            {
                "type": "content.approved",
                "recipients": {"roles": ["all"]},
                "payload": {"content_id": str(n)},
            }
        )
        for n in range(EVENTS)
    ]
    producer.flush()
    kills = []
    for name in ["resolver", "resolver", "fanout", "resolver", "resolver"]:
        time.sleep(rng.uniform(1.0, 4.0))
        services[name].kill()
        kills.append(name)
        env = SLICED if name == "resolver" else {}
        services[name] = start_service(name, **env)  # same instance id: fences the dead one
        if rng.random() < 0.5:
            services[name].wait_healthy(300)
    for service in services.values():
        service.wait_healthy(300)
    states = wait_states(settings, ids, {"dispatched"}, timeout_s=600)
    sent = Counter((d["event_id"], d["user_id"]) for d in deliveries(settings))
    duplicated = {k: n for k, n in sent.items() if n > 1}
    print(f"\nkills={kills} deliveries={sum(sent.values())}")
    assert not duplicated, f"{len(duplicated)} duplicated, e.g. {list(duplicated)[:3]}"
    for event_id in ids:
        assert (states[event_id]["recipients"], states[event_id]["chunks"]) == (MEMBERS, 20)
        assert states[event_id]["deliveries"] == {"in_app": MEMBERS}
        reached = {user for (event, user) in sent if event == event_id}
        assert reached == {f"c{i:05d}" for i in range(MEMBERS)}
