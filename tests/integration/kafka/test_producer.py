"""Producing through the real broker: Avro values with headers, acks, murmur2 partitioning."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from tidings.contracts.codec import CONTENT_TYPE_BINARY, Codec
from tidings.contracts.headers import CONTENT_TYPE, EVENT_ID, FINGERPRINT, TENANT, to_dict, to_list
from tidings.contracts.topics import Topics, state_key
from tidings.errors import Unavailable
from tidings.kafka.config import consumer_config
from tidings.kafka.producer import AsyncProducer, durable_producer, produce_sync
from tidings.settings import KafkaSettings, Settings

CONSOLE_PRODUCER = Path(__file__).resolve().parents[3] / "infra" / "bin" / "kafka-console-producer"
CODEC = Codec()


def state_record(event_id: str) -> dict[str, object]:
    return {"event_id": event_id, "tenant": "acme", "stage": "accepted", "seq": 1, "at": 1}


def read_one(settings: Settings, topic: str, partition: int, offset: int) -> Message:
    consumer = Consumer(consumer_config(settings, "test-read", None))
    consumer.assign([TopicPartition(topic, partition, offset)])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                return msg
        raise AssertionError(f"nothing at {topic}[{partition}]@{offset}")
    finally:
        consumer.close()


def test_an_avro_record_and_its_headers_come_back_from_the_broker(
    settings: Settings, topics: Topics
) -> None:
    value = CODEC.encode("state", state_record("e-1"))
    headers = {
        EVENT_ID: "e-1",
        TENANT: "acme",
        CONTENT_TYPE: CONTENT_TYPE_BINARY,
        FINGERPRINT: CODEC.schema("state").fingerprint.hex(),
    }
    producer = durable_producer(settings, "test")
    sent = produce_sync(
        producer, topics.state.name, state_key("acme", "e-1"), value, to_list(headers)
    )

    got = read_one(settings, topics.state.name, sent.partition() or 0, sent.offset() or 0)

    assert got.key() == b"acme/e-1"
    assert CODEC.decode(got.value() or b"", expect="state")[1]["event_id"] == "e-1"
    assert to_dict(got.headers()) == {k: v.encode() for k, v in headers.items()}


async def test_async_producer_resolves_once_the_broker_acknowledged(
    settings: Settings, topics: Topics
) -> None:
    producer = AsyncProducer(settings, "test-async")
    try:
        value = CODEC.encode("state", state_record("e-2"))
        sent = await asyncio.wait_for(
            producer.produce(topics.state.name, state_key("acme", "e-2"), value), timeout=20
        )
    finally:
        producer.close()
    got = read_one(settings, topics.state.name, sent.partition() or 0, sent.offset() or 0)
    assert got.value() == value


def test_a_produce_nobody_acknowledges_raises_unavailable() -> None:
    nowhere = Settings(
        bootstrap_servers="127.0.0.1:1",
        kafka=KafkaSettings(delivery_timeout_ms=500, request_timeout_ms=400),
    )
    producer = durable_producer(nowhere, "test-nowhere")
    with pytest.raises(Unavailable):
        produce_sync(producer, "anything", b"k", b"v", timeout_s=5)


def test_console_tools_and_our_producer_put_a_key_in_the_same_partition(
    settings: Settings, topics: Topics
) -> None:
    keys = [f"tenant-{i}" for i in range(24)]
    lines = "".join(f"{key}|from-console\n" for key in keys)
    subprocess.run(
        [
            str(CONSOLE_PRODUCER),
            "--bootstrap-server",
            settings.bootstrap_servers,
            "--topic",
            topics.events.name,
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=|",
        ],
        input=lines.encode(),
        check=True,
        timeout=90,
    )
    producer = durable_producer(settings, "test-partitions")
    ours = {
        key: produce_sync(producer, topics.events.name, key.encode(), b"from-tidings").partition()
        for key in keys
    }

    console: dict[str, int] = {}
    consumer = Consumer(consumer_config(settings, "test-partitions", None))
    consumer.assign(
        [TopicPartition(topics.events.name, p, 0) for p in range(topics.events.partitions)]
    )
    deadline = time.monotonic() + 30
    while len(console) < len(keys) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None and msg.value() == b"from-console":
            console[(msg.key() or b"").decode()] = msg.partition() or 0
    consumer.close()

    assert console == ours
    assert len(set(ours.values())) > 1  # the keys really spread over partitions
