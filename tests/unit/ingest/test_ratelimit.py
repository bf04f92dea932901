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


class Replicas:
    def __init__(self, count: int) -> None:
        self.count = count

    def __call__(self) -> int:
        return self.count


def test_each_of_n_replicas_gives_a_client_its_nth_of_rate_and_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(IngestSettings(), clock=clock, replicas=Replicas(2))
    c = client(rate=10, burst=6)
    assert [limiter.take(c).allowed for _ in range(4)] == [True, True, True, False]
    clock.now += 1.0  # 5 tokens a second here: 10 across the two replicas
    assert [limiter.take(c).allowed for _ in range(4)] == [True, True, True, False]


def test_a_replicas_burst_share_is_rounded_down_but_at_least_one() -> None:
    c = client(rate=1, burst=5)
    for replicas, share in ((2, 2), (5, 1), (8, 1)):
        limiter = RateLimiter(IngestSettings(), clock=Clock(), replicas=Replicas(replicas))
        assert limiter.take(c).limit == share


def test_the_headers_show_this_replicas_share() -> None:
    limiter = RateLimiter(IngestSettings(), clock=Clock(), replicas=Replicas(2))
    headers = limiter.take(client(rate=10, burst=20)).headers()
    assert headers["RateLimit-Policy"] == '"burst";q=10;w=2'


def test_a_replica_joining_grants_no_fresh_burst() -> None:
    replicas = Replicas(1)
    limiter = RateLimiter(IngestSettings(), clock=Clock(), replicas=replicas)
    c = client(rate=0.001, burst=4)
    assert [limiter.take(c).allowed for _ in range(3)] == [True, True, True]
    replicas.count = 2  # burst 2 now; one token was left, and only that one
    assert [limiter.take(c).allowed for _ in range(2)] == [True, False]


def test_a_batch_larger_than_the_burst_passes_when_the_bucket_is_full_and_leaves_debt() -> None:
    clock = Clock()
    limiter = RateLimiter(IngestSettings(), clock=clock, replicas=lambda: 2)
    c = client(rate=10, burst=100)  # this replica's share: 5/s, burst 50
    assert limiter.take(c).allowed  # the request's own token, at the door
    batch = limiter.take(c, 99, held=1)
    assert batch.allowed
    assert batch.remaining == 0
    # 50 tokens of debt at 5/s: the next request waits 10 s and a bit, as the rate says.
    refused = limiter.take(c)
    assert not refused.allowed
    assert refused.retry_after_s == 11
    clock.now += 10.2
    assert limiter.take(c).allowed


def test_a_batch_larger_than_the_burst_waits_for_a_full_bucket() -> None:
    clock = Clock()
    limiter = RateLimiter(IngestSettings(), clock=clock)
    c = client(rate=1, burst=10)
    for _ in range(3):
        assert limiter.take(c).allowed
    assert limiter.take(c).allowed
    assert not limiter.take(c, 19, held=1).allowed  # 6 left, the bucket holds 10 at most
