"""Hostile requests, each refused quickly with its documented code, nothing appended, the
service still answering: oversized bodies, deep nesting, huge recipient lists, slow uploads,
invalid UTF-8, duplicate keys and rules designed to be expensive."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.support.hostile import BODY_TIMEOUT_S, Offsets, assert_documented
from tests.support.ingest import EXAMPLE, IngestProcess
from tidings.ops.admin import CreatedClient

URL = "/api/v1/notifications"
QUICK_S = 2.0
JSON = {"Content-Type": "application/json"}


def body(**recipients: Any) -> bytes:
    return orjson.dumps({**EXAMPLE, "recipients": recipients})


def rule_chain(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"attribute": "department", "equals": "legal"}
    for _ in range(depth - 1):
        rule = {"not": rule}
    return rule


def nested_objects(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"a": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


HOSTILE: dict[str, tuple[bytes, int, str]] = {
    "invalid_utf8": (b'{"type": "content.approved\xff\xfe"}', 400, "malformed_request"),
    "lone_surrogate": (b'{"type": "\\ud800"}', 400, "malformed_request"),
    "duplicate_keys": (
        b'{"type": "content.approved", "type": "x", "recipients": {"users": ["u-1"]},'
        b' "payload": {"content_id": "c"}}',
        400,
        "malformed_request",
    ),
    "duplicate_nested_keys": (
        b'{"type": "content.approved", "recipients": {"users": ["u-1"], "users": ["u-2"]},'
        b' "payload": {"content_id": "c"}}',
        400,
        "malformed_request",
    ),
    "nan": (b'{"type": NaN}', 400, "malformed_request"),
    "nesting_100k": (b"[" * 100_000 + b"]" * 100_000, 400, "malformed_request"),
    "nesting_1m": (b"[" * 1_000_000 + b"]" * 1_000_000, 413, "payload_too_large"),
    "nesting_2000": (b"[" * 2000 + b"]" * 2000, 400, "malformed_request"),
    "nesting_33_objects": (
        orjson.dumps(
            {**EXAMPLE, "payload": {"content_id": "c", "x": eval("{'a':" * 31 + "1" + "}" * 31)}}
        ),
        400,
        "malformed_request",
    ),
    "users_1001": (body(users=[f"u-{i}" for i in range(1001)]), 422, "invalid_recipients"),
    "users_100k": (body(users=[f"u-{i}" for i in range(100_000)]), 413, "payload_too_large"),
    "payload_200k": (
        orjson.dumps({**EXAMPLE, "payload": {"content_id": "c" * 200_000}}),
        413,
        "payload_too_large",
    ),
    "rule_depth_7": (body(rules=[rule_chain(7)]), 422, "invalid_recipients"),
    "rule_nodes_65": (
        body(rules=[{"any": [{"attribute": f"a{i}", "exists": True} for i in range(64)]}]),
        422,
        "invalid_recipients",
    ),
    "rules_17": (
        body(rules=[{"attribute": "department", "exists": True}] * 17),
        422,
        "invalid_recipients",
    ),
    "rule_in_101_values": (
        body(rules=[{"attribute": "department", "in": [f"v{i}" for i in range(101)]}]),
        422,
        "invalid_recipients",
    ),
    "rule_value_257_chars": (
        body(rules=[{"attribute": "department", "equals": "v" * 257}]),
        422,
        "invalid_recipients",
    ),
    "rule_unknown_operator": (
        body(rules=[{"attribute": "department", "regex": "(a+)+$"}]),
        422,
        "invalid_recipients",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_body_is_refused_quickly_and_appends_nothing(
    http: httpx.Client, offsets: Offsets, name: str
) -> None:
    raw, status, code = HOSTILE[name]
    before = offsets.settled()
    started = time.monotonic()
    r = http.post(URL, content=raw, headers=JSON)
    took = time.monotonic() - started
    assert (r.status_code, r.json()["code"]) == (status, code), r.text[:300]
    assert_documented(r)
    assert took < QUICK_S, f"{name} took {took:.2f}s"
    assert offsets.now() == before


def test_expensive_rule_at_the_limits_is_accepted_quickly(http: httpx.Client) -> None:
    """The most a client may ask for (16 rules, 64 nodes, 100 long values per ``in``) costs
    the endpoint nothing noticeable: evaluation happens later, bounded by the node limit."""
    values = [f"{i:03d}" + "v" * 37 for i in range(100)]  # the body stays under 256 KiB
    leaves = [{"attribute": f"a{i}", "in": values} for i in range(8)]
    rules = [{"any": leaves[:3]} for _ in range(16)]  # 16 x 4 = 64 nodes
    started = time.monotonic()
    r = http.post(URL, content=body(rules=rules), headers=JSON)
    assert r.status_code == 202, r.text[:300]
    assert time.monotonic() - started < QUICK_S


def raw_request(port: int, head: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head)
    return sock


def read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def headers_for(ingest: IngestProcess, secret: str, length: int) -> bytes:
    return (
        f"POST {URL} HTTP/1.1\r\nHost: 127.0.0.1:{ingest.port}\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def test_declared_10mb_body_is_refused_before_it_is_sent(
    ingest: IngestProcess, client: CreatedClient, offsets: Offsets
) -> None:
    before = offsets.settled()
    started = time.monotonic()
    with raw_request(ingest.port, headers_for(ingest, client.secret, 10 * 1024 * 1024)) as sock:
        assert read_status(sock) == 413
    assert time.monotonic() - started < QUICK_S
    assert offsets.now() == before


def test_streamed_body_without_length_is_cut_at_the_limit(
    ingest: IngestProcess, client: CreatedClient, offsets: Offsets
) -> None:
    """Chunked, no Content-Length: the 413 comes while the client is still sending."""
    head = headers_for(ingest, client.secret, 0).replace(
        b"Content-Length: 0", b"Transfer-Encoding: chunked"
    )
    sent = [0]
    before = offsets.settled()
    with raw_request(ingest.port, head) as sock:

        def stream() -> None:
            chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
            with contextlib.suppress(OSError):
                while sent[0] < 50 * 1024 * 1024:
                    sock.sendall(chunk)
                    sent[0] += 0x10000

        sender = threading.Thread(target=stream, daemon=True)
        sender.start()
        status = read_status(sock)
        sent_at_answer = sent[0]
    assert status == 413
    assert sent_at_answer < 10 * 1024 * 1024, "the server kept reading far past its limit"
    assert offsets.now() == before


@pytest.fixture
def slow_uploads(ingest: IngestProcess, client: CreatedClient) -> Iterator[list[socket.socket]]:
    """Twenty connections that declared 1,000 bytes and trickle one byte a second."""
    socks = [
        raw_request(ingest.port, headers_for(ingest, client.secret, 1000) + b"{") for _ in range(20)
    ]
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.send(b" ")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    yield socks
    stop.set()
    thread.join(5)
    for sock in socks:
        sock.close()


def test_slow_uploads_are_cut_off_with_408_and_block_nobody(
    http: httpx.Client, offsets: Offsets, slow_uploads: list[socket.socket]
) -> None:
    before = offsets.settled()
    started = time.monotonic()
    ok = http.post(URL, json=EXAMPLE)  # served while twenty uploads dribble
    assert ok.status_code == 202
    assert time.monotonic() - started < QUICK_S
    after_ok = offsets.settled()
    statuses = [read_status(sock) for sock in slow_uploads]
    assert statuses == [408] * len(slow_uploads)
    assert time.monotonic() - started < BODY_TIMEOUT_S + 3
    assert offsets.now() == after_ok != before


def test_service_survived_everything(ingest: IngestProcess, http: httpx.Client) -> None:
    assert ingest.proc is not None
    assert ingest.proc.poll() is None
    assert http.get("/healthz").status_code == 200
    assert "internal_error" not in ingest.log_path.read_text(errors="replace")
