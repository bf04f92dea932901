"""B3: HTTP ingest (202 only after ONE idempotent acks=all append) at fixed concurrencies with
wrk, then open loop at 50 % and 80 % of its measured maximum. Then, at c=64 in alternating
rounds (the servers not measured suspended): the ingest (1 worker), the naive ingest
(bench/naive_ingest.py: validate, Avro, one acks=all append, nothing else) and the ingest with
TIDINGS_INGEST__WORKERS=2, with the CPU µs per answered request of each."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]
from confluent_kafka.admin import AdminClient, NewTopic

from bench.harness import ProcessSampler, Result, median
from bench.scenarios.b0_bare_http import bare_server
from bench.scenarios.env import BENCH, BIN, Env, free_port, wait_http
from bench.scenarios.load import PATH, http_result, openloop, wrk
from tidings.contracts.topics import Topics

CONCURRENCIES = (16, 64, 256)
COMPARE_AT = 64  # the concurrency of the naive and the 2-worker comparisons


def start_ingest(
    env: Env, workers: int = 1, timeout_s: float = 120, **extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Ingest on a free port, ready within ``timeout_s``; with ``workers`` > 1 each worker
    claims an instance id. No resolver drains what B3 appends: the backlog bound (503
    ``backlog_exceeded``) is off unless the scenario sets it."""
    port = free_port()
    variables = {
        "TIDINGS_INGEST__BACKLOG_BOUND_S": "0",
        "TIDINGS_INGEST__PORT": str(port),
        "TIDINGS_INGEST__WORKERS": str(workers),
        "TIDINGS_INGEST__INSTANCE_ID": "bench" if workers == 1 else "auto",
        **extra,
    }
    proc = env.spawn("tidings_ingest", [str(BIN / "tidings-ingest")], env.service_env(**variables))
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/readyz", proc, timeout_s)
    if workers > 1:  # /readyz reaches one worker at a time: ask until many answer ready
        ready, deadline = 0, time.monotonic() + 120
        while ready < 10 * workers and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                ok = httpx.get(base + "/readyz", timeout=2).status_code == 200
                ready = ready + 1 if ok else 0
            time.sleep(0.05)
    return proc, base


@contextmanager
def naive_server(env: Env) -> Iterator[tuple[int, str]]:
    """bench/naive_ingest.py on a free port, appending to a topic of its own under the run's
    prefix (same partitions and configuration as the events topic; deleted with the prefix)."""
    events = Topics(env.settings).events
    topic = f"{env.prefix}naive"
    admin = AdminClient({"bootstrap.servers": env.settings.bootstrap_servers})
    if topic not in admin.list_topics(timeout=10).topics:
        spec = NewTopic(
            topic,
            num_partitions=events.partitions,
            replication_factor=env.settings.topics.replication_factor,
            config=events.config,
        )
        for future in admin.create_topics([spec], operation_timeout=30).values():
            future.result()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = env.spawn(
        "naive_ingest",
        [sys.executable, str(BENCH / "naive_ingest.py")],
        env.service_env(NAIVE_PORT=str(port), NAIVE_TOPIC=topic),
    )
    try:
        wait_http(base + PATH, proc)
        yield proc.pid, base
    finally:
        env.stop(proc)


def cpu_us_per_request(sampler: ProcessSampler, name: str, m: dict[str, Any]) -> float | None:
    """CPU seconds (user + system) of ``name`` during the run over the requests wrk had
    answered, in µs."""
    requests = m.get("requests") or 0
    return round(sampler.stats[name].cpu_exact_s * 1e6 / requests, 1) if requests else None


def publisher_stats(base: str) -> dict[str, float]:
    """Mean wait for the acks=all acknowledgement, from ingest's /metrics."""
    text = httpx.get(base + "/metrics", timeout=10).text

    def value(name: str) -> float:
        found = re.search(rf"^{name} ([\d.e+-]+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    waits = value("tidings_ingest_produce_seconds_count") or 1.0
    return {
        "mean_append_wait_ms": round(value("tidings_ingest_produce_seconds_sum") / waits * 1000, 2)
    }


@contextmanager
def suspended(pids: list[int]) -> Iterator[None]:
    """SIGSTOP these processes (and their children) for the block: a server waiting its turn
    takes no CPU (an idle ingest still reads the events the measured one appends). Parents stop
    first and resume last, so a uvicorn supervisor never sees its workers miss a health check."""
    procs: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            parent = psutil.Process(pid)
            procs += [parent, *parent.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.suspend()
    try:
        yield
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(psutil.Error):
                proc.resume()


def settle(pid: int, timeout_s: float = 15.0) -> None:
    """Wait until the process (and its children) is idle: a resumed ingest first reads the
    events the others appended meanwhile, work that must not count in its round."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with ProcessSampler({"p": pid}, interval_s=1.0) as s:
            time.sleep(0.3)
        if s.stats["p"].cpu_exact_s < 0.03:  # under 10 % of a core
            return


def run(env: Env) -> list[Result]:
    results = measure_ingest(env)
    results += compare_at_64(env)
    with bare_server(env) as (pid, bare_base):  # B0 at the very same offered load as B3's 50 %
        with ProcessSampler({"bare_starlette": pid}) as s:
            m = openloop(bare_base, env.token, env.facts["b3_max_rps"] * 0.5, env.seconds(10, 3))
        results.append(http_result("B0", "bare HTTP open-loop at B3's 50%", m, s))
        env.facts["b0_p99_50"] = m["p99_ms"] or 0.0
    return results


def measure_ingest(env: Env) -> list[Result]:
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
    return results


def compare_at_64(env: Env) -> list[Result]:
    """Ingest (1 worker), the naive ingest and ingest with 2 workers, wrk at c=64 in
    alternating rounds (the two others suspended), so load from other tenants of the machine
    falls on all three alike. Facts: the median round of each."""
    rounds, seconds = int(env.seconds(3, 1)), env.seconds(5, 3)
    results: list[Result] = []
    names = {"tidings_ingest": "ingest HTTP", "naive_ingest": "naive ingest"}
    names["tidings_ingest_workers2"] = "ingest HTTP 2 workers"
    names["tidings_ingest_traced"] = "ingest HTTP, tracing on"
    per: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with contextlib.ExitStack() as stack:
        one, one_base = start_ingest(env)
        stack.callback(env.stop, one)
        naive_pid, naive_base = stack.enter_context(naive_server(env))
        with suspended([one.pid, naive_pid]):  # its views catch up alone
            two, two_base = start_ingest(env, workers=2)
        stack.callback(env.stop, two)
        with suspended([one.pid, naive_pid, two.pid]):  # every request sampled, to a file
            spans = str(env.log_dir / "b3_traces.jsonl")
            traced, traced_base = start_ingest(
                env, TIDINGS_TRACING__FILE=spans, TIDINGS_INGEST__INSTANCE_ID="bench-traced"
            )
        stack.callback(env.stop, traced)
        # name: (base, pid, counted family: 1 process, or the supervisor and its workers)
        targets = {
            "tidings_ingest": (one_base, one.pid, False),
            "naive_ingest": (naive_base, naive_pid, False),
            "tidings_ingest_workers2": (two_base, two.pid, True),
            "tidings_ingest_traced": (traced_base, traced.pid, False),
        }
        for i in range(-1, rounds):  # round -1: warm-up
            for name, (base, pid, family) in targets.items():
                others = [p for n, (_, p, _) in targets.items() if n != name]
                with suspended(others):
                    if i < 0:
                        wrk(base, env.token, COMPARE_AT, 2)
                        continue
                    settle(pid)
                    with ProcessSampler({name: pid}, children=family) as s:
                        m = wrk(base, env.token, COMPARE_AT, seconds)
                m["cpu_us_per_request"] = cpu_us_per_request(s, name, m)
                per[name].append(m)
                label = names[name]
                results.append(
                    http_result(
                        "B3",
                        f"{label} c={COMPARE_AT} round {i + 1}/{rounds}",
                        m,
                        s,
                        connections=COMPARE_AT,
                        cpu_us_per_request=m["cpu_us_per_request"],
                    )
                )
        results[-1].extra.update(publisher_stats(two_base))  # of the worker that answered
    facts = env.facts
    for name, fact in (
        ("tidings_ingest", "b3_c64"),
        ("naive_ingest", "b3_naive"),
        ("tidings_ingest_workers2", "b3_workers2"),
        ("tidings_ingest_traced", "b3_traced"),
    ):
        facts[f"{fact}_rps"] = median(m["rps"] for m in per[name])
        facts[f"{fact}_p99"] = median(m["p99_ms"] or 0.0 for m in per[name])
    for name, fact in (("tidings_ingest", "b3_cpu"), ("naive_ingest", "b3_naive_cpu")):
        cpus = [m["cpu_us_per_request"] for m in per[name] if m["cpu_us_per_request"]]
        if cpus:
            facts[f"{fact}_us_per_request"] = round(median(cpus), 1)
    return results
