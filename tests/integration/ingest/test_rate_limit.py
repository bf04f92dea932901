"""Per-client token buckets: 429 with Retry-After, RateLimit headers on every answer."""

from __future__ import annotations

from tests.support.ingest import EXAMPLE, IngestProcess, new_client

URL = "/api/v1/notifications"


def test_burst_exhausted_is_429_with_retry_after(ingest: IngestProcess) -> None:
    client = new_client(ingest, rate_per_second=0.5, burst=3)
    with ingest.client(client.secret) as http:
        answers = [http.post(URL, json=EXAMPLE) for _ in range(6)]
    limited = [r for r in answers if r.status_code == 429]
    assert limited, [r.status_code for r in answers]
    assert limited[0].json()["code"] == "rate_limited"
    assert int(limited[0].headers["retry-after"]) >= 1


def test_ratelimit_headers_are_on_success_and_error_answers(ingest: IngestProcess) -> None:
    client = new_client(ingest, rate_per_second=100, burst=50)
    with ingest.client(client.secret) as http:
        ok = http.post(URL, json=EXAMPLE)
        bad = http.post(URL, json={**EXAMPLE, "type": "no.such"})
        missing = http.get(f"{URL}/nope")
    for r in (ok, bad, missing):
        assert r.headers["ratelimit-policy"] == '"burst";q=50;w=1'
        assert r.headers["ratelimit"].startswith('"burst";r=')


def test_remaining_tokens_count_down(ingest: IngestProcess) -> None:
    client = new_client(ingest, rate_per_second=0.01, burst=20)
    with ingest.client(client.secret) as http:
        first = http.get(f"{URL}/nope").headers["ratelimit"]
        second = http.get(f"{URL}/nope").headers["ratelimit"]
    remaining = [int(v.split("r=")[1].split(";")[0]) for v in (first, second)]
    assert remaining[0] - remaining[1] == 1


def test_one_clients_limit_does_not_affect_another(ingest: IngestProcess) -> None:
    slow = new_client(ingest, rate_per_second=0.01, burst=1)
    other = new_client(ingest, rate_per_second=0.01, burst=5)
    with ingest.client(slow.secret) as http:
        http.post(URL, json=EXAMPLE)
        assert http.post(URL, json=EXAMPLE).status_code == 429
    with ingest.client(other.secret) as http:
        assert http.post(URL, json=EXAMPLE).status_code == 202
