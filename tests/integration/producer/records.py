"""Reading back what a test wrote (assign + read to the high watermark, no group)."""

from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from tidings.kafka.config import consumer_config
from tidings.settings import Settings


def read_all(settings: Settings, topic: str, timeout_s: float = 20.0) -> list[Message]:
    consumer = Consumer(consumer_config(settings, "test-read", None))
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        highs = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in highs if highs[p]])
        out: list[Message] = []
        done: set[int] = {p for p, high in highs.items() if not high}
        while len(done) < len(highs):
            batch = consumer.consume(500, timeout=min(1.0, timeout_s))
            out += [m for m in batch if m.error() is None]
            for tp in consumer.position([TopicPartition(topic, p) for p in highs]):
                if tp.offset >= highs[tp.partition]:
                    done.add(tp.partition)
            if not batch and len(done) < len(highs):
                timeout_s -= 1.0
                assert timeout_s > 0, f"could not read {topic} to its end"
        return out
    finally:
        consumer.close()
