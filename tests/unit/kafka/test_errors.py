"""Which broker errors a client sees as 503 (retry later) and which as 500."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from tidings.errors import Unavailable
from tidings.kafka.errors import KafkaFailure, translate_kafka_error


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._MSG_TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError.NOT_ENOUGH_REPLICAS,
    ],
)
def test_a_write_the_cluster_cannot_take_now_is_unavailable(code: int) -> None:
    assert isinstance(translate_kafka_error(KafkaError(code)), Unavailable)


@pytest.mark.parametrize(
    "code",
    [KafkaError._UNKNOWN_PARTITION, KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART],
)
def test_a_topic_missing_now_is_unavailable_and_says_so(code: int) -> None:
    # The events topic deleted under a running ingest: librdkafka fails the queued write with
    # _UNKNOWN_PARTITION the moment it sees the partition count drop, before any timeout.
    error = translate_kafka_error(KafkaError(code))
    assert isinstance(error, Unavailable)
    assert error.detail == "the event store cannot take this write now (a partition is missing)"


def test_a_kafka_exception_is_translated_by_the_error_it_carries() -> None:
    wrapped = KafkaException(KafkaError(KafkaError._UNKNOWN_PARTITION))
    assert isinstance(translate_kafka_error(wrapped), Unavailable)


def test_anything_else_is_an_internal_failure_that_names_only_the_code() -> None:
    failure = translate_kafka_error(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    assert isinstance(failure, KafkaFailure)
    assert (failure.status, str(failure)) == (500, "TOPIC_AUTHORIZATION_FAILED")


def test_an_unexpected_exception_is_an_internal_failure() -> None:
    failure = translate_kafka_error(RuntimeError("boom"))
    assert isinstance(failure, KafkaFailure)
    assert str(failure) == "RuntimeError"
