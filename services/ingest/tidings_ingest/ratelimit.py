"""Per-client token buckets and the IETF RateLimit header fields.

Why not the ``limits`` library: its strategies are fixed, moving and sliding *windows* with
whole-second periods; the contract here is a token bucket (a sustained rate plus a burst, per
client, e.g. 2.5/s with burst 5), and the RateLimit fields need the bucket's exact state.
A bucket is a few lines of arithmetic under one lock.

Header fields follow draft-ietf-httpapi-ratelimit-headers (structured fields):
``RateLimit-Policy: "burst";q=<burst>;w=<seconds to refill the burst>`` and
``RateLimit: "burst";r=<tokens left>;t=<seconds until one more token>``.

Limits hold for the deployment, not per process: with N live ingest replicas (replicas.py)
each one gives a client rate/N and burst/N (rounded down, at least 1), so a client spread
over the replicas by the load balancer gets its rate in total. The headers show this
replica's share, which is what its bucket holds.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tidings.domain.clients import ApiClient
from tidings.settings import IngestSettings

POLICY = "burst"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    limit: int
    window_s: int
    reset_s: int  # seconds until the next token (0 when the bucket is full)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w={self.window_s}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset_s}',
        }

    @property
    def retry_after_s(self) -> int:
        return max(1, self.reset_s)


class _Bucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, float(burst), now


class RateLimiter:
    """One bucket per client id; a client's own rate/burst override the settings' defaults."""

    def __init__(
        self,
        settings: IngestSettings,
        clock: object = time.monotonic,
        replicas: Callable[[], int] = lambda: 1,
    ) -> None:
        self._replicas = replicas  # live ingest replicas sharing every client's limit
        self._default_rate = settings.rate_per_second
        self._default_burst = settings.burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def take(self, client: ApiClient, cost: int = 1, held: int = 0) -> Decision:
        """Take ``cost`` tokens (a batch's further items), all of them or none; ``held``: the
        tokens this request took already. A request costing more than the bucket can hold
        (a batch of 100 against a replica's burst share of 50) passes once the bucket is as
        full as it gets and leaves it in debt: the rate over time holds, nothing is
        refused for ever."""
        share = max(1, self._replicas())
        rate = max((client.rate_per_second or self._default_rate) / share, 1e-6)
        burst = max((client.burst or self._default_burst) // share, 1)
        now = self._now()
        with self._lock:
            bucket = self._buckets.get(client.client_id)
            if bucket is None:
                bucket = self._buckets[client.client_id] = _Bucket(rate, burst, now)
            elif bucket.rate != rate or bucket.burst != burst:
                # A new limit or replica count: the tokens left carry over (never above the
                # new burst), so a replica joining or leaving grants no fresh burst.
                bucket.rate, bucket.burst = rate, burst
                bucket.tokens = min(bucket.tokens, float(burst))
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            allowed = bucket.tokens >= min(cost, burst - held)
            if allowed:
                bucket.tokens -= cost
            tokens = bucket.tokens
        if tokens >= burst:
            missing = 0.0
        elif tokens < 1:  # empty, or in debt after a request larger than the burst
            missing = 1.0 - tokens
        else:
            missing = 1.0 - (tokens - math.floor(tokens))
        return Decision(
            allowed=allowed,
            remaining=max(0, math.floor(tokens)),
            limit=burst,
            window_s=max(1, math.ceil(burst / rate)),
            reset_s=math.ceil(missing / rate) if missing else 0,
        )
