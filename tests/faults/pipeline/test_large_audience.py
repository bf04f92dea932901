"""A role with 100,000 members (``TIDINGS_LARGE_AUDIENCE`` to change) is resolved and fanned
out completely in chunks, with bounded fan-out memory, while a small event of a tenant on
another partition is not held up for the whole time. Prints time and peak RSS per service."""

from __future__ import annotations

import os
import time
from collections import Counter

from tests.support.pipeline import (
    DirectProducer,
    ServiceFactory,
    deliveries,
    load_users,
    wait_states,
)
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.settings import Settings

MEMBERS = int(os.environ.get("TIDINGS_LARGE_AUDIENCE", "100000"))
FANOUT_RSS_LIMIT_MB = 400  # independent of the audience: chunks are streamed


def other_tenant(settings: Settings, tenant: str) -> str:
    n = settings.topics.events_partitions
    return next(
        f"small{i}"
        for i in range(100)
        if tenant_partition(f"small{i}", n) != tenant_partition(tenant, n)
    )


def test_large_role_fans_out_completely_with_bounded_memory(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> None:
    small = other_tenant(settings, "big")
    users = [
        {
            "tenant": "big",
            "id": f"m{i:06d}",
            "roles": ["all"],
            "channels": {"in_app": f"m{i}", "email": f"m{i}@x.test"},
        }
        for i in range(MEMBERS)
    ]
    users.append({"tenant": small, "id": "s1", "channels": {"in_app": "s1"}})
    load_users(settings, users)
    resolver = start_service("resolver").wait_healthy(300)
    fanout = start_service("fanout").wait_healthy(300)
    big, little = DirectProducer(settings, "big"), DirectProducer(settings, small)
    started = time.time()
    large_id = big.send(
        {
            "type": "content.approved",
            "recipients": {"roles": ["all"]},
            "payload": {"content_id": "big"},
        }
    )
    big.flush()
    time.sleep(1)
    small_id = little.send(
        {
            "type": "content.approved",
            "recipients": {"users": ["s1"]},
            "payload": {"content_id": "small"},
        }
    )
    little.flush()
    states = wait_states(settings, [large_id, small_id], {"dispatched"}, timeout_s=900)
    seconds = (states[large_id]["at"] / 1000) - started
    peak = {"resolver": resolver.peak_rss_mb(), "fanout": fanout.peak_rss_mb()}
    print(f"members={MEMBERS} seconds={seconds:.1f} peak_rss_mb={peak}")
    assert states[large_id]["deliveries"] == {"in_app": MEMBERS, "email": MEMBERS}
    assert states[large_id]["chunks"] == -(-MEMBERS // settings.processing.chunk_size)
    assert states[small_id]["at"] < states[large_id]["at"]
    sent = Counter(d["channel"] for d in deliveries(settings, lambda d: d["event_id"] == large_id))
    assert sent == {"in_app": MEMBERS, "email": MEMBERS}
    assert peak["fanout"] < FANOUT_RSS_LIMIT_MB
