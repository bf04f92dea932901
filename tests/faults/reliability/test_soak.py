"""Load held: a steady rate through the full pipeline (loopback only) for a bounded time.

Pass criteria: each service's resident memory is flat (the last quarter of the run is no
more than ``max(40 MiB, 25 %)`` above the second quarter, i.e. after warm-up), consumer lag
(``tidings_consumer_lag`` of resolver and fan-out) stays bounded, every event is dispatched
exactly once. ``TIDINGS_SOAK_SECONDS`` (default 120, CI) and ``TIDINGS_SOAK_RATE`` (default
20 events/s) size it; run e.g. ``TIDINGS_SOAK_SECONDS=1800`` for a long soak."""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import pytest

from tests.support.faults import TEAM, report
from tests.support.load import HttpLoad
from tests.support.outcome import figures
from tests.support.stack import TENANT, Stack, api_client
from tidings.settings import Settings

SECONDS = float(os.environ.get("TIDINGS_SOAK_SECONDS", "120"))
RATE = float(os.environ.get("TIDINGS_SOAK_RATE", "20"))
SAMPLE_S = 3.0
LAG_BOUND = int(RATE * 15)  # records: 15 s of input at the steady rate
LAG = re.compile(r"^tidings_consumer_lag\{[^}]*\} ([0-9.e+]+)$", re.M)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def lag(metrics: str) -> float:
    return sum(float(v) for v in LAG.findall(metrics))


@pytest.mark.timeout(int(SECONDS) + 900)
def test_steady_load_keeps_memory_flat_lag_bounded_and_dispatches_everything(
    provisioned: Settings, log_dir: Path, stacks: list[Stack]
) -> None:
    secret = api_client(provisioned).secret
    stack = Stack(provisioned, log_dir)
    stacks.append(stack.start().wait_ready())
    memory: dict[str, list[float]] = {name: [] for name in stack.services}
    lags: dict[str, list[float]] = {"resolver": [], "fanout": []}
    load = HttpLoad(stack.url, secret, TENANT, rate=RATE, workers=4).start()
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        time.sleep(SAMPLE_S)
        for name, service in stack.services.items():
            assert service.proc is not None
            assert service.proc.poll() is None, f"{name} died: {service.tail()}"
            memory[name].append(rss_mb(service.proc.pid))
        for name in lags:
            lags[name].append(lag(stack.services[name].metrics()))
    ledger = load.stop()

    quarter = max(1, len(memory["ingest"]) // 4)
    growth = {
        name: (statistics.median(s[quarter : 2 * quarter]), statistics.median(s[-quarter:]))
        for name, s in memory.items()
    }
    result = report(
        figures(
            "soak",
            provisioned,
            ledger.sent_ids,
            ledger.acked_ids,
            lambda e: TEAM,
            timeout_s=300,
            seconds=int(SECONDS),
            rate=RATE,
            rss_mb={n: f"{a:.0f}->{b:.0f}" for n, (a, b) in growth.items()},
            max_lag={n: max(v, default=0) for n, v in lags.items()},
            p99_ms=round(
                sorted(a.seconds for a in ledger.attempts)[int(len(ledger.attempts) * 0.99) - 1]
                * 1000,
                1,
            ),
        )
    )
    assert (result.lost, result.duplicated) == (0, 0)
    assert result.dispatched == result.acknowledged == result.sent
    for name, (early, late) in growth.items():
        assert late - early <= max(40.0, 0.25 * early), f"{name} memory grew: {early}->{late} MiB"
    for name, values in lags.items():
        assert max(values, default=0) <= LAG_BOUND, f"{name} lag reached {max(values)}"
