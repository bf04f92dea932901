"""A steady HTTP client load with a ledger of every attempt.

Each logical event has its own Idempotency-Key; a worker retries it with the same key after
a 503, 409, 429 or a broken connection (as a well-behaved client does) until it is answered
202 or the event's give-up deadline passes. The event id is uuid5(tenant, key), so even an
event whose answer was lost is known by id.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tidings.domain.envelope import event_id_for

URL = "/api/v1/notifications"
RETRIABLE = (None, 409, 429, 503)  # None: no answer at all


def team_body(n: int) -> dict[str, Any]:
    return {
        "type": "content.approved",
        "recipients": {"roles": ["team"]},
        "payload": {"content_id": f"c-{n}"},
    }


@dataclass
class Attempt:
    key: str
    status: int | None  # None: no answer (connection refused or broken)
    seconds: float
    retry_after: str | None
    started: float


@dataclass
class Ledger:
    tenant: str
    keys: list[str] = field(default_factory=list)  # every logical event sent
    acked: dict[str, str] = field(default_factory=dict)  # key -> event id (202)
    attempts: list[Attempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def event_id(self, key: str) -> str:
        return event_id_for(self.tenant, key)

    @property
    def sent_ids(self) -> set[str]:
        return {self.event_id(k) for k in self.keys}

    @property
    def acked_ids(self) -> set[str]:
        return set(self.acked.values())

    def statuses(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.attempts:
            name = str(a.status) if a.status is not None else "no_answer"
            out[name] = out.get(name, 0) + 1
        return out


class HttpLoad:
    """``rate`` new events per second over ``workers`` threads until ``stop()``."""

    def __init__(
        self,
        url: str,
        secret: str,
        tenant: str,
        rate: float = 20.0,
        workers: int = 4,
        request_timeout_s: float = 60.0,
        give_up_s: float = 180.0,
    ) -> None:
        self.url, self.secret, self.rate, self.workers = url, secret, rate, workers
        self.request_timeout_s, self.give_up_s = request_timeout_s, give_up_s
        self.ledger = Ledger(tenant)
        self._next = 0
        self._started = 0.0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, daemon=True, name=f"load-{i}")
            for i in range(workers)
        ]
        self.run_tag = uuid.uuid4().hex[:8]

    def start(self) -> HttpLoad:
        self._started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def stop(self, drain_s: float = 240.0) -> Ledger:
        """No new events; wait for events already begun to be answered or given up."""
        self._stop.set()
        for t in self._threads:
            t.join(drain_s)
        return self.ledger

    def _claim(self) -> int | None:
        with self.ledger.lock:
            if self._stop.is_set():
                return None
            n = self._next
            self._next += 1
        delay = self._started + n / self.rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return None if self._stop.is_set() else n

    def _work(self) -> None:
        headers = {"Authorization": f"Bearer {self.secret}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=self.request_timeout_s) as c:
            while (n := self._claim()) is not None:
                self._send(c, n)

    def _send(self, client: httpx.Client, n: int) -> None:
        key = f"{self.run_tag}-{n}"
        with self.ledger.lock:
            self.ledger.keys.append(key)
        deadline = time.monotonic() + self.give_up_s
        while time.monotonic() < deadline:
            started = time.monotonic()
            status: int | None = None
            retry_after, event_id = None, None
            try:
                r = client.post(URL, json=team_body(n), headers={"Idempotency-Key": key})
                status, retry_after = r.status_code, r.headers.get("retry-after")
                event_id = r.json().get("id") if status == 202 else None
            except httpx.TransportError:
                pass
            attempt = Attempt(key, status, time.monotonic() - started, retry_after, started)
            with self.ledger.lock:
                self.ledger.attempts.append(attempt)
                if event_id is not None:
                    self.ledger.acked[key] = event_id
            if status not in RETRIABLE:  # 202, or an answer a retry cannot change
                return
            time.sleep(min(float(retry_after or 0.5), 2.0))
