"""Load generators, each in a process of its own: wrk (closed loop, fixed concurrency) and
bench.openloop (fixed schedule, latency from the scheduled time)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import ProcessSampler, Result
from bench.scenarios.env import BENCH

PATH = "/api/v1/notifications"


def _ms(out: str, label: str) -> float | None:
    found = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if found is None:
        return None
    value, unit = found.groups()
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


def wrk(base: str, token: str, connections: int, seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(BENCH / "post.lua"),
            base + PATH,
        ],
        env={**os.environ, "TIDINGS_BENCH_TOKEN": token},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non_2xx_n = int(non_2xx.group(1)) if non_2xx else 0
    # wrk counts every answer; only 2xx are throughput (503s under overload are not).
    ok_share = 1 - non_2xx_n / int(total.group(1)) if total and int(total.group(1)) else 1.0
    return {
        "rps": round(float(rps.group(1)) * ok_share, 2) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,  # answered, whatever the status
        "p50_ms": _ms(out, "50%"),
        "p90_ms": _ms(out, "90%"),
        "p99_ms": _ms(out, "99%"),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(g) for g in sock.groups()) if sock else 0),
    }


def openloop(
    base: str,
    token: str,
    rate: float,
    seconds: float,
    *,
    connections: int = 256,
    ids: Path | None = None,
    timeout: float = 30,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "bench.openloop",
        "--url",
        base + PATH,
        "--token",
        token,
        "--rate",
        f"{rate:.1f}",
        "--seconds",
        str(seconds),
        "--connections",
        str(connections),
        "--timeout",
        str(timeout),
    ]
    if ids is not None:
        cmd += ["--ids", str(ids)]
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent)}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def http_result(
    scenario: str, label: str, m: dict[str, Any], sampler: ProcessSampler, **extra: Any
) -> Result:
    """A Result from a wrk or open-loop measurement; open-loop errors are non-202 answers."""
    if "rps" in m:
        throughput, errors = m["rps"], m["errors"]
    else:
        throughput = m["achieved_rps"]
        errors = m["failures"] + sum(v for k, v in m["status"].items() if k != "202")
        extra = {**extra, "status": m["status"], "target_rps": m["target_rps"]}
    return Result(
        scenario,
        label,
        throughput,
        "req/s",
        m["p50_ms"],
        m["p90_ms"],
        m["p99_ms"],
        errors,
        extra=extra,
    ).with_processes(sampler)
