"""Per-client token buckets and the IETF RateLimit header fields.

Why not the ``limits`` library: its strategies are fixed, moving and sliding *windows* with
whole-second periods; the contract here is a token bucket (a sustained rate plus a burst, per
client, e.g. 2.5/s with burst 5), and the RateLimit fields need the bucket's exact state.
A bucket is a few lines of arithmetic under one lock.

Header fields follow draft-ietf-httpapi-ratelimit-headers (structured fields):
``RateLimit-Policy: "burst";q=<burst>;w=<seconds to refill the burst>`` and
``RateLimit: "burst";r=<tokens left>;t=<seconds until one more token>``.
"""

from __future__ import annotations

import math
import threading
import time
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

    def __init__(self, settings: IngestSettings, clock: object = time.monotonic) -> None:
        self._default_rate = settings.rate_per_second
        self._default_burst = settings.burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def take(self, client: ApiClient) -> Decision:
        rate = max(client.rate_per_second or self._default_rate, 1e-6)
        burst = max(client.burst or self._default_burst, 1)
        now = self._now()
        with self._lock:
            bucket = self._buckets.get(client.client_id)
            if bucket is None or bucket.rate != rate or bucket.burst != burst:
                bucket = self._buckets[client.client_id] = _Bucket(rate, burst, now)
            bucket.tokens = min(burst, bucket.tokens + (now - bucket.stamp) * rate)
            bucket.stamp = now
            allowed = bucket.tokens >= 1.0
            if allowed:
                bucket.tokens -= 1.0
            tokens = bucket.tokens
        missing = 1.0 - (tokens - math.floor(tokens)) if tokens < burst else 0.0
        return Decision(
            allowed=allowed,
            remaining=math.floor(tokens),
            limit=burst,
            window_s=max(1, math.ceil(burst / rate)),
            reset_s=math.ceil(missing / rate) if missing else 0,
        )
