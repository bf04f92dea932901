"""``make bench``: every scenario against its bare baseline in one run, on this machine.

    python -m bench.run [--quick] [--only B0,B3] [--commit-interval-ms 100]

Starts what it needs (services on free loopback ports, under a topic prefix of its own that
is deleted afterwards; the broker comes from KAFKA_BOOTSTRAP_SERVERS or infra/with-kafka.sh),
stops everything, and writes bench/results/latest.{json,md,png}.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from bench import report
from bench.harness import Result
from bench.scenarios import (
    b0_bare_http,
    b1_b2_producer,
    b3_batch,
    b3_ingest_http,
    b4_resolver_drain,
    b5_fanout,
    b6_b7_pipeline,
    b7_directory,
    b9_stores,
    b10_sse,
)
from bench.scenarios.env import Env

OUT = Path(__file__).parent / "results"
SCENARIOS: list[tuple[str, Callable[[Env], list[Result]]]] = [
    ("B0", b0_bare_http.run),
    ("B3", b3_ingest_http.run),
    ("B1", b1_b2_producer.run),
    ("B4", b4_resolver_drain.run),
    ("B5", b5_fanout.run),
    ("B6", b6_b7_pipeline.run),
    ("B7", b7_directory.run),
    ("B3B", b3_batch.run),
    ("B10", b10_sse.run),
    ("B9", b9_stores.run),  # last: the longest (a 10,000,000-user directory)
]


def _ratio(num: float | None, den: float | None, digits: int = 3) -> float | None:
    return round(num / den, digits) if num and den else None


def ratios(f: dict[str, float]) -> dict[str, float | None]:
    """Gate values; ``*_lower_is_better`` ones fail when they grow."""
    processing = min(f.get("b4_resolver_eps", 0.0), f.get("b5_fanout1_eps", 0.0)) or None
    rss_1m = f["b7_directory_rss_1m_mb"] / 1024 if "b7_directory_rss_1m_mb" in f else None
    return {
        "b3_vs_b0_rps": _ratio(f.get("b3_max_rps"), f.get("b0_max_rps")),
        "b3_vs_b0_p99_at_50pct_lower_is_better": _ratio(f.get("b3_p99_50"), f.get("b0_p99_50")),
        "b2_vs_b1_eps": _ratio(f.get("b2_eps"), f.get("b1_eps")),
        "b4_resolver_vs_bare_loop": _ratio(f.get("b4_resolver_eps"), f.get("b4_bare_eps")),
        "processing_vs_b3_max": _ratio(processing, f.get("b3_max_rps")),
        "b6_p99_vs_250ms_lower_is_better": _ratio(f.get("b6_p99"), 250.0),
        "b6_rss_growth_lower_is_better": f.get("b6_rss_growth"),
        "b7_resolver_gib_per_1m_users_lower_is_better": round(rss_1m, 3) if rss_1m else None,
        "b7_overload_rss_growth_lower_is_better": f.get("b7_overload_rss_growth"),
        "b7_overload_answered_503_429": f.get("b7_overload_backpressure"),
        # B3 beside the naive ingest (bench/naive_ingest.py) and with 2 workers, all at c=64.
        "b3_vs_naive_rps": _ratio(f.get("b3_c64_rps"), f.get("b3_naive_rps")),
        "b3_vs_naive_p99_lower_is_better": _ratio(f.get("b3_c64_p99"), f.get("b3_naive_p99")),
        "b3_cpu_us_per_request": f.get("b3_cpu_us_per_request"),  # lower is better
        "b3_naive_cpu_us_per_request": f.get("b3_naive_cpu_us_per_request"),  # shown only
        "b3_workers2_vs_workers1_rps": _ratio(f.get("b3_workers2_rps"), f.get("b3_c64_rps")),
        "b3_tracing_on_vs_off_rps": _ratio(f.get("b3_traced_rps"), f.get("b3_c64_rps")),
        "b3_batch100_vs_single_eps": _ratio(f.get("b3_batch100_eps"), f.get("b3_single_eps")),
        "b10_sse_streams_held": f.get("b10_sse_streams_held"),
        "b10_sse_p99_ms": f.get("b10_sse_p99_ms"),
        "b6_p50_ms": f.get("b6_p50"),
        "b6_p99_ms": f.get("b6_p99"),
        "b7_overload_admitted_p99_ms": f.get("b7_overload_admitted_p99"),
        # B9: views in local stores (bench/scenarios/b9_stores.py); all lower is better.
        "b9_resolver_rss_10m_users_mb": f.get("b9_resolver_rss_10m_users_mb"),
        "b9_resolver_restore_10m_users_s": f.get("b9_resolver_restore_10m_users_s"),
        "b9_rss_growth_with_history": f.get("b9_rss_growth_with_history"),
        "b9_restart_catchup_s": f.get("b9_restart_catchup_s"),
        "b9_role_100k_store_vs_memory": _ratio(
            f.get("b9_role_100k_store_s"), f.get("b9_role_100k_memory_s")
        ),
        "b9_rule_100k_store_vs_memory": _ratio(
            f.get("b9_rule_100k_store_s"), f.get("b9_rule_100k_memory_s")
        ),
        "b9_role_100k_store_s": f.get("b9_role_100k_store_s"),
        "b9_role_100k_memory_s": f.get("b9_role_100k_memory_s"),
        "b9_rule_100k_store_s": f.get("b9_rule_100k_store_s"),
        "b9_rule_100k_memory_s": f.get("b9_rule_100k_memory_s"),
    }


TARGETS = {  # name: (bound, True when the value must be at least the bound)
    "b3_vs_b0_rps": (0.6, True),
    "b3_vs_b0_p99_at_50pct_lower_is_better": (2.0, False),
    "b2_vs_b1_eps": (0.5, True),
    "b4_resolver_vs_bare_loop": (0.5, True),
    "processing_vs_b3_max": (2.0, True),
    "b6_p99_vs_250ms_lower_is_better": (1.0, False),
    "b6_rss_growth_lower_is_better": (1.2, False),
    "b7_resolver_gib_per_1m_users_lower_is_better": (1.0, False),
    "b7_overload_rss_growth_lower_is_better": (1.2, False),
    "b7_overload_answered_503_429": (1.0, True),
    "b3_vs_naive_rps": (1.0, True),
    "b3_vs_naive_p99_lower_is_better": (1.5, False),
    "b3_cpu_us_per_request": (250.0, False),
    "b6_p50_ms": (30.0, False),
    "b6_p99_ms": (100.0, False),
    "b7_overload_admitted_p99_ms": (500.0, False),
    "b3_batch100_vs_single_eps": (5.0, True),
    "b10_sse_streams_held": (1000.0, True),
    "b10_sse_p99_ms": (1000.0, False),
    "b9_resolver_rss_10m_users_mb": (512.0, False),
    "b9_rss_growth_with_history": (1.25, False),
    "b9_restart_catchup_s": (5.0, False),
    "b9_role_100k_store_vs_memory": (1.0, False),
    "b9_rule_100k_store_vs_memory": (1.0, False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short rounds: under 2 minutes")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. B0,B3")
    parser.add_argument("--commit-interval-ms", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    env = Env(quick=args.quick, commit_interval_ms=args.commit_interval_ms)
    results: list[Result] = []
    started = time.monotonic()
    try:
        env.provision()
        for name, scenario in SCENARIOS:
            if only and name not in only:
                continue
            t0 = time.monotonic()
            print(f"== {name} ...", flush=True)
            for r in scenario(env):
                results.append(r)
                print(
                    f"   {r.scenario} {r.label}: {r.throughput} {r.unit} "
                    f"p50={r.p50_ms} p99={r.p99_ms} errors={r.errors}",
                    flush=True,
                )
            print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    finally:
        env.close()
    values = ratios(env.facts)
    report.write(
        results,
        values,
        args.out,
        quick=args.quick,
        targets=TARGETS,
        elapsed_s=time.monotonic() - started,
    )
    print((args.out / "latest.md").read_text())


if __name__ == "__main__":
    main()
