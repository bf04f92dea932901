"""HTTP routes of the directory API (``/api/v1/directory/users``): the same ``_api`` path as
every route (authentication, rate limit, scope, problem answers), then ``DirectoryApi``."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tidings.domain.clients import SCOPE_DIRECTORY_READ, SCOPE_DIRECTORY_WRITE, ApiClient
from tidings_ingest.body import parse_json, read_capped, require_json
from tidings_ingest.directory_api import DirectoryApi
from tidings_ingest.routes import _api
from tidings_ingest.runtime import Runtime


def _json(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), 200, media_type="application/json")


async def _body(request: Request, rt: Runtime) -> Any:
    require_json(request.headers.get("content-type"))
    limits = rt.settings.limits
    raw = await read_capped(request, limits.max_body_bytes, limits.body_timeout_s)
    return parse_json(raw, limits.max_json_depth)


def _directory(request: Request) -> DirectoryApi:
    api: DirectoryApi = request.app.state.directory
    return api


async def _put(request: Request, client: ApiClient, rt: Runtime) -> Response:
    data = await _body(request, rt)
    user_id = request.path_params["user_id"]
    return _json(await _directory(request).put(client, user_id, data))


async def _get(request: Request, client: ApiClient, rt: Runtime) -> Response:
    user_id = request.path_params["user_id"]
    return _json(await _directory(request).get(client, user_id))


async def _delete(request: Request, client: ApiClient, rt: Runtime) -> Response:
    user_id = request.path_params["user_id"]
    return _json(await _directory(request).delete(client, user_id))


async def _batch(request: Request, client: ApiClient, rt: Runtime) -> Response:
    data = await _body(request, rt)
    return _json(await _directory(request).batch(client, data))


async def put_user(request: Request) -> Response:
    return await _api(request, "put_directory_user", SCOPE_DIRECTORY_WRITE, _put)


async def get_user(request: Request) -> Response:
    return await _api(request, "get_directory_user", SCOPE_DIRECTORY_READ, _get)


async def delete_user(request: Request) -> Response:
    return await _api(request, "delete_directory_user", SCOPE_DIRECTORY_WRITE, _delete)


async def batch_users(request: Request) -> Response:
    return await _api(request, "batch_directory_users", SCOPE_DIRECTORY_WRITE, _batch)
