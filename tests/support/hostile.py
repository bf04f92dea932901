"""Hostile-input helpers: the ingest's short body deadline, the refusal codes the API
documents, the end offsets of every topic a request could append to, and the check that a
refusal is a documented problem. Fixtures in tests/integration/hostile/conftest.py."""

from __future__ import annotations

import time

import httpx
from confluent_kafka import Consumer, TopicPartition

from tidings.contracts.topics import Topics
from tidings.kafka.config import consumer_config
from tidings.settings import Settings

BODY_TIMEOUT_S = 3
# Every code the API documents for POST /api/v1/notifications (docs/errors.md) by status.
CREATE_CODES = {
    400: {"malformed_request", "invalid_idempotency_key"},
    408: {"request_timeout"},
    409: {"idempotency_key_in_flight"},
    413: {"payload_too_large"},
    415: {"unsupported_media_type"},
    422: {
        "validation_failed",
        "unknown_event_type",
        "unknown_schema_version",
        "schema_validation_failed",
        "invalid_recipients",
        "idempotency_key_reused",
    },
}


class Offsets:
    """End offsets of events, state and idempotency: what a request could have appended."""

    def __init__(self, settings: Settings) -> None:
        topics = Topics(settings)
        self._consumer = Consumer(consumer_config(settings, "hostile-offsets", None))
        self._tps = []
        for spec in (topics.events, topics.state, topics.idempotency):
            meta = self._consumer.list_topics(spec.name, timeout=10).topics[spec.name]
            self._tps += [TopicPartition(spec.name, p) for p in meta.partitions]

    def now(self) -> tuple[int, ...]:
        return tuple(self._consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in self._tps)

    def settled(self, quiet_s: float = 0.5, timeout_s: float = 30.0) -> tuple[int, ...]:
        """End offsets once nothing has moved for ``quiet_s``: a transaction's commit markers
        reach the partitions after ``commit_transaction`` returns (and so after the 202), and
        would otherwise count against the next request."""
        deadline = time.monotonic() + timeout_s
        last = self.now()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            current = self.now()
            if current == last:
                return current
            last = current
        return last

    def close(self) -> None:
        self._consumer.close()


def assert_documented(r: httpx.Response) -> None:
    """A refusal is a problem+json with a code documented for its status; never a 500."""
    assert r.status_code in CREATE_CODES, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] in CREATE_CODES[r.status_code], body
    assert body["status"] == r.status_code
