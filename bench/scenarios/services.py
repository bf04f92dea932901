"""Start the consumer services (resolver, fan-out) and the bare loop for one scenario,
and read their Prometheus counters."""

from __future__ import annotations

import re
import subprocess
import sys

import httpx

from bench.scenarios.env import BIN, Env, free_port, wait_http


def start_processor(
    env: Env, service: str, timeout_s: float = 600, **extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``service`` is resolver or fanout; returns the process and its metrics URL once it
    is healthy (its views restored), within ``timeout_s``."""
    port = free_port()
    proc = env.spawn(
        service,
        [str(BIN / f"tidings-{service}")],
        env.service_env(
            **{
                f"TIDINGS_PROCESSING__{service.upper()}_PORT": str(port),
                "TIDINGS_PROCESSING__COMMIT_INTERVAL_MS": str(env.commit_interval_ms),
                **extra,
            }
        ),
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz", proc, timeout_s=timeout_s)
    return proc, base


def start_bare_loop(env: Env, source: str, sink: str, group: str) -> subprocess.Popen[bytes]:
    return env.spawn(
        "bare_eos_loop",
        [
            sys.executable,
            "-m",
            "bench.bare_eos_loop",
            "--input",
            source,
            "--output",
            sink,
            "--group",
            group,
        ],
        env.service_env(TIDINGS_PROCESSING__COMMIT_INTERVAL_MS=str(env.commit_interval_ms)),
    )


def produced(base: str, topic_prefix: str) -> int:
    """Records the service produced in committed transactions to topics starting so."""
    text = httpx.get(base + "/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        m = re.match(r'tidings_produced_total\{[^}]*topic="([^"]+)"[^}]*\} ([\d.e+]+)', line)
        if m and m.group(1).startswith(topic_prefix):
            total += float(m.group(2))
    return int(total)
