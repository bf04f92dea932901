"""Producer configuration: every guarantee-bearing setting explicit and checked at start-up."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.kafka.config import (
    PARTITIONER,
    UnsafeProducerConfig,
    assert_durable,
    consumer_config,
    producer_config,
)
from tidings.kafka.producer import durable_producer
from tidings.settings import Settings

SETTINGS = Settings(bootstrap_servers="127.0.0.1:1")


def test_producers_are_idempotent_with_acks_all_and_murmur2() -> None:
    conf = producer_config(SETTINGS, "t")
    assert (conf["enable.idempotence"], conf["acks"], conf["partitioner"]) == (
        True,
        "all",
        "murmur2_random",
    )


@pytest.mark.parametrize(
    "override",
    [{"acks": 1}, {"acks": "1"}, {"enable.idempotence": False}, {"partitioner": "consistent"}],
)
def test_assert_durable_refuses_an_unsafe_producer(override: dict[str, Any]) -> None:
    with pytest.raises(UnsafeProducerConfig):
        assert_durable({**producer_config(SETTINGS, "t"), **override})


def test_durable_producer_refuses_acks_1_before_connecting() -> None:
    with pytest.raises(UnsafeProducerConfig):
        durable_producer(SETTINGS, "t", acks=1)


def test_durable_producer_refuses_idempotence_off() -> None:
    with pytest.raises(UnsafeProducerConfig):
        durable_producer(SETTINGS, "t", **{"enable.idempotence": False})


def test_transactional_producers_carry_their_id_and_timeout() -> None:
    conf = producer_config(SETTINGS, "t", transactional_id="resolver-0")
    assert conf["transactional.id"] == "resolver-0"
    assert conf["transaction.timeout.ms"] == SETTINGS.kafka.transaction_timeout_ms
    assert conf["partitioner"] == PARTITIONER


def test_consumers_read_committed_and_never_auto_commit() -> None:
    conf = consumer_config(SETTINGS, "t", "group")
    assert conf["isolation.level"] == "read_committed"
    assert conf["enable.auto.commit"] is False
