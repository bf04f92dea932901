"""HTTP routes. Every API route goes through ``_api``: request id, readiness, authentication,
rate limit (headers on every authenticated answer), scope, then the domain call; errors
become problem responses in one place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tidings import tracing
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE, ApiClient
from tidings.domain.idempotency import parse_header
from tidings.domain.ids import random_hex
from tidings.errors import InvalidIdempotencyKey, RateLimited, TidingsError, Unavailable
from tidings.logs import get_logger
from tidings_ingest.batch import batch_body, batch_items
from tidings_ingest.body import parse_json, read_capped, require_json
from tidings_ingest.listing import parse_query, parse_stream_filters
from tidings_ingest.notifications import Notifications
from tidings_ingest.openapi import openapi_document
from tidings_ingest.problems import internal_error, problem_response
from tidings_ingest.runtime import Runtime
from tidings_ingest.stream import Streams

log = get_logger(__name__)
CREATE_SPAN = "POST /api/v1/notifications"
BATCH_SPAN = "POST /api/v1/notifications/batch"
Inner = Callable[[Request, ApiClient, Runtime], Awaitable[Response]]


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _api(request: Request, route: str, scope: str, inner: Inner) -> Response:
    rt: Runtime = request.app.state.runtime
    request_id = random_hex()
    started = time.perf_counter()
    headers: dict[str, str] = {}
    try:
        if not rt.ready:
            raise Unavailable("the service is starting")
        client = rt.clients.authenticate(_bearer(request))
        decision = rt.limiter.take(client)
        headers.update(decision.headers())
        if not decision.allowed:
            raise RateLimited("rate limit exceeded", retry_after_s=decision.retry_after_s)
        client.require_scope(scope)
        response = await inner(request, client, rt)
        headers.update(getattr(request.state, "ratelimit", {}))  # a batch took more tokens
        response.headers.update(headers)
    except TidingsError as exc:
        headers.update(getattr(request.state, "ratelimit", {}))
        code = exc.code if exc.status < 500 or exc.status == 503 else "internal_error"
        if code == "internal_error":
            log.error("internal_error", request_id=request_id, error=repr(exc))
        rt.metrics.rejected_by(code).inc()
        retry = rt.settings.ingest.retry_after_s
        response = problem_response(exc, request_id, retry_after_s=retry, headers=headers)
    except Exception:
        log.exception("internal_error", request_id=request_id, route=route)
        rt.metrics.rejected_by("internal_error").inc()
        response = internal_error(request_id, headers)
    response.headers["X-Request-ID"] = request_id
    rt.metrics.answered(route, request.method, response.status_code, time.perf_counter() - started)
    return response


async def _create(request: Request, client: ApiClient, rt: Runtime) -> Response:
    rt.backpressure.check(client.tenant)  # the last sample: no broker call here
    key = parse_header(request.headers.get("idempotency-key"))
    require_json(request.headers.get("content-type"))
    limits = rt.settings.limits
    raw = await read_capped(request, limits.max_body_bytes, limits.body_timeout_s)
    data = parse_json(raw, rt.settings.limits.max_json_depth)
    answer = await request.app.state.notifications.create(client, data, key)
    headers = {"Location": answer.location}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(answer.body, answer.status, headers, media_type="application/json")


async def _batch(request: Request, client: ApiClient, rt: Runtime) -> Response:
    rt.backpressure.check(client.tenant)  # the last sample: no broker call here
    if request.headers.get("idempotency-key") is not None:
        raise InvalidIdempotencyKey("a batch takes a key per item (idempotency_key), not a header")
    require_json(request.headers.get("content-type"))
    limits = rt.settings.limits
    raw = await read_capped(request, limits.max_batch_body_bytes, limits.body_timeout_s)
    data = parse_json(raw, limits.max_json_depth)
    count = len(batch_items(data, limits.max_batch_items))
    if count > 1:  # a batch costs one token per item; _api took the first
        decision = rt.limiter.take(client, count - 1, held=1)
        request.state.ratelimit = decision.headers()
        if not decision.allowed:
            raise RateLimited(
                f"a batch of {count} items takes {count} tokens",
                retry_after_s=decision.retry_after_s,
            )
    entries = await request.app.state.batches.create(client, data)
    return Response(batch_body(entries), 202, media_type="application/json")


async def _status(request: Request, client: ApiClient, rt: Runtime) -> Response:
    notifications: Notifications = request.app.state.notifications
    view = await notifications.status(client, request.path_params["event_id"])
    return Response(orjson.dumps(view), 200, media_type="application/json")


async def _traced_write(request: Request, span_name: str, route: str, inner: Inner) -> Response:
    if not tracing.ENABLED:
        return await _api(request, route, SCOPE_WRITE, inner)
    # Continues the caller's traceparent; every event carries this span's context on.
    with tracing.server_span(span_name, request.headers) as span:
        response = await _api(request, route, SCOPE_WRITE, inner)
        span.set_attribute("http.response.status_code", response.status_code)
        return response


async def create_notification(request: Request) -> Response:
    """Reached from ``front.FrontDoor``, which sheds overload and counts what is in flight."""
    return await _traced_write(request, CREATE_SPAN, "create_notification", _create)


async def _list(request: Request, client: ApiClient, rt: Runtime) -> Response:
    query = parse_query(request.query_params)
    page = await request.app.state.listing.page(client, query)
    return Response(orjson.dumps(page), 200, media_type="application/json")


async def list_notifications(request: Request) -> Response:
    return await _api(request, "list_notifications", SCOPE_READ, _list)


async def _stream(request: Request, client: ApiClient, rt: Runtime) -> Response:
    filters = parse_stream_filters(request.query_params)
    if not rt.state_feed.ready:
        raise Unavailable("the state feed is starting")
    streams: Streams = request.app.state.streams
    body = streams.open(client, filters, request.headers.get("last-event-id"))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(body, 200, headers, media_type="text/event-stream")


async def stream_notifications(request: Request) -> Response:
    return await _api(request, "stream_notifications", SCOPE_READ, _stream)


async def create_batch(request: Request) -> Response:
    """Reached from ``front.FrontDoor``, as ``create_notification`` is; one span for the
    request, its context on every item's event."""
    return await _traced_write(request, BATCH_SPAN, "create_batch", _batch)


async def get_notification(request: Request) -> Response:
    return await _api(request, "get_notification", SCOPE_READ, _status)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    waiting = rt.pending()
    if not waiting and not await asyncio.to_thread(rt.producer.broker_answers, 2.0):
        waiting.append("broker")
    rt.metrics.ready.set(0 if waiting else 1)
    if waiting:
        retry = str(rt.settings.ingest.retry_after_s)
        return JSONResponse({"status": "unready", "waiting": waiting}, 503, {"Retry-After": retry})
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document(request.app.state.runtime.settings))
