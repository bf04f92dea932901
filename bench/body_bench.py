"""Microseconds per request body in the ingest: a Starlette ``Request`` over ASGI ``receive``,
``read_capped`` and ``parse_json``, beside the way it was read before (``request.stream()``
under an ``asyncio.timeout`` per request, then the depth walk and the stdlib duplicate-key
pass on every body), in the same run, on uvloop as the ingest runs. Rounds alternate; best
of the rounds.

    .venv/bin/python -m bench.body_bench [--rounds 5] [--number 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvloop
from starlette.requests import Request

from tidings_ingest.body import _no_duplicates, depth_of, parse_json, read_capped

BODIES = {
    "bench body": b'{"type": "content.approved", "recipients": {"users": ["u-1"]}, '
    b'"payload": {"content_id": "c-1"}}',
    "a colon in a string": b'{"type": "content.approved", "recipients": {"users": ["u-1"]}, '
    b'"payload": {"content_id": "c-1", "url": "https://example.test/c-1"}}',
}
MAX_BYTES, TIMEOUT_S, MAX_DEPTH = 1_048_576, 10.0, 32


async def before(request: Request) -> Any:
    """The former path (git history: tidings_ingest/body.py before the CutOffs)."""
    async with asyncio.timeout(TIMEOUT_S):
        chunks = [chunk async for chunk in request.stream()]
    raw = b"".join(chunks)
    value = orjson.loads(raw)
    if depth_of(value) > MAX_DEPTH:
        raise ValueError("too deep")
    if b"{" in raw:
        json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    return value


async def now(request: Request) -> Any:
    return parse_json(await read_capped(request, MAX_BYTES, TIMEOUT_S), MAX_DEPTH)


async def per_request_us(
    read: Callable[[Request], Awaitable[Any]], body: bytes, number: int
) -> float:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/notifications",
        "query_string": b"",
        "headers": [(b"content-length", str(len(body)).encode())],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    started = time.perf_counter()
    for _ in range(number):
        await read(Request(scope, receive))
    return (time.perf_counter() - started) / number * 1e6


async def main(rounds: int, number: int) -> None:
    for name, body in BODIES.items():
        best = {"before": float("inf"), "now": float("inf")}
        for _ in range(rounds):
            for label, read in (("before", before), ("now", now)):
                best[label] = min(best[label], await per_request_us(read, body, number))
        print(f"{name:22} before {best['before']:6.2f} us   now {best['now']:6.2f} us")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--number", type=int, default=20_000)
    args = parser.parse_args()
    uvloop.run(main(args.rounds, args.number))
