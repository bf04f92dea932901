"""The route wrapper in-process (no broker): order of checks and the 500 answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware

from tests.support.runtime_parts import AUTH, runtime
from tidings_ingest.front import FrontDoor


class Exploding:
    async def create(self, *args: Any) -> None:
        raise RuntimeError("boom at kafka-1:9092")


def app(ready: bool = True) -> Starlette:
    parts = runtime(ready=ready)
    # Creates enter through the front door, as in the app; the route table is not used.
    starlette = Starlette(middleware=[Middleware(FrontDoor, runtime=parts)])  # type: ignore[arg-type]
    starlette.state.runtime = parts
    starlette.state.notifications = Exploding()
    return starlette


async def post(starlette: Starlette, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=starlette)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/api/v1/notifications", **kwargs)


async def test_unexpected_exception_is_500_with_only_the_request_id() -> None:
    r = await post(app(), json={}, headers=AUTH)
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "internal_error"
    assert body["detail"] == "Internal error"
    assert body["request_id"] == r.headers["x-request-id"]
    assert "boom" not in r.text
    assert "9092" not in r.text


async def test_not_ready_is_503_before_authentication() -> None:
    r = await post(app(ready=False), json={})
    assert (r.status_code, r.json()["code"]) == (503, "unavailable")
    assert "retry-after" in r.headers


async def test_authentication_comes_before_body_checks() -> None:
    r = await post(app(), content=b"not json", headers={"Content-Type": "text/plain"})
    assert r.status_code == 401


@pytest.mark.parametrize("header", ["Basic abc", "Bearer ", "bearer tds_c1.wrong"])
async def test_anything_but_the_right_bearer_is_401(header: str) -> None:
    r = await post(app(), json={}, headers={"Authorization": header})
    assert r.status_code == 401


async def test_malformed_idempotency_key_is_400_before_the_body_is_read() -> None:
    r = await post(app(), content=b"{", headers={**AUTH, "Idempotency-Key": ""})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_idempotency_key")
