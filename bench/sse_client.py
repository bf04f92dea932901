"""The SSE side of B10, in a process of its own: ``streams`` concurrent
``GET /api/v1/notifications/stream`` on plain non-blocking sockets (one epoll loop, no HTTP
library), each stream's ``id: <partition>-<offset>`` lines found with bytes operations.

The arrival time of each change is the kernel's receive timestamp of the bytes that carried
it (``SO_TIMESTAMPNS``: stamped when the server's write reached this socket), so a client
short of CPU on a shared machine delays only its own reading, not the measurement. The time
the loop read them is kept too: read minus arrival is the client's own lag (``read_lag`` in
B10's result). One Python process running 1,000 httpx streams with ``aiter_lines``, timing
each line when its task got to it, ran its event loop up to 0.8 s late (2.5-3.5 s of CPU
for 30 changes) and counted that as the server's latency.

Runs at nice -10 where allowed, as ``bench.openloop`` does. Talks to its parent over pipes:
reads one JSON line (``host``, ``port``, ``secret``, ``streams``, ``changes``, optional
``timeout_s`` and ``raise_priority``); prints ``ready <opened> <failed>`` once every stream
answered or failed; ends when every open stream has ``changes`` ids, on a ``stop`` line (or
end) on stdin, or after ``timeout_s``; then prints one JSON line: per stream
``[[offset, arrived_unix_s, read_unix_s], …]``, its CPU and whether its priority was raised.

    python -m bench.sse_client < config.json
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import sys
import time
from typing import Any

from bench.openloop import raise_priority

# Linux: SO_TIMESTAMPNS (socket.SO_TIMESTAMPNS is not exported by every Python build).
SO_TIMESTAMPNS = int(getattr(socket, "SO_TIMESTAMPNS", 35))
CMSG_SPACE = socket.CMSG_SPACE(16)
HEADER_END = b"\r\n\r\n"
ID_LINE = b"\nid: "  # an SSE id line; chunk framing ends every size line with \r\n
RETRY = b"retry:"


class Stream:
    __slots__ = ("buf", "got", "headers_done", "open", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.headers_done = False
        self.open = False  # the server's ``retry:`` line arrived: subscribed
        self.got: list[tuple[int, float, float]] = []


class Client:
    def __init__(self, config: dict[str, Any]) -> None:
        self.changes = int(config["changes"])
        self.request = (
            f"GET /api/v1/notifications/stream HTTP/1.1\r\n"
            f"Host: {config['host']}:{config['port']}\r\n"
            f"Authorization: Bearer {config['secret']}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
        self.address = (str(config["host"]), int(config["port"]))
        self.count = int(config["streams"])
        self.timeout_s = float(config.get("timeout_s", 180))
        self.selector = selectors.DefaultSelector()
        self.streams: list[Stream] = []
        self.opened = 0
        self.failed = 0
        self.live = 0  # open streams still short of ``changes`` ids
        self.stopped = False
        self.cpu_ready_s = 0.0

    def connect(self) -> None:
        for _ in range(self.count):
            try:
                sock = socket.create_connection(self.address, timeout=30)
            except OSError:
                self.failed += 1
                continue
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.sendall(self.request)
            sock.setblocking(False)
            stream = Stream(sock)
            self.streams.append(stream)
            self.selector.register(sock, selectors.EVENT_READ, stream)
        self.live = len(self.streams)

    def _close(self, stream: Stream, *, failed: bool = False) -> None:
        if stream.sock.fileno() >= 0:
            self.selector.unregister(stream.sock)
            stream.sock.close()
            self.live -= 1
            self.failed += failed

    def _read(self, stream: Stream) -> None:
        try:
            data, ancillary, _, _ = stream.sock.recvmsg(65536, CMSG_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(stream, failed=not stream.open)
            return
        read_at = time.time()
        arrived = read_at  # without a timestamp: when read (late, never early)
        # A read holding several changes carries the arrival of its last bytes: late too.
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack("qq", value[:16])
                arrived = seconds + nanoseconds / 1e9
        if not data:  # the server ended the stream
            self._close(stream, failed=not stream.open)
            return
        buf = stream.buf + data
        if not stream.headers_done:
            end = buf.find(HEADER_END)
            if end < 0:
                stream.buf = buf
                return
            if not buf.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
                self._close(stream, failed=True)
                return
            stream.headers_done = True
            buf = buf[end + 2 :]  # keep the \r\n: the first chunk's line starts after it
        if not stream.open and RETRY in buf:
            stream.open = True
            self.opened += 1
        position = 0
        while (start := buf.find(ID_LINE, position)) >= 0:
            end = buf.find(b"\n", start + 5)
            if end < 0:
                break
            offset = buf[start + 5 : end].rpartition(b"-")[2]
            stream.got.append((int(offset), arrived, read_at))
            position = end
        last = buf.rfind(b"\n", position)  # an id line may continue in the next read
        stream.buf = buf[last:] if last >= 0 else buf[position:]
        if len(stream.got) >= self.changes:
            self._close(stream)

    def _wait(self, until: float, done: Any) -> None:
        while not done() and not self.stopped:
            left = until - time.monotonic()
            if left <= 0:
                return
            for key, _ in self.selector.select(min(left, 1.0)):
                if key.data is None:  # the parent's ``stop`` line, or its end
                    os.read(key.fd, 4096)
                    self.stopped = True
                else:
                    self._read(key.data)

    def run(self) -> None:
        self.connect()
        deadline = time.monotonic() + self.timeout_s
        self._wait(deadline, lambda: self.opened + self.failed >= self.count)
        print(f"ready {self.opened} {self.failed}", flush=True)
        self.cpu_ready_s = cpu_s()
        self.selector.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
        self._wait(deadline, lambda: self.live <= 0)
        for stream in self.streams:
            self._close(stream)


def cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def main() -> None:
    config = json.loads(sys.stdin.readline())
    raised = raise_priority() if config.get("raise_priority", True) else False
    client = Client(config)
    client.run()
    used = cpu_s()
    print(
        json.dumps(
            {
                "opened": client.opened,
                "failed": client.failed,
                "streams": [stream.got for stream in client.streams],
                "cpu_s": round(used, 3),  # start-up and opening included
                "cpu_after_ready_s": round(used - client.cpu_ready_s, 3),
                "priority_raised": raised,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
