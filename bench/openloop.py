"""Open-loop HTTP load generator (wrk2 is not in Debian): requests follow a fixed schedule,
``start + i / rate``, and each latency is measured from its *scheduled* time, so a slow
server cannot hide its stalls by slowing the generator down (no coordinated omission).

Runs in its own process. Prints one JSON summary line; with ``--ids FILE`` also writes
``event_id<TAB>accepted_unix_s`` per 202, the server's ``accepted_at`` (end-to-end latency is
joined on it later: a load generator short of CPU records its own receipt late, so the
server's clock is the anchor).

    python -m bench.openloop --url http://127.0.0.1:8080/api/v1/notifications \
        --rate 500 --seconds 10 --token tds_...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from bench.harness import percentiles

BODY = (
    b'{"type": "content.approved", "recipients": {"users": ["u-1"]}, '
    b'"payload": {"content_id": "c-1"}}'
)
EVENT_ID = re.compile(rb'"id":"([^"]+)"')
ACCEPTED_AT = re.compile(rb'"accepted_at":(\d+)')
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Run:
    def __init__(self, url: str, token: str, rate: float, seconds: float, body: bytes) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.request = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.rate, self.total = rate, int(rate * seconds)
        self.next = 0
        self.latencies: list[float] = []
        self.admitted: list[float] = []  # of 202 answers only: what an accepted caller waited
        # How late each request was sent (no free connection, or the generator short of CPU):
        # the part of a latency the server never saw. Large: the rig, not the server, is behind.
        self.send_lag: list[float] = []
        self.timeline: list[tuple[float, int, float]] = []  # (scheduled s, status, latency ms)
        self.status: Counter[int] = Counter()
        self.ids: list[tuple[bytes, float]] = []
        self.failures = 0
        self.failure_kinds: Counter[str] = Counter()  # "connect" or "exchange", by exception

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, bytes, bool]:
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        match = re.search(rb"content-length: *(\d+)", lower)
        body = await reader.readexactly(int(match.group(1))) if match else b""
        return status, body, b"connection: close" in lower

    async def connect(self) -> Connection | None:
        try:
            return await asyncio.open_connection(self.host, self.port)
        except OSError:
            return None  # the worker tries again with its first request

    async def worker(
        self, start: float, keep_ids: bool, timeout_s: float, conn: Connection | None
    ) -> None:
        loop = asyncio.get_running_loop()
        while self.next < self.total:
            i = self.next
            self.next += 1
            scheduled = start + i / self.rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send_lag.append((loop.time() - scheduled) * 1000)
            phase = "connect"
            try:
                if conn is None:
                    conn = await asyncio.open_connection(self.host, self.port)
                phase = "exchange"
                status, body, close = await asyncio.wait_for(self._exchange(*conn), timeout_s)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                self.failures += 1
                self.failure_kinds[f"{phase}: {type(exc).__name__}"] += 1
                if conn is not None:
                    conn[1].close()
                conn = None
                continue
            done = loop.time()
            self.latencies.append((done - scheduled) * 1000)
            self.timeline.append((scheduled - start, status, self.latencies[-1]))
            if status == 202:
                self.admitted.append(self.latencies[-1])
            self.status[status] += 1
            if keep_ids and status == 202 and (m := EVENT_ID.search(body)):
                accepted = ACCEPTED_AT.search(body)
                at = int(accepted.group(1)) / 1000 if accepted else time.time()
                self.ids.append((m.group(1), at))
            if close:
                conn[1].close()
                conn = None
        if conn is not None:
            conn[1].close()

    async def run(self, connections: int, keep_ids: bool, timeout_s: float) -> float:
        loop = asyncio.get_running_loop()
        # Connected before the schedule starts: the callers of a service keep their
        # connections, and 1,024 handshakes at once measured the accept queue, not the API.
        opened = await asyncio.gather(*(self.connect() for _ in range(connections)))
        start = loop.time() + 0.2
        await asyncio.gather(*(self.worker(start, keep_ids, timeout_s, c) for c in opened))
        return loop.time() - start


def raise_priority() -> bool:
    """Run ahead of the services (nice -10) where allowed: the generator stands for clients
    on machines of their own, and on two shared cores it otherwise fell seconds behind its
    schedule, which the latencies then counted as the server's (``send_lag`` shows it)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="none")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=30)
    parser.add_argument("--ids", type=Path)
    parser.add_argument("--timeline", type=Path, help="write scheduled_s, status, latency_ms")
    args = parser.parse_args()
    raised = raise_priority()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    run = Run(args.url, args.token, args.rate, args.seconds, BODY)
    elapsed = asyncio.run(run.run(args.connections, args.ids is not None, args.timeout))
    if args.ids is not None:
        args.ids.write_text("".join(f"{i.decode()}\t{t:.6f}\n" for i, t in run.ids))
    if args.timeline is not None:
        args.timeline.write_text("".join(f"{t:.3f}\t{s}\t{ms:.1f}\n" for t, s, ms in run.timeline))
    ok = run.status.get(202, 0)
    summary = {
        "target_rps": args.rate,
        "scheduled": run.total,
        "achieved_rps": round(sum(run.status.values()) / elapsed, 1),
        "accepted": ok,
        "status": {str(k): v for k, v in sorted(run.status.items())},
        "failures": run.failures,
        "failure_kinds": dict(run.failure_kinds),
        **percentiles(run.latencies),
        "admitted": percentiles(run.admitted),
        "send_lag": percentiles(run.send_lag),
        "priority_raised": raised,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
