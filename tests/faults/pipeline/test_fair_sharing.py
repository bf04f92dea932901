"""Fair sharing between tenants (docs/processing.md): tenant A's event with a large audience
is resolved in slices, so a one-user event of tenant B on the SAME partition is dispatched
within a second of being accepted while A is still resolving (B is sent right after A: the
resolver meets B while it gathers A's audience or resolves its first slices); A still
reaches every member exactly once and is dispatched only after its last slice. The audience
is 200,000 members (``TIDINGS_FAIR_AUDIENCE=1000000`` for the full figure), written straight
to the directory topic as bench/scenarios/b9_stores.py does. Prints both times."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any

import pytest

from tests.support.directory_load import member, write_directory
from tests.support.pipeline import (
    DirectProducer,
    ServiceFactory,
    deliveries,
    read_topic,
    wait_states,
)
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.settings import Settings

MEMBERS = int(os.environ.get("TIDINGS_FAIR_AUDIENCE", "200000"))
BOUND_S = 1.0


def same_partition_tenant(settings: Settings, tenant: str) -> str:
    n = settings.topics.events_partitions
    return next(
        f"small{i}"
        for i in range(1000)
        if tenant_partition(f"small{i}", n) == tenant_partition(tenant, n)
    )


def state_at(settings: Settings, event_id: str, at_ms: int) -> dict[str, Any]:
    """The event's newest state record written by ``at_ms``."""
    records = [
        rec
        for _, rec in read_topic(settings, Topics(settings).state.name)
        if rec is not None and rec["event_id"] == event_id and rec["at"] <= at_ms
    ]
    return max(records, key=lambda rec: (rec["seq"], rec["at"]))


@pytest.mark.timeout(1800)
def test_a_small_event_is_not_held_up_by_a_huge_one_of_another_tenant_on_its_partition(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> None:
    small = same_partition_tenant(settings, "huge")
    users = [member("huge", f"m{i:07d}", ["all"]) for i in range(MEMBERS)]
    users.append(member(small, "s1", []))
    started = time.monotonic()
    write_directory(settings, users)
    print(f"\ndirectory: {MEMBERS + 1:,} users written in {time.monotonic() - started:.0f} s")
    start_service("resolver").wait_healthy(900)
    start_service("fanout").wait_healthy(300)
    big, little = DirectProducer(settings, "huge"), DirectProducer(settings, small)
    large_id = big.send(
        {
            "type": "content.approved",
            "recipients": {"roles": ["all"]},
            "payload": {"content_id": "a"},
        }
    )
    big.flush()  # A is on the partition before B: the resolver meets it first
    small_id = little.send(
        {
            "type": "content.approved",
            "recipients": {"users": ["s1"]},
            "payload": {"content_id": "b"},
        }
    )
    little.flush()
    b = wait_states(settings, [small_id], {"dispatched"}, timeout_s=60)[small_id]
    a_then = state_at(settings, large_id, b["at"])
    b_accepted_s, b_dispatched_s = b["accepted_at"] / 1000, b["at"] / 1000
    print(
        f"B: accepted {b_accepted_s:.3f} dispatched {b_dispatched_s:.3f} "
        f"(+{b_dispatched_s - b_accepted_s:.3f} s); A then: {a_then['stage']} "
        f"{a_then.get('detail')!r}, {a_then.get('chunks')} chunks"
    )
    a = wait_states(settings, [large_id], {"dispatched"}, timeout_s=900)[large_id]
    a_resolved_s = next(s["at"] for s in a["history"] if s["stage"] == "resolved") / 1000
    print(
        f"A: accepted {a['accepted_at'] / 1000:.3f} last slice resolved {a_resolved_s:.3f} "
        f"dispatched {a['at'] / 1000:.3f} ({a['chunks']} chunks, {a['recipients']:,} recipients)"
    )
    assert b_dispatched_s - b_accepted_s <= BOUND_S
    assert a_resolved_s > b_dispatched_s, "A was resolved before B was dispatched"
    assert a_then["stage"] != "dispatched"
    assert (a["recipients"], a["deliveries"]) == (MEMBERS, {"in_app": MEMBERS})
    assert a["chunks"] == -(-MEMBERS // settings.processing.chunk_size)
    sent = Counter(d["user_id"] for d in deliveries(settings, lambda d: d["event_id"] == large_id))
    assert len(sent) == MEMBERS
    assert set(sent.values()) == {1}
