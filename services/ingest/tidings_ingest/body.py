"""Reading a request body: content type, a size cap enforced before and while reading, and
strict JSON.

Strict means: UTF-8 only (invalid bytes and lone surrogates are 400), no NaN/Infinity, no
duplicate object keys (parsers disagree on which value wins, so an ambiguous body is refused
rather than guessed), and nesting bounded by ``limits.max_json_depth``.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any, ClassVar

import orjson
from starlette.requests import ClientDisconnect, Request

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
    (408) when it does not arrive whole within ``timeout_s`` (a slow-loris upload, cut off
    at most ``CutOffs.TICK_S`` late)."""
    task = asyncio.current_task()
    if task is None:  # not in a task: nothing to cancel, nobody to cut off
        return await _read_capped(request, max_bytes)
    cutoffs = CutOffs.of(asyncio.get_running_loop())
    cutoffs.watch(task, timeout_s)
    try:
        return await _read_capped(request, max_bytes)
    except asyncio.CancelledError:
        if cutoffs.release(task):  # our cancel, not the server's: taken back, answered 408
            task.uncancel()
            raise RequestTimeout(f"the body did not arrive within {timeout_s:g} s") from None
        raise
    finally:
        cutoffs.release(task)


class CutOffs:
    """The body reads in progress on one event loop and when each must end, swept by one
    timer: a timer per request (``asyncio.timeout``) was 4.8 % of the ingest loop's samples
    at 1,000 creates/s, and almost every body is whole before its read starts."""

    TICK_S = 0.25
    _loops: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CutOffs]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[asyncio.Task[Any], float] = {}
        self._cut: set[asyncio.Task[Any]] = set()
        self._sweeping = False

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> CutOffs:
        cutoffs = cls._loops.get(loop)
        if cutoffs is None:
            cutoffs = cls._loops[loop] = cls(loop)
        return cutoffs

    def watch(self, task: asyncio.Task[Any], timeout_s: float) -> None:
        self._due[task] = self._loop.time() + timeout_s
        if not self._sweeping:
            self._sweeping = True
            self._loop.call_later(self.TICK_S, self._sweep)

    def release(self, task: asyncio.Task[Any]) -> bool:
        """Stop watching ``task``: was it cut off (is its cancellation ours)?"""
        self._due.pop(task, None)
        if task in self._cut:
            self._cut.discard(task)
            return True
        return False

    def _sweep(self) -> None:
        now = self._loop.time()
        for task, due in list(self._due.items()):
            if due <= now:
                del self._due[task]
                self._cut.add(task)
                task.cancel()
        if self._due:
            self._loop.call_later(self.TICK_S, self._sweep)
        else:
            self._sweeping = False


async def _read_capped(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise MalformedRequest("invalid Content-Length") from None
        if size > max_bytes:
            raise PayloadTooLarge(f"the body exceeds {max_bytes} bytes")
    # ASGI messages read straight from ``receive``: ``request.stream()`` is an async
    # generator, and creating and finalising one per request cost more than the read.
    receive = request.receive
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > max_bytes:
            raise PayloadTooLarge(f"the body exceeds {max_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
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


def key_count(value: Any) -> int:
    """Object keys in a parsed JSON value, nested ones included."""
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            count += len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def parse_json(raw: bytes, max_depth: int) -> Any:
    """orjson rejects invalid UTF-8, surrogates, NaN and depth > 1024; then our own depth
    bound; then duplicate keys, which orjson merges.

    Both checks count bytes first. Every level of nesting opens a bracket, so a body with no
    more brackets than ``max_depth`` is not walked. Every key in the text is followed by a
    colon and other colons are inside strings, so keys parsed == colons in the text proves
    that no key was merged; otherwise (a colon in a string, or a real duplicate) the stdlib
    parser (C scanner) decides."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedRequest("the body is not valid UTF-8 JSON") from None
    if raw.count(b"{") + raw.count(b"[") > max_depth and depth_of(value) > max_depth:
        raise MalformedRequest(f"JSON nested deeper than {max_depth} levels")
    colons = raw.count(b":")
    if colons and key_count(value) != colons:
        json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    return value
