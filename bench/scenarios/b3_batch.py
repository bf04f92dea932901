"""B3 batch: events/s through ``POST /api/v1/notifications/batch`` (100 items, one Kafka
transaction per request) against single creates, from the same client at the same
concurrency, in alternating rounds on one ingest process. Fact ``b3_batch100_eps`` over
``b3_single_eps`` is the ratio ``b3_batch100_vs_single_eps`` (target ≥ 5)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.harness import ProcessSampler, Result, median, percentiles
from bench.scenarios.b3_ingest_http import start_ingest
from bench.scenarios.env import Env

CONCURRENCY = 16
BATCH = 100
BODY = {
    "type": "content.approved",
    "recipients": {"users": ["u-1"]},
    "payload": {"content_id": "c"},
}


async def _load(base: str, token: str, seconds: float, items: int) -> dict[str, Any]:
    """``CONCURRENCY`` workers posting back to back for ``seconds``: single creates
    (``items`` = 1) or batches of ``items``."""
    url = f"{base}/api/v1/notifications" + ("/batch" if items > 1 else "")
    body: dict[str, Any] = {"notifications": [BODY] * items} if items > 1 else BODY
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    events, errors = 0, 0
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal events, errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                r = await client.post(url, json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                if r.status_code == 202:
                    events += items
                else:
                    errors += 1
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        began = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - began
    return {"eps": events / elapsed, "errors": errors, "statuses": statuses, "latencies": latencies}


def run(env: Env) -> list[Result]:
    proc, base = start_ingest(env)  # no resolver runs here: the backlog bound is off
    rounds, seconds = int(env.seconds(3, 1)), env.seconds(5, 2)
    per: dict[int, list[dict[str, Any]]] = {1: [], BATCH: []}
    try:
        asyncio.run(_load(base, env.token, 2, 1))  # warm-up: views, the transactional id
        asyncio.run(_load(base, env.token, 2, BATCH))
        samplers: dict[int, list[ProcessSampler]] = {1: [], BATCH: []}
        for _ in range(rounds):
            for items in (1, BATCH):
                with ProcessSampler({"tidings_ingest": proc.pid}) as s:
                    per[items].append(asyncio.run(_load(base, env.token, seconds, items)))
                samplers[items].append(s)
    finally:
        env.stop(proc)
    results = []
    for items, label in ((1, "single creates"), (BATCH, f"batches of {BATCH}")):
        eps = median([m["eps"] for m in per[items]])
        lat = percentiles([x for m in per[items] for x in m["latencies"]])
        key = "b3_single_eps" if items == 1 else "b3_batch100_eps"
        env.facts[key] = eps
        results.append(
            Result(
                "B3",
                f"ingest {label} c={CONCURRENCY}",
                round(eps, 1),
                "events/s",
                lat["p50_ms"],
                lat["p90_ms"],
                lat["p99_ms"],
                sum(m["errors"] for m in per[items]),
                extra={"statuses": [m["statuses"] for m in per[items]]},
            ).with_processes(samplers[items][-1])
        )
    return results
