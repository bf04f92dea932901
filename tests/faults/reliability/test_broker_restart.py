"""The only broker SIGKILLed and restarted while clients post at a steady rate.

Pass criteria: every 202 is on the log afterwards and reaches ``dispatched`` with exactly one
delivery request per recipient and channel; while the broker is down the answers are 503 with
``Retry-After``; no request waits longer than the ingest's own bound (the delivery timeout for
the append, then at most the produce timeout to read a keyed append back, plus 5 s of slack)
plus a small scheduling allowance.

The broker is a separate node (``infra/kafka.sh start --name solo --port 29092``), never the
shared one. ``TIDINGS_FAULT_OUTAGE_S`` sets the outage length.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.brokers import KillableCluster
from tests.support.faults import TEAM, report, small_settings
from tests.support.load import HttpLoad
from tests.support.outcome import figures
from tests.support.stack import TENANT, Stack, api_client, provision
from tidings.settings import Settings

OUTAGE_S = float(os.environ.get("TIDINGS_FAULT_OUTAGE_S", "12"))
PRODUCE_TIMEOUT_S = 5
BOUND_S = PRODUCE_TIMEOUT_S * 2 + 5 + 3  # append + read-back bounds + slack + scheduling
ENV = {
    "TIDINGS_INGEST__PRODUCE_TIMEOUT_S": str(PRODUCE_TIMEOUT_S),
    "TIDINGS_KAFKA__DELIVERY_TIMEOUT_MS": "5000",
    "TIDINGS_KAFKA__REQUEST_TIMEOUT_MS": "4000",
}


@pytest.fixture(scope="module")
def solo() -> Iterator[KillableCluster]:
    cluster = KillableCluster("solo", port=29092).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def settings(solo: KillableCluster) -> Settings:
    return small_settings(solo.bootstrap, "broker_restart")


@pytest.mark.timeout(900)
def test_broker_killed_and_restarted_loses_no_acknowledged_event(
    settings: Settings, solo: KillableCluster, log_dir: Path, stacks: list[Stack]
) -> None:
    provision(settings)
    client = api_client(settings)
    stack = Stack(settings, log_dir, **ENV)
    stacks.append(stack.start().wait_ready())
    load = HttpLoad(stack.url, client.secret, TENANT, rate=15, workers=8).start()
    time.sleep(8)
    down_at = time.monotonic()
    solo.kill()
    time.sleep(OUTAGE_S)
    solo.start_node()
    up_at = time.monotonic()
    time.sleep(20)  # steady load after the broker is back: the services must recover
    ledger = load.stop()

    during = [a for a in ledger.attempts if down_at + 1 < a.started < up_at - 1]
    result = report(
        figures(
            "single_broker_killed_restarted",
            settings,
            ledger.sent_ids,
            ledger.acked_ids,
            lambda e: TEAM,
            timeout_s=300,
            statuses=ledger.statuses(),
            outage_s=round(up_at - down_at, 1),
            max_answer_s=round(max(a.seconds for a in ledger.attempts), 2),
        )
    )
    assert result.lost == 0, stack.dump()
    assert result.duplicated == 0
    assert result.acknowledged == result.sent, "an event was given up by its client"
    assert set(ledger.statuses()) <= {"202", "503"}, ledger.statuses()
    assert any(a.status == 503 for a in during), "no 503 seen while the broker was down"
    assert all(a.retry_after for a in ledger.attempts if a.status == 503)
    slow = [round(a.seconds, 1) for a in ledger.attempts if a.seconds > BOUND_S]
    assert not slow, f"answers slower than {BOUND_S}s: {slow}"
