"""Reading back what ingest wrote: every record of a topic, as a consumer sees it."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Message, TopicPartition

from tidings.kafka.config import consumer_config
from tidings.settings import Settings


def read_all(
    settings: Settings, topic: str, *, read_committed: bool = True, timeout_s: float = 20
) -> list[Message]:
    """Every record from the beginning up to the high watermarks of now."""
    consumer = Consumer(
        consumer_config(settings, "ingest-test-reader", None, read_committed=read_committed)
    )
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        targets = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                targets[p] = high
        if not targets:
            return []
        consumer.assign([TopicPartition(topic, p, 0) for p in targets])
        out: list[Message] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    out.append(msg)
            positions = consumer.position([TopicPartition(topic, p) for p in targets])
            if all(tp.offset >= targets[tp.partition] for tp in positions):
                return out
        return out
    finally:
        consumer.close()
