"""The outermost layer of the app: where creates and batches enter.

One the process cannot take now (``overload.Admission``) is answered 503 with
``Retry-After`` before routing, authentication or reading its body. One it takes is handed
straight to its route, past Starlette's exception middleware and router, and counted in
flight while it runs. Those layers cost about 100 µs of the 600 µs a create took (py-spy
at wrk c=64: 21 % of the event loop's samples), and a create needs neither: ``routes._api``
answers every error itself. Every other request is routed as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tidings.domain.ids import random_hex
from tidings.errors import Unavailable
from tidings_ingest import routes
from tidings_ingest.problems import problem_response

if TYPE_CHECKING:
    from tidings_ingest.runtime import Runtime

CREATES: dict[str, Callable[[Request], Awaitable[Response]]] = {
    "/api/v1/notifications": routes.create_notification,
    "/api/v1/notifications/batch": routes.create_batch,
}


class FrontDoor:
    """ASGI middleware: sheds or serves ``POST`` on the create paths, routes the rest."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self._app, self._rt = app, runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = CREATES.get(scope["path"]) if scope["type"] == "http" else None
        if route is None or scope["method"] != "POST":
            await self._app(scope, receive, send)
            return
        rt = self._rt
        if not rt.admission.admits(rt.in_flight):
            rt.metrics.rejected_by("unavailable").inc()
            exc = Unavailable("the service is overloaded, retry later")
            retry_s = rt.settings.ingest.retry_after_s
            shed = problem_response(exc, random_hex(), retry_after_s=retry_s)
            await shed(scope, receive, send)
            return
        rt.in_flight += 1
        try:
            response = await route(Request(scope, receive, send))
        finally:
            rt.in_flight -= 1
        await response(scope, receive, send)
