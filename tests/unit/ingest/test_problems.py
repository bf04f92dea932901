"""Problem answers: stable codes, required headers, nothing internal in a 500."""

from __future__ import annotations

import orjson

from tidings.errors import (
    NotFound,
    RateLimited,
    TidingsError,
    Unauthenticated,
    Unavailable,
)
from tidings.kafka.errors import KafkaFailure
from tidings_ingest.problems import problem_response


def body(response: object) -> dict[str, object]:
    return orjson.loads(response.body)  # type: ignore[attr-defined,no-any-return]


def test_problem_has_rfc9457_fields_and_code() -> None:
    r = problem_response(NotFound("no notification"), "rid", retry_after_s=2)
    assert r.media_type == "application/problem+json"
    assert body(r) == {
        "type": "https://tidings.dev/problems/not_found",
        "title": "Not found",
        "status": 404,
        "detail": "no notification",
        "code": "not_found",
        "request_id": "rid",
    }


def test_401_carries_www_authenticate() -> None:
    r = problem_response(Unauthenticated(), "rid", retry_after_s=2)
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_429_and_503_carry_retry_after() -> None:
    limited = problem_response(RateLimited(retry_after_s=7), "rid", retry_after_s=2)
    unavailable = problem_response(Unavailable(), "rid", retry_after_s=3)
    assert (limited.headers["retry-after"], unavailable.headers["retry-after"]) == ("7", "3")


def test_internal_errors_show_only_the_request_id() -> None:
    for error in (
        KafkaFailure("BROKER_NOT_AVAILABLE at kafka-1:9092", retriable=False),
        TidingsError("secret detail"),
    ):
        r = problem_response(error, "rid", retry_after_s=2)
        assert r.status_code == 500
        assert body(r)["detail"] == "Internal error"
        assert b"9092" not in r.body
        assert b"secret" not in r.body
