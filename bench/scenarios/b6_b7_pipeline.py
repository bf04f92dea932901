"""B6 end to end (HTTP 202 → delivery request committed) at 50 % of the B3 maximum, and
B7's memory checks on the running pipeline: idle RSS, RSS during B6 (flat?), and a 2x
overload burst (backpressure must answer 503/429 while RSS stays bounded)."""

from __future__ import annotations

import time

import psutil  # type: ignore[import-untyped]

from bench.harness import ProcessSampler, Result, percentiles
from bench.scenarios.b3_ingest_http import start_ingest
from bench.scenarios.drain import skip_to_end
from bench.scenarios.e2e_watch import DeliveryWatch
from bench.scenarios.env import Env
from bench.scenarios.load import http_result, openloop
from bench.scenarios.services import start_processor
from tidings.contracts.topics import Topics


def run(env: Env) -> list[Result]:
    results: list[Result] = []
    topics = Topics(env.settings)
    # Only what B6 itself sends: a backlog left by earlier scenarios is not end-to-end latency.
    skip_to_end(env.settings, f"{env.prefix}resolver", [topics.events.name, topics.retry.name])
    skip_to_end(env.settings, f"{env.prefix}fanout", [topics.resolved.name])
    resolver, _ = start_processor(env, "resolver")
    fanout, _ = start_processor(env, "fanout")
    ingest, base = start_ingest(env, TIDINGS_INGEST__BACKLOG_BOUND_S="60")  # as deployed
    pids = {"tidings_ingest": ingest.pid, "resolver": resolver.pid, "fanout": fanout.pid}
    watch = DeliveryWatch(env.settings).start()
    try:
        with ProcessSampler(pids) as s:
            time.sleep(env.seconds(5, 1))
        results.append(Result("B7", "idle pipeline", 0.0, "-").with_processes(s))
        env.facts["resolver_idle_rss_mb"] = s.stats["resolver"].peak_rss_mb
        target = env.facts["b3_max_rps"] * 0.5
        ids_file = env.log_dir / "b6_ids.tsv"
        seconds = env.seconds(20, 6)
        psutil.cpu_percent()  # the machine's own load during B6: is the pipeline CPU-starved?
        with ProcessSampler(pids, interval_s=0.5) as s:
            m = openloop(base, env.token, target, seconds, ids=ids_file)
            machine_cpu = psutil.cpu_percent()
            answered = {}
            for line in ids_file.read_text().splitlines():
                event_id, at = line.split("\t")
                answered[event_id] = float(at)
            watch.wait_for(set(answered), 60)
        latencies = [(watch.seen[i] - at) * 1000 for i, at in answered.items() if i in watch.seen]
        missing = len(answered) - len(latencies)
        pct = percentiles(latencies)
        e2e = Result(
            "B6",
            "end to end accepted_at → delivery committed, 50% of B3 max",
            round(len(latencies) / seconds, 1),
            "events/s",
            errors=missing + m["failures"] + sum(v for k, v in m["status"].items() if k != "202"),
            extra={"target_rps": round(target, 1), "http": m, "machine_cpu_percent": machine_cpu},
            p50_ms=pct["p50_ms"],
            p90_ms=pct["p90_ms"],
            p99_ms=pct["p99_ms"],
        ).with_processes(s)
        results.append(e2e)
        env.facts["b6_p99"] = e2e.p99_ms or 0.0
        env.facts["b6_p50"] = e2e.p50_ms or 0.0
        results.append(Result("B7", "RSS during B6 (first → last)", 0.0, "-").with_processes(s))
        growth = [
            p["rss_last_mb"] / p["rss_first_mb"]
            for p in e2e.processes.values()
            if p["rss_first_mb"]
        ]
        env.facts["b6_rss_growth"] = round(max(growth), 3) if growth else 0.0
        with ProcessSampler(pids) as s:
            m = openloop(
                base,
                env.token,
                env.facts["b3_max_rps"] * 2,
                env.seconds(10, 3),
                connections=1024,
                timeout=env.seconds(10, 5),
            )
        over = http_result("B7", "2x overload burst", m, s)
        over.extra["backpressure_answers"] = sum(
            v for k, v in m["status"].items() if k in ("429", "503")
        )
        results.append(over)
        env.facts["b7_overload_backpressure"] = over.extra["backpressure_answers"]
        over.extra["admitted"] = m["admitted"]
        over.extra["admitted_rps"] = round(m["status"].get("202", 0) / env.seconds(10, 3), 1)
        over.extra["send_lag"] = m["send_lag"]  # the generator's own delay: the rig, not Tidings
        env.facts["b7_overload_admitted_p99"] = m["admitted"]["p99_ms"] or 0.0
        ingest_rss = over.processes["tidings_ingest"]  # the service the burst hits
        env.facts["b7_overload_rss_growth"] = round(
            ingest_rss["rss_last_mb"] / ingest_rss["rss_first_mb"], 3
        )
    finally:
        watch.stop()
        for proc in (ingest, fanout, resolver):
            env.stop(proc)
    return results
