"""Two resolvers share the load; one is frozen (SIGSTOP) past the session timeout while the
other takes its partitions, then thawed: its late transaction is fenced (KIP-447 group
generation check) and no duplicate output appears."""

from __future__ import annotations

import signal
import time
from collections import Counter

from tests.support.pipeline import ServiceFactory, read_topic, wait_states
from tests.support.workload import Workload
from tidings.contracts.topics import Topics
from tidings.settings import Settings

SESSION_MS = 6000  # harness default (TIDINGS_KAFKA__SESSION_TIMEOUT_MS)


def aborts(log: str) -> int:
    return log.count('"transaction_aborted"')


def test_frozen_resolver_is_fenced_and_nothing_is_duplicated(
    pipeline: Topics, settings: Settings, start_service: ServiceFactory
) -> None:
    # 40 ms a record at ~25 records/s per resolver: each is busy (inside a transaction) nearly
    # all the time. The engine no longer waits for batches to fill, so without this a freeze
    # would often land between transactions.
    slow = {"TIDINGS_TEST_HOOKS__SLOW_MS": "40"}
    zombie = start_service("resolver", "a", **slow).wait_healthy()
    start_service("resolver", "b", **slow).wait_healthy()
    start_service("fanout").wait_healthy()
    workload = Workload(settings, 1500, 30).start()
    fenced = False
    for _ in range(5):  # the freeze must land inside a transaction; try a few times
        time.sleep(3)
        before = aborts(zombie.log_path.read_text())
        zombie.signal(signal.SIGSTOP)
        time.sleep(SESSION_MS / 1000 + 4)  # the other instance takes its partitions
        zombie.signal(signal.SIGCONT)
        time.sleep(5)
        if aborts(zombie.log_path.read_text()) > before:
            fenced = True
            break
    workload.thread.join()
    event_ids = [event_id for _, event_id in workload.sent]
    wait_states(settings, event_ids, {"dispatched"}, timeout_s=300)
    assert fenced, "the thawed resolver never had a transaction fenced"
    chunks = Counter(
        rec["event_id"] for _, rec in read_topic(settings, Topics(settings).resolved.name)
    )
    assert {e: n for e, n in chunks.items() if n > 1} == {}
    assert workload.actual() == workload.expected()
