"""B10: SSE fan-out. 1,000 concurrent ``GET /api/v1/notifications/stream`` on one ingest
process (one state-topic consumer feeds them all), then state records written to the
tenant's state partition one every 50 ms; each stream must receive every one. Latency is
from the broker's acknowledgement of a record (acks=all) to its arrival on a stream.
Facts: ``b10_sse_streams_held`` (streams that got every change) and ``b10_sse_p99_ms``
(target ≤ 1,000 ms)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import httpx
from confluent_kafka import KafkaError, Message

from bench.harness import ProcessSampler, Result, percentiles
from bench.scenarios.b3_ingest_http import start_ingest
from bench.scenarios.env import TENANT, Env
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import Stage, state_record
from tidings.contracts.topics import Topics, state_key
from tidings.kafka.producer import durable_producer
from tidings.ops.admin import create_client


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


async def _streams(base: str, secret: str, streams: int, changes: int, env: Env) -> dict[str, Any]:
    received: list[dict[int, float]] = [{} for _ in range(streams)]
    opened = 0
    all_open = asyncio.Event()
    limits = httpx.Limits(max_connections=streams + 10)
    headers = {"Authorization": f"Bearer {secret}"}
    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=timeout) as client:

        async def stream(i: int) -> None:
            nonlocal opened
            async with client.stream("GET", f"{base}/api/v1/notifications/stream") as r:
                async for line in r.aiter_lines():
                    if line.startswith("retry:"):
                        opened += 1
                        if opened == streams:
                            all_open.set()
                    elif line.startswith("id: "):
                        received[i][int(line[4:].split("-")[1])] = time.time()
                        if len(received[i]) >= changes:
                            return

        tasks = [asyncio.create_task(stream(i)) for i in range(streams)]
        try:
            await asyncio.wait_for(all_open.wait(), 120)
            acked: dict[int, float] = {}
            writer = threading.Thread(target=_write_changes, args=(env, changes, acked))
            writer.start()
            await asyncio.to_thread(writer.join)
            await asyncio.wait(tasks, timeout=30)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    latencies = [
        (at - acked[offset]) * 1000
        for got in received
        for offset, at in got.items()
        if offset in acked
    ]
    held = sum(1 for got in received if set(acked) <= set(got))
    return {"opened": opened, "held": held, "latencies": latencies}


def run(env: Env) -> list[Result]:
    streams, changes = (200, 10) if env.quick else (1_000, 30)
    reader = create_client(
        env.settings, TENANT, ["notifications:read"], rate_per_second=1e6, burst=1_000_000
    )
    proc, base = start_ingest(env)
    try:
        with ProcessSampler({"tidings_ingest": proc.pid}) as s:
            m = asyncio.run(_streams(base, reader.secret, streams, changes, env))
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
        extra={"opened": m["opened"], "deliveries": len(m["latencies"])},
    )
    return [result.with_processes(s)]
