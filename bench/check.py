"""The regression gate: fail when a ratio in latest.json is more than 25 % worse than baseline.

Ratios are "higher is better" unless their name ends in ``_lower_is_better``.
Usage: python -m bench.check [--tolerance 0.25]
       python -m bench.check --write-baseline   (after a full run: its ratios become the baseline)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
NOT_GATED = {"b7_overload_answered_503_429"}  # a count that must be > 0, shown but not gated


def regressions(
    latest: dict[str, float | None], baseline: dict[str, float], tolerance: float
) -> list[str]:
    found = []
    for name, base in sorted(baseline.items()):
        value = latest.get(name)
        if value is None:
            found.append(f"{name}: missing from this run (baseline {base})")
            continue
        if name.endswith("_lower_is_better"):
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
    print(f"{len(baseline) - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
