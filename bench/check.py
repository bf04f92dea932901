"""The regression gate: fail when a ratio in latest.json is more than 25 % worse than baseline.

Ratios are "higher is better" unless their name ends in ``_lower_is_better``.
Usage: python -m bench.check [--tolerance 0.25]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tolerance", type=float, default=0.25)
    parser.add_argument("--latest", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument("--baseline", type=Path, default=HERE / "baseline.json")
    args = parser.parse_args()
    latest = json.loads(args.latest.read_text())["ratios"]
    baseline = json.loads(args.baseline.read_text())["ratios"]
    problems = regressions(latest, baseline, args.tolerance)
    for line in problems:
        print(f"REGRESSION {line}")
    print(f"{len(baseline) - len(problems)} passed, {len(problems)} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
