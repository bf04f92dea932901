"""Where a consumer group stands, read without an AdminClient (ingest's backpressure)."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import NewTopic

from tidings.kafka.admin import admin_client
from tidings.kafka.config import consumer_config
from tidings.kafka.groups import GroupPositions
from tidings.kafka.producer import durable_producer, transactional_producer
from tidings.settings import Settings


def test_positions_are_the_committed_offset_or_log_start_and_the_last_stable_offset(
    settings: Settings,
) -> None:
    topic = f"{settings.topic_prefix}positions-{uuid.uuid4().hex[:8]}"
    group = f"{settings.topic_prefix}positions-group"
    admin = admin_client(settings)
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(30)
    producer = durable_producer(settings, "positions-test")
    for partition, n in ((0, 5), (1, 3)):
        for i in range(n):
            producer.produce(topic, value=str(i).encode(), partition=partition)
    producer.flush(30)
    committer = Consumer(consumer_config(settings, "positions-committer", group))
    committer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    committer.close()
    pending = transactional_producer(settings, "positions-txn", f"{topic}-txn")
    pending.init_transactions(30)
    pending.begin_transaction()
    for i in range(4):
        pending.produce(topic, value=str(i).encode(), partition=1)
    pending.flush(30)  # on the log, not committed: beyond the last stable offset

    positions = GroupPositions(settings, group, topic, 2)
    try:
        # p1 was never committed by the group: it counts from its log start.
        assert positions.read(10) == {0: (2, 5), 1: (0, 3)}
    finally:
        positions.close()
        pending.abort_transaction(30)
