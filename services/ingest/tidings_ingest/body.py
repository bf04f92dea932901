"""Reading a request body: content type, a size cap enforced before and while reading, and
strict JSON.

Strict means: UTF-8 only (invalid bytes and lone surrogates are 400), no NaN/Infinity, no
duplicate object keys (parsers disagree on which value wins, so an ambiguous body is refused
rather than guessed), and nesting bounded by ``limits.max_json_depth``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
from starlette.requests import Request

from tidings.errors import MalformedRequest, PayloadTooLarge, RequestTimeout, UnsupportedMediaType

JSON_TYPES = ("application/json",)


def require_json(content_type: str | None) -> None:
    """415 unless the media type is application/json or a ``+json`` type, charset utf-8 if given."""
    if not content_type:
        raise UnsupportedMediaType("send the body as application/json")
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    if not (media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))):
        raise UnsupportedMediaType("send the body as application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise UnsupportedMediaType("JSON bodies must be UTF-8")


async def read_capped(request: Request, max_bytes: int, timeout_s: float = 10.0) -> bytes:
    """The body, refusing (413) by Content-Length before reading and while streaming, and
    (408) when it does not arrive whole within ``timeout_s`` (a slow-loris upload)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_capped(request, max_bytes)
    except TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {timeout_s:g} s") from None


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedRequest("invalid Content-Length") from None
        if size > max_bytes:
            raise PayloadTooLarge(f"the body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLarge(f"the body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise MalformedRequest(f"duplicate key {dup[:64]!r} in a JSON object")
    return out


def depth_of(value: Any) -> int:
    """Nesting depth of a parsed JSON value (iterative: no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in node)
    return deepest


def parse_json(raw: bytes, max_depth: int) -> Any:
    """orjson rejects invalid UTF-8, surrogates, NaN and depth > 1024; then our own depth bound;
    then the stdlib parser (C scanner) only to detect duplicate keys, which orjson merges."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedRequest("the body is not valid UTF-8 JSON") from None
    if depth_of(value) > max_depth:
        raise MalformedRequest(f"JSON nested deeper than {max_depth} levels")
    if b"{" in raw:
        json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    return value
