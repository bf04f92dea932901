"""Kafka client quotas of direct producers, read back from the broker (DescribeClientQuotas)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

from tests.support.ingest import BIN
from tidings.contracts.topics import Topics
from tidings.kafka.quotas import (
    direct_producer_client_id,
    producer_byte_rate,
    set_producer_byte_rate,
)
from tidings.ops.admin import create_client
from tidings.settings import Settings


def quota_becomes(settings: Settings, kafka_client_id: str, expected: float | None) -> None:
    """The broker answers from its metadata: an alteration shows within moments."""
    deadline = time.monotonic() + 10
    while (found := producer_byte_rate(settings, kafka_client_id)) != expected:
        assert time.monotonic() < deadline, (found, expected)
        time.sleep(0.1)


def test_a_producer_byte_rate_is_set_and_removed_on_the_broker(settings: Settings) -> None:
    name = f"tidings-test-{uuid.uuid4().hex}"
    assert producer_byte_rate(settings, name) is None
    set_producer_byte_rate(settings, name, 4096)
    quota_becomes(settings, name, 4096.0)
    set_producer_byte_rate(settings, name, None)
    quota_becomes(settings, name, None)


def test_a_client_created_with_a_signing_key_gets_its_quota(
    settings: Settings, topics: Topics
) -> None:
    created = create_client(
        settings, "acme", ["notifications:write"], signing_key=True, producer_byte_rate=65536
    )
    assert created.as_dict()["producer_byte_rate"] == 65536
    quota_becomes(settings, direct_producer_client_id(settings, created.client.client_id), 65536)


def test_the_quota_defaults_to_the_setting(settings: Settings, topics: Topics) -> None:
    configured = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"producer_byte_rate": 12345})}
    )
    created = create_client(configured, "acme", ["notifications:write"], signing_key=True)
    quota_becomes(settings, direct_producer_client_id(settings, created.client.client_id), 12345)


def test_zero_sets_no_quota_and_a_client_without_signing_key_gets_none(
    settings: Settings, topics: Topics
) -> None:
    unlimited = create_client(
        settings, "acme", ["notifications:write"], signing_key=True, producer_byte_rate=0
    )
    http_only = create_client(settings, "acme", ["notifications:write"])
    assert http_only.producer_byte_rate is None
    for created in (unlimited, http_only):
        name = direct_producer_client_id(settings, created.client.client_id)
        assert producer_byte_rate(settings, name) is None


def test_the_cli_sets_the_quota_given_with_byte_rate(settings: Settings, topics: Topics) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
    }
    args = ["create", "--tenant", "acme", "--scope", "notifications:write", "--signing-key"]
    done = subprocess.run(
        [str(BIN / "tidings"), "clients", *args, "--byte-rate", "20000", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    printed = json.loads(done.stdout)
    assert printed["producer_byte_rate"] == 20000
    quota_becomes(settings, direct_producer_client_id(settings, printed["client_id"]), 20000)
