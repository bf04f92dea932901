"""A stopped downstream reader of a delivery topic does not slow ingest: the same steady load
is timed without a reader, then with a consumer group on deliveries.email that took its
partitions and stopped reading (and a second one reading one record a second). Every event
is still dispatched and the reader's lag grows, so the load really ran past it.

The baseline is timed before *and* after the loaded phase, and the loaded phase is compared
with the slower of the two: on a shared machine, noise from other processes moves both
sides, while a real effect of the stopped reader moves only the loaded phase."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from tests.support.faults import TEAM, report
from tests.support.load import HttpLoad, Ledger
from tests.support.outcome import figures
from tests.support.stack import TENANT, Stack, api_client
from tidings.contracts.topics import Topics
from tidings.kafka.config import consumer_config
from tidings.settings import Settings

PHASE_S = 20
RATE = 20


def p95(ledger: Ledger) -> float:
    times = sorted(a.seconds for a in ledger.attempts if a.status == 202)
    return times[int(len(times) * 0.95) - 1]


def run_phase(url: str, secret: str) -> Ledger:
    load = HttpLoad(url, secret, TENANT, rate=RATE, workers=4).start()
    time.sleep(PHASE_S)
    return load.stop()


@pytest.mark.timeout(600)
def test_stopped_delivery_reader_does_not_slow_ingest(
    provisioned: Settings, log_dir: Path, stacks: list[Stack]
) -> None:
    secret = api_client(provisioned).secret
    stack = Stack(provisioned, log_dir)
    stacks.append(stack.start().wait_ready())
    run_phase(stack.url, secret)  # warm-up: first connections, JIT of the code paths
    baseline = run_phase(stack.url, secret)

    topic = Topics(provisioned).deliveries["email"].name
    stopped = Consumer(
        consumer_config(provisioned, "downstream", f"{provisioned.topic_prefix}mailer")
    )
    stopped.subscribe([topic])
    stopped.consume(10, timeout=10)  # joins, takes every partition, reads a little, stops
    stop = threading.Event()
    slow = Consumer(consumer_config(provisioned, "slow", f"{provisioned.topic_prefix}slow-mailer"))
    slow.subscribe([topic])

    def trickle() -> None:
        while not stop.wait(1.0):
            slow.consume(1, timeout=0.5)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        loaded = run_phase(stack.url, secret)
    finally:
        stop.set()
        thread.join(5)
    lag = sum(
        high - max(tp.offset, 0)
        for tp in stopped.committed(stopped.assignment(), timeout=10)
        for _, high in [stopped.get_watermark_offsets(tp, timeout=10)]
    )
    stopped.close()
    slow.close()
    after = run_phase(stack.url, secret)
    reference = max(p95(baseline), p95(after))
    sent = baseline.sent_ids | loaded.sent_ids | after.sent_ids
    acked = baseline.acked_ids | loaded.acked_ids | after.acked_ids
    result = report(
        figures(
            "stopped_delivery_reader",
            provisioned,
            sent,
            acked,
            lambda e: TEAM,
            timeout_s=300,
            p95_without_reader_ms=round(p95(baseline) * 1000, 1),
            p95_after_reader_ms=round(p95(after) * 1000, 1),
            p95_with_stopped_reader_ms=round(p95(loaded) * 1000, 1),
            median_with_ms=round(statistics.median(a.seconds for a in loaded.attempts) * 1000, 1),
        )
    )
    assert (result.lost, result.duplicated) == (0, 0)
    assert result.acknowledged == result.sent
    assert lag >= len(loaded.acked) // 2, f"the reader was not behind (lag {lag})"
    assert p95(loaded) <= 2 * reference + 0.05, result.extra
