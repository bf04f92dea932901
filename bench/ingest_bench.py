"""HTTP benchmark of ``POST /api/v1/notifications``: tidings-ingest against a bare Starlette
endpoint (bench/bare_starlette.py), same uvicorn settings, same run, load from wrk in
another process at a fixed concurrency. Rounds alternate; results go to
bench/results/ingest_http.json.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python -m bench.ingest_bench
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient

from tidings.admin_ops import create_client, load_directory
from tidings.kafka.admin import ensure_topics
from tidings.schema_registry import SchemaRegistry
from tidings.settings import Settings

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
USER = '{"tenant": "bench", "id": "u-1", "roles": ["r"], "channels": {"email": "a@b"}}'


def provision(settings: Settings) -> str:
    ensure_topics(settings)
    registry = SchemaRegistry(settings).start()
    registry.wait_ready(60)
    registry.register_bundled()
    registry.stop()
    load_directory(settings, [USER])
    created = create_client(
        settings, "bench", ["notifications:write"], rate_per_second=1e6, burst=1_000_000
    )
    return created.secret


def start(
    cmd: list[str], env: dict[str, str], url: str, ready_path: str
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + ready_path, timeout=2).status_code in (200, 405):
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd} did not become ready")


def drop_topics(settings: Settings) -> None:
    """The benchmark's topics are deleted afterwards: the broker is shared."""
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(settings.topic_prefix)]
    for future in admin.delete_topics(names, operation_timeout=30).values() if names else []:
        future.result()


def wrk(url: str, token: str, connections: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(HERE / "post.lua"),
            f"{url}/api/v1/notifications",
        ],
        env={**os.environ, "TIDINGS_BENCH_TOKEN": token},
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    prefix = f"bench.ingest.{uuid.uuid4().hex[:6]}."
    settings = Settings(topic_prefix=prefix)
    token = provision(settings)
    env = {
        **os.environ,
        "TIDINGS_TOPIC_PREFIX": prefix,
        "TIDINGS_INGEST__PORT": "18080",
        "TIDINGS_INGEST__INSTANCE_ID": "bench",
        "TIDINGS_LOG_LEVEL": "WARNING",
        "BARE_PORT": "18089",
    }
    servers = {
        "bare_starlette": (
            [str(BIN / "python"), str(HERE / "bare_starlette.py")],
            "http://127.0.0.1:18089",
            "/api/v1/notifications",
        ),
        "tidings_ingest": ([str(BIN / "tidings-ingest")], "http://127.0.0.1:18080", "/readyz"),
    }
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    procs = {name: start(cmd, env, url, ready) for name, (cmd, url, ready) in servers.items()}
    try:
        for _name, (_, url, _) in servers.items():  # warm-up
            wrk(url, token, args.connections, 2)
        for _ in range(args.rounds):
            for name, (_, url, _) in servers.items():
                runs[name].append(wrk(url, token, args.connections, args.seconds))
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        drop_topics(settings)
    best = {name: max(r, key=lambda x: x["rps"]) for name, r in runs.items()}
    result = {
        "connections": args.connections,
        "seconds": args.seconds,
        "runs": runs,
        "best": best,
        "ratio_rps": best["tidings_ingest"]["rps"] / best["bare_starlette"]["rps"],
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "ingest_http.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
