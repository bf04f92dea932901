"""Token buckets per client and the RateLimit header fields."""

from __future__ import annotations

from tidings.domain.clients import ApiClient
from tidings.settings import IngestSettings
from tidings_ingest.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def client(rate: float | None = None, burst: int | None = None, cid: str = "c1") -> ApiClient:
    return ApiClient(cid, "acme", "h", ("notifications:write",), rate_per_second=rate, burst=burst)


def test_burst_then_refused() -> None:
    limiter = RateLimiter(IngestSettings(), clock=Clock())
    c = client(rate=1, burst=3)
    assert [limiter.take(c).allowed for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(IngestSettings(), clock=clock)
    c = client(rate=2, burst=1)
    assert limiter.take(c).allowed
    assert not limiter.take(c).allowed
    clock.now += 0.5
    assert limiter.take(c).allowed


def test_refusal_says_when_to_retry() -> None:
    limiter = RateLimiter(IngestSettings(), clock=Clock())
    c = client(rate=0.25, burst=1)
    limiter.take(c)
    decision = limiter.take(c)
    assert not decision.allowed
    assert decision.retry_after_s == 4


def test_headers_follow_the_ietf_draft() -> None:
    limiter = RateLimiter(IngestSettings(), clock=Clock())
    headers = limiter.take(client(rate=10, burst=20)).headers()
    assert headers == {
        "RateLimit-Policy": '"burst";q=20;w=2',
        "RateLimit": '"burst";r=19;t=1',
    }


def test_settings_defaults_apply_without_client_limits() -> None:
    limiter = RateLimiter(IngestSettings(rate_per_second=1, burst=2), clock=Clock())
    c = client()
    assert [limiter.take(c).allowed for _ in range(3)] == [True, True, False]


def test_clients_have_separate_buckets() -> None:
    limiter = RateLimiter(IngestSettings(), clock=Clock())
    a, b = client(rate=1, burst=1, cid="a"), client(rate=1, burst=1, cid="b")
    limiter.take(a)
    assert limiter.take(b).allowed
