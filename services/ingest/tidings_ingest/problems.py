"""RFC 9457 problem responses: the one place errors become HTTP (docs/errors.md).

Only our own errors carry their detail to the client; anything else is a 500 whose body
names nothing but the request id (the exception goes to the log).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson
from starlette.responses import Response

from tidings.errors import (
    BacklogExceeded,
    FieldError,
    RateLimited,
    TidingsError,
    Unauthenticated,
)

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem body."""

    status: int
    code: str
    title: str
    detail: str
    request_id: str
    errors: list[FieldError] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "type": f"https://tidings.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "request_id": self.request_id,
        }
        if self.errors:
            body["errors"] = [{"path": e.path, "message": e.message} for e in self.errors]
        return body


def problem_from(error: TidingsError, request_id: str) -> Problem:
    return Problem(
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        request_id=request_id,
        errors=list(error.errors),
    )


def problem_response(
    error: TidingsError,
    request_id: str,
    *,
    retry_after_s: int,
    headers: Mapping[str, str] | None = None,
) -> Response:
    out = dict(headers or {})
    out["X-Request-ID"] = request_id
    if isinstance(error, Unauthenticated):
        out["WWW-Authenticate"] = 'Bearer realm="tidings"'
    if isinstance(error, RateLimited | BacklogExceeded):  # computed for this very answer
        out["Retry-After"] = str(max(1, error.retry_after_s))
    elif error.status == 503:
        out["Retry-After"] = str(retry_after_s)
    if error.status >= 500 and error.status != 503:
        return internal_error(request_id, out)
    body = problem_from(error, request_id).as_dict()
    return Response(orjson.dumps(body), error.status, out, media_type=PROBLEM_JSON)


def internal_error(request_id: str, headers: Mapping[str, str] | None = None) -> Response:
    problem = Problem(500, "internal_error", "Internal error", "Internal error", request_id)
    return Response(
        orjson.dumps(problem.as_dict()), 500, dict(headers or {}), media_type=PROBLEM_JSON
    )


def route_problem(status: int, request_id: str) -> Response:
    """404/405 for paths and methods the API does not have (Starlette's own HTTPException)."""
    code, title = {
        404: ("not_found", "Not found"),
        405: ("method_not_allowed", "Method not allowed"),
    }.get(status, ("malformed_request", "Malformed request"))
    problem = Problem(status, code, title, title, request_id)
    return Response(
        orjson.dumps(problem.as_dict()),
        status,
        {"X-Request-ID": request_id},
        media_type=PROBLEM_JSON,
    )
