"""An SSE client of ``GET /api/v1/notifications/stream`` for the ingest tests."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from tests.support.ingest import IngestProcess

URL = "/api/v1/notifications"


@dataclass(frozen=True)
class Sse:
    id: str
    data: dict[str, Any]

    @property
    def offset(self) -> int:
        return int(self.id.split("-")[1])


class Stream:
    """An SSE client on a thread of its own: events and comment lines as they arrive."""

    def __init__(self, ingest: IngestProcess, secret: str, **headers: str) -> None:
        self.events: queue.Queue[Sse] = queue.Queue()
        self.comments: list[str] = []
        self.opened = threading.Event()
        self.status = 0
        self._client = ingest.client(secret)
        self._headers = headers
        self._params: dict[str, str] = {}
        self._thread = threading.Thread(target=self._read, daemon=True)

    def open(self, **params: str) -> Stream:
        self._params = params
        self._thread.start()
        assert self.opened.wait(30), "the stream did not open"
        return self

    def _read(self) -> None:
        try:
            with self._client.stream(
                "GET", f"{URL}/stream", params=self._params, headers=self._headers, timeout=None
            ) as r:
                self.status = r.status_code
                fields: dict[str, str] = {}
                for line in r.iter_lines():
                    if line.startswith("retry:"):
                        self.opened.set()  # subscribed: the body began after it
                    elif line.startswith(":"):
                        self.comments.append(line)
                    elif line == "" and "data" in fields:
                        self.events.put(Sse(fields["id"], orjson.loads(fields["data"])))
                        fields = {}
                    elif ":" in line:
                        name, _, value = line.partition(":")
                        fields[name] = value.strip()
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()

    def take_until(self, done: Any, timeout_s: float = 60) -> list[Sse]:
        got: list[Sse] = []
        deadline = time.monotonic() + timeout_s
        while not done(got):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"stream stalled after {[(e.id, e.data['status']) for e in got]}"
            try:
                got.append(self.events.get(timeout=min(remaining, 1)))
            except queue.Empty:
                continue
        return got

    def close(self) -> None:
        self._client.close()
        self._thread.join(10)
