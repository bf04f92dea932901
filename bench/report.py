"""Write a run's results: JSON for the regression gate, Markdown for people, a PNG chart."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from bench.harness import Result


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


Targets = dict[str, tuple[float, bool]]  # name: (bound, at_least)


def write(
    results: list[Result],
    ratios: dict[str, float | None],
    out_dir: Path,
    *,
    quick: bool,
    targets: Targets | None = None,
    elapsed_s: float = 0.0,
) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "machine": machine(),
        "quick": quick,
        "elapsed_s": round(elapsed_s, 1),
        "results": [r.as_dict() for r in results],
        "ratios": ratios,
    }
    (out_dir / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")
    (out_dir / "latest.md").write_text(
        markdown(results, ratios, payload["machine"], targets or {}, quick, elapsed_s)
    )
    chart(results, out_dir / "latest.png")


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


def _verdict(value: float | None, target: tuple[float, bool] | None) -> str:
    if target is None or value is None:
        return "-"
    bound, at_least = target
    ok = value >= bound if at_least else value <= bound
    return f"{'≥' if at_least else '≤'} {bound}: {'holds' if ok else 'MISSED'}"


def markdown(
    results: list[Result],
    ratios: dict[str, float | None],
    host: dict[str, Any],
    targets: Targets,
    quick: bool,
    elapsed_s: float,
) -> str:
    lines = [
        "# Tidings benchmark" + (" (--quick)" if quick else ""),
        "",
        f"Machine: {host['cores']} cores, {host['memory_gib']} GiB, Python {host['python']}, "
        f"load average {host['load_avg_1m']} at the end; run took {elapsed_s:.0f} s.",
        "",
        "| scenario | what | throughput | p50 ms | p90 ms | p99 ms | errors "
        "| CPU s / peak RSS MB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        procs = "; ".join(
            f"{n}: {p['cpu_s']} / {p['peak_rss_mb']}" for n, p in sorted(r.processes.items())
        )
        lines.append(
            f"| {r.scenario} | {r.label} | {r.throughput} {r.unit} | {_fmt(r.p50_ms)} | "
            f"{_fmt(r.p90_ms)} | {_fmt(r.p99_ms)} | {r.errors} | {procs or '-'} |"
        )
    lines += ["", "| ratio | value | target |", "| --- | ---: | --- |"]
    lines += [
        f"| {name} | {_fmt(value)} | {_verdict(value, targets.get(name))} |"
        for name, value in sorted(ratios.items())
    ]
    return "\n".join(lines) + "\n"


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r.scenario}\n{r.label}"[:40] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(10, len(results) * 1.1), 5))
    left.bar(range(len(results)), [r.throughput for r in results], color="#4a7bd0")
    left.set_title("throughput (per second; unit in table)")
    left.set_xticks(range(len(results)), labels, rotation=70, fontsize=7)
    right.bar(range(len(results)), [r.p99_ms or 0 for r in results], color="#d07a4a", label="p99")
    right.bar(range(len(results)), [r.p50_ms or 0 for r in results], color="#4ad08a", label="p50")
    right.set_title("latency (ms)")
    right.set_yscale("log")
    right.legend()
    right.set_xticks(range(len(results)), labels, rotation=70, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
