"""Resolver and fan-out SIGKILLed at random points while a second resolver joins and later
leaves the group mid-run (the crash-recovery test, here with rebalances on top). Reuses the
signed direct-producer workload of tests/support/workload.py.

``TIDINGS_FAULT_EVENTS`` / ``TIDINGS_FAULT_SECONDS`` / ``TIDINGS_FAULT_SEED`` size it."""

from __future__ import annotations

import os
import random
import time

import pytest

from tests.support.faults import report
from tests.support.outcome import figures
from tests.support.pipeline import Service, ServiceFactory
from tests.support.workload import TENANTS, Workload
from tidings.contracts.topics import Topics
from tidings.settings import Settings

EVENTS = int(os.environ.get("TIDINGS_FAULT_EVENTS", "1500"))
SECONDS = float(os.environ.get("TIDINGS_FAULT_SECONDS", "45"))
CHANNELS = ("in_app", "email")


@pytest.mark.timeout(900)
def test_kills_and_a_joining_leaving_resolver_lose_and_duplicate_nothing(
    pipeline: Topics,
    settings: Settings,
    start_service: ServiceFactory,
) -> None:
    rng = random.Random(int(os.environ.get("TIDINGS_FAULT_SEED", "11")))
    services: dict[str, Service] = {
        name: start_service(name).wait_healthy() for name in ("resolver", "fanout")
    }
    workload = Workload(settings, EVENTS, SECONDS).start()
    started, kills = time.monotonic(), 0
    second: Service | None = None
    joined = left = False
    while not workload.done or kills < 4:
        time.sleep(rng.uniform(2.0, 6.0))
        elapsed = time.monotonic() - started
        if not joined and elapsed > SECONDS / 4:
            second, joined = start_service("resolver", "1"), True  # joins: rebalance
        elif joined and not left and elapsed > SECONDS * 3 / 4 and second is not None:
            if rng.random() < 0.5:  # leaves cleanly or crashes: a rebalance either way
                second.stop()
            else:
                second.kill()
            left = True
        name = rng.choice(["resolver", "fanout"])
        services[name].kill()
        kills += 1
        services[name] = start_service(name)
    for service in services.values():
        service.wait_healthy()
    tenant_of = dict((e, t) for t, e in workload.sent)
    sent = set(tenant_of)
    result = report(
        figures(
            "resolver_fanout_killed_rebalanced",
            settings,
            sent,
            sent,  # flushed by the producer: acknowledged by the broker
            lambda e: {(f"{tenant_of[e]}-u{i}", c) for i in range(3) for c in CHANNELS},
            timeout_s=600,
            kills=kills,
            second_resolver="joined+left" if left else "joined" if joined else "never",
        )
    )
    assert joined
    assert left
    assert len(sent) == EVENTS
    assert len(TENANTS) > 1
    assert (result.dispatched, result.lost, result.duplicated) == (EVENTS, 0, 0)
