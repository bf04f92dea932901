"""Baseline for the ingest benchmark: a bare Starlette endpoint that only reads and parses the
body and answers 202. Served by uvicorn with the same settings as ``tidings-ingest``."""

from __future__ import annotations

import os

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(b'{"status":"accepted"}', 202, media_type="application/json")


app = Starlette(routes=[Route("/api/v1/notifications", accept, methods=["POST"])])


def main() -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("BARE_PORT", "8089")),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
        server_header=False,
    )


if __name__ == "__main__":
    main()
