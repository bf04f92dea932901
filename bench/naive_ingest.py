"""Naive ingest: the least an ingest endpoint can do and still be durable, for B3 to compare with.

POST /api/v1/notifications pydantic-validates the body (the README example's shape),
fastavro-encodes it (``schemaless_writer``, schema parsed once) and answers 202 only after ONE
idempotent ``acks=all`` append acknowledged by the broker (``tidings.kafka.producer.AsyncProducer``,
the ingest's own producer and configuration). No auth, no Idempotency-Key, no directory, no
registry, no envelope. Served by uvicorn with the same settings as ``tidings-ingest``
(uvloop/httptools when installed, access log off).

Environment: NAIVE_PORT, NAIVE_TOPIC (a topic of its own: the records are not events),
plus the usual TIDINGS_* settings (bootstrap servers, producer tuning).
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import fastavro
import uvicorn
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.kafka.producer import AsyncProducer
from tidings.settings import Settings

SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "NaiveNotification",
        "namespace": "dev.tidings.bench",
        "fields": [
            {"name": "type", "type": "string"},
            {
                "name": "recipients",
                "type": {
                    "type": "record",
                    "name": "Recipients",
                    "fields": [
                        {"name": "users", "type": {"type": "array", "items": "string"}},
                        {"name": "roles", "type": {"type": "array", "items": "string"}},
                    ],
                },
            },
            {"name": "payload", "type": {"type": "map", "values": "string"}},
        ],
    }
)
TOPIC = os.environ.get("NAIVE_TOPIC", "bench.naive")
KEY = b"bench"
ACCEPTED = b'{"status":"accepted"}'


class Recipients(BaseModel):
    users: list[str] = []
    roles: list[str] = []


class Notification(BaseModel):
    type: str
    recipients: Recipients
    payload: dict[str, str]


class State:
    producer: AsyncProducer


state = State()


async def create(request: Request) -> Response:
    try:
        notification = Notification.model_validate_json(await request.body())
    except ValidationError as exc:
        return Response(exc.json(), 422, media_type="application/json")
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, SCHEMA, notification.model_dump())
    await state.producer.produce(TOPIC, KEY, buf.getvalue())
    return Response(ACCEPTED, 202, media_type="application/json")


@asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    state.producer = AsyncProducer(Settings(), "naive")
    try:
        yield
    finally:
        state.producer.close()


app = Starlette(
    routes=[Route("/api/v1/notifications", create, methods=["POST"])], lifespan=lifespan
)


def main() -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ.get("NAIVE_PORT", "8088")),
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=15,
        server_header=False,
    )


if __name__ == "__main__":
    main()
