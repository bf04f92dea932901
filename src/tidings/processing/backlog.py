"""How far a downstream consumer group is behind on one partition: a stage paces itself on
it (the resolver's slices of a large audience wait for fan-out; docs/processing.md).

Read only: the consumer here carries the group's id to read its committed offsets and never
joins it.
"""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition

from tidings.kafka.config import consumer_config
from tidings.settings import Settings


class GroupBacklog:
    """Records of ``topic``'s partition the group has not committed yet: the partition's end
    minus the group's committed offset (transaction markers count too, one per transaction:
    close enough for pacing). Unknown (the group never committed there, or no answer): 0,
    so a stopped or missing downstream never stops the caller for good."""

    def __init__(self, settings: Settings, group: str, topic: str, client_suffix: str) -> None:
        self._topic = topic
        self._consumer = Consumer(consumer_config(settings, client_suffix, group))

    def __call__(self, partition: int) -> int:
        tp = TopicPartition(self._topic, partition)
        try:
            [committed] = self._consumer.committed([tp], timeout=2)
            _low, high = self._consumer.get_watermark_offsets(tp, timeout=2, cached=False)
        except KafkaException:
            return 0
        if committed.offset < 0 or high < 0:
            return 0
        return max(0, high - committed.offset)

    def close(self) -> None:
        self._consumer.close()
