"""The front door in-process (no broker): creates and batches are shed or served before
routing; every other request is routed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tests.support.runtime_parts import AUTH, runtime
from tidings.domain.clients import ApiClient
from tidings.settings import Settings
from tidings_ingest.front import FrontDoor
from tidings_ingest.notifications import Answer

BODY = {"type": "content.approved", "recipients": {"users": ["u-1"]}, "payload": {}}


class Recording:
    """Answers every create 202 and notes how many creates were in flight meanwhile."""

    def __init__(self, runtime: Any) -> None:
        self.runtime, self.seen_in_flight = runtime, -1

    async def create(self, client: ApiClient, data: Any, key: str | None) -> Answer:
        self.seen_in_flight = self.runtime.in_flight
        return Answer(202, b'{"id": "e-1"}', "e-1")


async def routed(request: Request) -> Response:
    return PlainTextResponse("routed")


def app(in_flight: int = 0, admission: Any = None) -> Starlette:
    parts = runtime(in_flight=in_flight, admission=admission)
    # No create route in the table: a create answered 202 was served by the front door.
    starlette = Starlette(
        routes=[Route("/api/v1/notifications", routed, methods=["GET"])],
        middleware=[Middleware(FrontDoor, runtime=parts)],  # type: ignore[arg-type]
    )
    starlette.state.runtime = parts
    starlette.state.notifications = Recording(parts)
    return starlette


async def call(starlette: Starlette, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=starlette)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path, **kwargs)


async def test_a_create_is_served_without_the_router_and_counted_in_flight_meanwhile() -> None:
    starlette = app()
    r = await call(starlette, "POST", "/api/v1/notifications", json=BODY, headers=AUTH)
    assert r.status_code == 202
    assert r.headers["location"] == "/api/v1/notifications/e-1"
    assert "x-request-id" in r.headers
    assert "ratelimit" in r.headers
    assert starlette.state.notifications.seen_in_flight == 1
    assert starlette.state.runtime.in_flight == 0


async def test_other_methods_and_paths_are_routed() -> None:
    starlette = app()
    assert (await call(starlette, "GET", "/api/v1/notifications", headers=AUTH)).text == "routed"
    assert (await call(starlette, "POST", "/api/v1/elsewhere", json={})).status_code == 404


async def test_create_beyond_max_in_flight_is_503_at_once() -> None:
    starlette = app(in_flight=Settings().ingest.max_in_flight)
    r = await call(starlette, "POST", "/api/v1/notifications", json=BODY, headers=AUTH)
    assert (r.status_code, r.json()["code"]) == (503, "unavailable")
    assert "retry-after" in r.headers
    assert starlette.state.notifications.seen_in_flight == -1


async def test_create_beyond_what_an_overloaded_loop_takes_is_503_at_once() -> None:
    lowered = SimpleNamespace(admits=lambda in_flight: in_flight < 4)
    starlette = app(in_flight=4, admission=lowered)
    for path in ("/api/v1/notifications", "/api/v1/notifications/batch"):
        r = await call(starlette, "POST", path, json=BODY, headers=AUTH)
        assert (r.status_code, r.json()["code"]) == (503, "unavailable")
        assert "retry-after" in r.headers
