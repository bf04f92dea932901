"""SIGKILL the resolver and the fan-out at random moments while events flow; after restarts
the delivery requests (read_committed) are exactly the expected multiset: no loss, no dup.

``TIDINGS_FAULT_EVENTS`` (default 10,000) and ``TIDINGS_FAULT_SECONDS`` (how long the stream
flows, default 90) size the run: about two and a half minutes on two shared cores."""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.support.pipeline import Service, ServiceFactory, wait_states
from tests.support.workload import Workload
from tidings.contracts.topics import Topics
from tidings.settings import Settings

EVENTS = int(os.environ.get("TIDINGS_FAULT_EVENTS", "10000"))
SECONDS = float(os.environ.get("TIDINGS_FAULT_SECONDS", "90"))


@pytest.mark.timeout(900)  # the flow alone takes SECONDS; the drain may take up to 600 s
def test_sigkill_during_flow_loses_and_duplicates_nothing(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> None:
    rng = random.Random(int(os.environ.get("TIDINGS_FAULT_SEED", "7")))
    services: dict[str, Service] = {
        name: start_service(name).wait_healthy() for name in ("resolver", "fanout")
    }
    workload = Workload(settings, EVENTS, SECONDS).start()
    kills = 0
    while not workload.done or kills < 6:
        time.sleep(rng.uniform(1.0, 5.0))
        name = rng.choice(["resolver", "fanout"])
        services[name].kill()
        kills += 1
        services[name] = start_service(name)  # same instance id: fences the dead one's txn
        if rng.random() < 0.5:  # half the kills land mid-processing, half during start-up
            services[name].wait_healthy()
    for service in services.values():
        service.wait_healthy()
    event_ids = [event_id for _, event_id in workload.sent]
    assert len(event_ids) == EVENTS
    wait_states(settings, event_ids, {"dispatched"}, timeout_s=600)
    expected, actual = workload.expected(), workload.actual()
    duplicates = {k: n for k, n in actual.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} duplicated, e.g. {list(duplicates)[:3]}"
    assert actual == expected, f"missing {len(expected - actual)}, extra {len(actual - expected)}"
    print(f"events={EVENTS} kills={kills} deliveries={sum(actual.values())}")
