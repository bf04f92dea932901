"""B10: SSE fan-out. 1,000 concurrent ``GET /api/v1/notifications/stream`` on one ingest
process (one state-topic consumer feeds them all), then state records written to the
tenant's state partition one every 50 ms; each stream must receive every one. Latency is
from the broker's acknowledgement of a record (acks=all) to its arrival on a stream.
Facts: ``b10_sse_streams_held`` (streams that got every change) and ``b10_sse_p99_ms``
(target ≤ 1,000 ms).

The streams are held by ``CLIENTS`` processes of ``bench/sse_client.py`` (plain sockets, one
epoll loop each, nice -10 where allowed), all opened before the first write; a change's
arrival is the kernel's receive timestamp of its bytes. The result's ``read_lag`` is how
long after arriving the clients read them: their own lag, which the latencies leave out.
Before, one Python process ran all 1,000 streams with httpx ``aiter_lines`` and timed each
line when its task got to it, its event loop up to 0.8 s late on the two shared cores.
``ingest_cpu_changes_s``: the ingest's CPU from the first write to the last stream's end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]
from confluent_kafka import KafkaError, Message

from bench.harness import ProcessSampler, Result, percentiles
from bench.scenarios.b3_ingest_http import start_ingest
from bench.scenarios.env import BENCH, TENANT, Env
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import Stage, state_record
from tidings.contracts.topics import Topics, state_key
from tidings.kafka.producer import durable_producer
from tidings.ops.admin import create_client

CLIENTS = 4  # processes the streams are spread over (bench/sse_client.py)
RAISE_PRIORITY = True  # nice -10 where allowed, as bench.openloop (False: the services' own)
Client = tuple[subprocess.Popen[bytes], Path]


def _write_changes(env: Env, count: int, acked: dict[int, float]) -> None:
    """``count`` state records on the tenant's partition; ``acked``: offset -> ack time."""
    state = Topics(env.settings).state
    partition = tenant_partition(TENANT, state.partitions)
    codec, producer = Codec(), durable_producer(env.settings, "bench-b10", **{"linger.ms": 0})

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is None and msg.offset() is not None:
            acked[int(msg.offset())] = time.time()  # type: ignore[arg-type]

    for _ in range(count):
        now = int(time.time() * 1000)
        event_id = str(uuid.uuid4())
        record = state_record(
            event_id, TENANT, Stage.RESOLVED, type_="content.approved", accepted_at=now, at=now
        )
        producer.produce(
            state.name,
            key=state_key(TENANT, event_id),
            value=codec.encode("state", record),
            partition=partition,
            on_delivery=on_delivery,
        )
        deadline = time.monotonic() + 0.05
        while time.monotonic() < deadline:
            producer.poll(0.005)  # serve the callback as soon as the ack is in
    producer.flush(30)


def _clients(base: str, secret: str, streams: int, changes: int, out: Path) -> list[Client]:
    """``streams`` spread over ``CLIENTS`` processes of ``bench.sse_client``, each told its
    share on stdin (the secret stays off the command line) and writing its result to ``out``."""
    parts = urlsplit(base)
    clients: list[Client] = []
    for n in range(CLIENTS):
        share = streams // CLIENTS + (n < streams % CLIENTS)
        config = {
            "host": parts.hostname,
            "port": parts.port,
            "secret": secret,
            "streams": share,
            "changes": changes,
            "timeout_s": 300,
            "raise_priority": RAISE_PRIORITY,
        }
        path = out / f"client-{n}.json"
        with path.open("wb") as result:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.sse_client"],
                stdin=subprocess.PIPE,
                stdout=result,
                env={**os.environ, "PYTHONPATH": str(BENCH.parent)},
            )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(config).encode() + b"\n")
        proc.stdin.flush()
        clients.append((proc, path))
    return clients


def _ready(clients: list[Client], timeout_s: float) -> None:
    """Until every client printed its ``ready`` line (every stream opened or failed)."""
    deadline = time.monotonic() + timeout_s
    for proc, path in clients:
        while not path.read_bytes().startswith(b"ready"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"B10 client {proc.pid} did not open its streams")
            time.sleep(0.05)


def _results(clients: list[Client], timeout_s: float) -> list[dict[str, Any]]:
    """Each client's result once every stream has every change, or ``stop`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    for proc, _ in clients:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            proc.stdin.flush()
    results = []
    for proc, path in clients:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        lines = path.read_text().splitlines()
        results.append(json.loads(lines[-1]) if len(lines) > 1 else {"streams": []})
    return results


def _streams(
    env: Env, ingest: int, base: str, secret: str, streams: int, changes: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="b10-") as out:
        clients = _clients(base, secret, streams, changes, Path(out))
        try:
            _ready(clients, 120)
            server = psutil.Process(ingest)
            cpu = server.cpu_times()
            acked: dict[int, float] = {}
            _write_changes(env, changes, acked)
            results = _results(clients, 30)
            after = server.cpu_times()
        finally:
            for proc, _ in clients:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    got = [stream for r in results for stream in r["streams"]]
    latencies = [(arrived - acked[o]) * 1000 for s in got for o, arrived, _ in s if o in acked]
    read = [(read - acked[o]) * 1000 for s in got for o, _, read in s if o in acked]
    lag = [(read - arrived) * 1000 for s in got for _, arrived, read in s]
    return {
        "opened": sum(r.get("opened", 0) for r in results),
        "held": sum(1 for s in got if set(acked) <= {o for o, _, _ in s}),
        "latencies": latencies,
        "extra": {
            "clients": len(results),
            "priority_raised": all(r.get("priority_raised") for r in results),
            "client_cpu_s": round(sum(r.get("cpu_s", 0.0) for r in results), 2),
            "client_cpu_changes_s": round(sum(r.get("cpu_after_ready_s", 0.0) for r in results), 2),
            "read_lag": percentiles(lag),  # the clients' own lag: read minus arrival
            "latency_when_read": percentiles(read),  # what a loop timing its reads measures
            "ingest_cpu_changes_s": round(
                after.user + after.system - cpu.user - cpu.system, 2
            ),  # from the first write to the last stream's end
        },
    }


def run(env: Env) -> list[Result]:
    streams, changes = (200, 10) if env.quick else (1_000, 30)
    reader = create_client(
        env.settings, TENANT, ["notifications:read"], rate_per_second=1e6, burst=1_000_000
    )
    proc, base = start_ingest(env)
    try:
        with ProcessSampler({"tidings_ingest": proc.pid}) as s:
            m = _streams(env, proc.pid, base, reader.secret, streams, changes)
    finally:
        env.stop(proc)
    lat = percentiles(m["latencies"])
    env.facts["b10_sse_streams_held"] = m["held"]
    env.facts["b10_sse_p99_ms"] = lat["p99_ms"] or 0.0
    result = Result(
        "B10",
        f"SSE: {streams} streams, {changes} state changes each",
        m["held"],
        "streams held",
        lat["p50_ms"],
        lat["p90_ms"],
        lat["p99_ms"],
        streams - m["held"],
        extra={"opened": m["opened"], "deliveries": len(m["latencies"]), **m["extra"]},
    )
    return [result.with_processes(s)]
