"""The Starlette application: routes, problem handlers, and the runtime's life cycle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tidings.domain.ids import random_hex
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings_ingest import directory_routes as directory
from tidings_ingest import routes
from tidings_ingest.batch import Batches
from tidings_ingest.directory_api import DirectoryApi
from tidings_ingest.front import FrontDoor
from tidings_ingest.listing import Listing
from tidings_ingest.notifications import Notifications
from tidings_ingest.problems import internal_error, route_problem
from tidings_ingest.runtime import Runtime
from tidings_ingest.stream import Streams

log = get_logger(__name__)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return route_problem(status, random_hex())


async def _server_error(request: Request, exc: Exception) -> Response:
    request_id = random_hex()
    log.error("unhandled_error", request_id=request_id, error=repr(exc))
    return internal_error(request_id)


def create_app(settings: Settings, runtime: Runtime | None = None) -> Starlette:
    """``runtime`` given: the caller owns its life cycle (tests); else the app starts it."""
    owned = runtime is None
    rt = runtime or Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owned:
            rt.start()
        rt.admission.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            if owned:  # in-flight requests are done; commit what is queued, then stop
                await asyncio.to_thread(rt.stop)
                log.info("ingest_stopped")

    app = Starlette(
        # The whole API, one place. FrontDoor serves POST creates and batches before the
        # router (front.py); their entries still give every other method its 405 and Allow.
        routes=[
            Route("/api/v1/notifications", routes.create_notification, methods=["POST"]),
            Route("/api/v1/notifications", routes.list_notifications, methods=["GET"]),
            Route("/api/v1/notifications/batch", routes.create_batch, methods=["POST"]),
            Route("/api/v1/notifications/stream", routes.stream_notifications, methods=["GET"]),
            Route("/api/v1/notifications/{event_id}", routes.get_notification, methods=["GET"]),
            Route("/api/v1/directory/users/batch", directory.batch_users, methods=["POST"]),
            Route("/api/v1/directory/users/{user_id}", directory.put_user, methods=["PUT"]),
            Route("/api/v1/directory/users/{user_id}", directory.get_user, methods=["GET"]),
            Route("/api/v1/directory/users/{user_id}", directory.delete_user, methods=["DELETE"]),
            Route("/healthz", routes.healthz, methods=["GET"]),
            Route("/readyz", routes.readyz, methods=["GET"]),
            Route("/metrics", routes.metrics, methods=["GET"]),
            Route("/openapi.json", routes.openapi, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        middleware=[Middleware(FrontDoor, runtime=rt)],
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.notifications = Notifications(rt)
    app.state.batches = Batches(rt, rt.transactions)
    app.state.listing = Listing(rt, app.state.notifications.visible)
    app.state.streams = Streams(rt, rt.state_feed, app.state.notifications.visible)
    app.state.directory = DirectoryApi(rt)
    return app
