"""The regression gate: fail when a ratio in latest.json is more than 25 % worse than baseline.

Ratios are "higher is better" unless their name ends in ``_lower_is_better`` or ``DIRECTION``
says "lower". A gated ratio of this run that the baseline does not hold yet is listed (not
failed): it is gated once ``--write-baseline`` took it from a full run.
Usage: python -m bench.check [--tolerance 0.25]
       python -m bench.check --write-baseline   (after a full run: its ratios become the baseline)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
NOT_GATED = {
    "b7_overload_answered_503_429",  # a count that must be > 0, shown but not gated
    "b3_naive_cpu_us_per_request",  # the naive ingest's own cost: context for b3_cpu_us_...
    "b9_resolver_restore_10m_users_s",  # reported: the one-off build of a 10M-user store
    "b9_role_100k_store_s",  # the CPU seconds behind the two b9_*_store_vs_memory ratios
    "b9_role_100k_memory_s",
    "b9_rule_100k_store_s",
    "b9_rule_100k_memory_s",
}
# Direction of the ratios whose name does not say it (the rest: the suffix rule above).
DIRECTION = {
    "b3_vs_naive_rps": "higher",
    "b3_vs_naive_p99_lower_is_better": "lower",
    "b3_cpu_us_per_request": "lower",  # µs of ingest CPU per answered request
    "b3_workers2_vs_workers1_rps": "higher",
    "b3_tracing_on_vs_off_rps": "higher",
    "b3_batch100_vs_single_eps": "higher",
    "b10_sse_streams_held": "higher",
    "b10_sse_p99_ms": "lower",
    "b6_p50_ms": "lower",
    "b6_p99_ms": "lower",
    "b7_overload_admitted_p99_ms": "lower",
    "b9_resolver_rss_10m_users_mb": "lower",
    "b9_rss_growth_with_history": "lower",
    "b9_restart_catchup_s": "lower",
    "b9_role_100k_store_vs_memory": "lower",
    "b9_rule_100k_store_vs_memory": "lower",
}


def lower_is_better(name: str) -> bool:
    return DIRECTION.get(name) == "lower" or name.endswith("_lower_is_better")


def not_in_baseline(latest: dict[str, float | None], baseline: dict[str, float]) -> list[str]:
    """Gated ratios this run measured that the baseline does not hold yet."""
    return sorted(
        n for n, v in latest.items() if v is not None and n not in NOT_GATED and n not in baseline
    )


def regressions(
    latest: dict[str, float | None], baseline: dict[str, float], tolerance: float
) -> list[str]:
    found = []
    for name, base in sorted(baseline.items()):
        value = latest.get(name)
        if value is None:
            found.append(f"{name}: missing from this run (baseline {base})")
            continue
        if lower_is_better(name):
            worse = value > base * (1 + tolerance)
        else:
            worse = value < base * (1 - tolerance)
        if worse:
            found.append(f"{name}: {value} vs baseline {base} (more than {tolerance:.0%} worse)")
    return found


def write_baseline(latest: Path, baseline: Path) -> int:
    run = json.loads(latest.read_text())
    if run.get("quick"):
        print("refusing: latest.json is from a --quick run")
        return 2
    ratios = {k: v for k, v in run["ratios"].items() if v is not None and k not in NOT_GATED}
    baseline.write_text(json.dumps({"machine": run["machine"], "ratios": ratios}, indent=2) + "\n")
    print(f"baseline: {len(ratios)} ratios from {latest}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tolerance", type=float, default=0.25)
    parser.add_argument("--latest", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument("--baseline", type=Path, default=HERE / "baseline.json")
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args()
    if args.write_baseline:
        return write_baseline(args.latest, args.baseline)
    run = json.loads(args.latest.read_text())
    base = json.loads(args.baseline.read_text())
    if run.get("quick") and not base.get("quick"):
        print("latest.json is from a --quick run (smoke test): its ratios are not comparable")
        print("with the baseline's; run `make bench` first")
        return 2
    latest, baseline = run["ratios"], base["ratios"]
    problems = regressions(latest, baseline, args.tolerance)
    for line in problems:
        print(f"REGRESSION {line}")
    for name in not_in_baseline(latest, baseline):
        print(f"NOT GATED YET {name}: {latest[name]} (not in the baseline; refresh it)")
    print(f"{len(baseline) - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
