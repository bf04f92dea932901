"""B3: HTTP ingest (202 only after the Kafka transaction committed) at fixed concurrencies
with wrk, then open loop at 50 % and 80 % of its measured maximum."""

from __future__ import annotations

import re
import subprocess

import httpx

from bench.harness import ProcessSampler, Result
from bench.scenarios.b0_bare_http import bare_server
from bench.scenarios.env import BIN, Env, free_port, wait_http
from bench.scenarios.load import http_result, openloop, wrk

CONCURRENCIES = (16, 64, 256)


def start_ingest(env: Env, **extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = env.spawn(
        "tidings_ingest",
        [str(BIN / "tidings-ingest")],
        env.service_env(
            TIDINGS_INGEST__PORT=str(port), TIDINGS_INGEST__INSTANCE_ID="bench", **extra
        ),
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/readyz", proc)
    return proc, base


def publisher_stats(base: str) -> dict[str, float]:
    """Mean wait for the commit and mean requests per transaction, from ingest's /metrics."""
    text = httpx.get(base + "/metrics", timeout=10).text

    def value(name: str) -> float:
        found = re.search(rf"^{name} ([\d.e+-]+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    commits = value("tidings_ingest_batch_requests_count") or 1.0
    waits = value("tidings_ingest_produce_seconds_count") or 1.0
    return {
        "mean_commit_wait_ms": round(value("tidings_ingest_produce_seconds_sum") / waits * 1000, 2),
        "mean_requests_per_transaction": round(
            value("tidings_ingest_batch_requests_sum") / commits, 2
        ),
    }


def run(env: Env) -> list[Result]:
    proc, base = start_ingest(env)
    results: list[Result] = []
    try:
        wrk(base, env.token, 64, 2)  # warm-up
        seconds = env.seconds(8, 3)
        for c in CONCURRENCIES:
            with ProcessSampler({"tidings_ingest": proc.pid}) as s:
                m = wrk(base, env.token, c, seconds)
            results.append(http_result("B3", f"ingest HTTP c={c}", m, s, connections=c))
        best = max(results, key=lambda r: r.throughput)
        env.facts["b3_max_rps"] = best.throughput
        best.extra.update(publisher_stats(base))
        for share in (0.5, 0.8):
            with ProcessSampler({"tidings_ingest": proc.pid}) as s:
                m = openloop(base, env.token, best.throughput * share, env.seconds(10, 3))
            results.append(http_result("B3", f"ingest HTTP open-loop {share:.0%}", m, s))
            env.facts[f"b3_p99_{int(share * 100)}"] = m["p99_ms"] or 0.0
    finally:
        env.stop(proc)
    with bare_server(env) as (pid, bare_base):  # B0 at the very same offered load
        with ProcessSampler({"bare_starlette": pid}) as s:
            m = openloop(bare_base, env.token, best.throughput * 0.5, env.seconds(10, 3))
        results.append(http_result("B0", "bare HTTP open-loop at B3's 50%", m, s))
        env.facts["b0_p99_50"] = m["p99_ms"] or 0.0
    return results
