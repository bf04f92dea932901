"""B0: the ceiling of the HTTP stack — a bare Starlette endpoint (bench/bare_starlette.py)
served like ingest, that reads and parses the body and answers 202. Its open-loop latency is
measured by B3 at the same offered load as ingest's (50 % of the B3 maximum)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench.harness import ProcessSampler, Result
from bench.scenarios.env import BENCH, Env, free_port, wait_http
from bench.scenarios.load import PATH, http_result, wrk

CONCURRENCIES = (16, 64, 256)


@contextmanager
def bare_server(env: Env) -> Iterator[tuple[int, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = env.spawn(
        "bare_starlette",
        [str(BENCH.parent / ".venv/bin/python"), str(BENCH / "bare_starlette.py")],
        env.service_env(BARE_PORT=str(port)),
    )
    try:
        wait_http(base + PATH, proc)
        yield proc.pid, base
    finally:
        env.stop(proc)


def run(env: Env) -> list[Result]:
    results: list[Result] = []
    with bare_server(env) as (pid, base):
        wrk(base, env.token, 64, 2)  # warm-up
        for c in CONCURRENCIES:
            with ProcessSampler({"bare_starlette": pid}) as s:
                m = wrk(base, env.token, c, env.seconds(8, 3))
            results.append(http_result("B0", f"bare HTTP c={c}", m, s, connections=c))
    env.facts["b0_max_rps"] = max(r.throughput for r in results)
    return results
