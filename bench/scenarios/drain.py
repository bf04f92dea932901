"""Drain measurement from the outside: a consumer group's committed offsets against the
topics' high watermarks, polled, so the measured service needs no instrumentation."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from tidings.settings import Settings


def _consumer(settings: Settings, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "client.id": f"bench-watch-{uuid.uuid4().hex[:4]}",
        }
    )


def partitions(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    meta = admin.list_topics(timeout=10).topics
    return [TopicPartition(t, p) for t in topics for p in sorted(meta[t].partitions)]


def high_watermarks(settings: Settings, topics: list[str]) -> dict[tuple[str, int], int]:
    c = _consumer(settings, "bench-watch")
    try:
        return {
            (tp.topic, tp.partition): c.get_watermark_offsets(tp, timeout=10)[1]
            for tp in partitions(settings, topics)
        }
    finally:
        c.close()


def skip_to_end(settings: Settings, group: str, topics: list[str]) -> None:
    """Commit the group at the current end, so it starts with what is written from now on."""
    ends = high_watermarks(settings, topics)
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(t, p, o) for (t, p), o in ends.items()]
    )
    for future in admin.alter_consumer_group_offsets([request]).values():
        future.result()


@dataclass
class Drain:
    seconds: float  # from the first committed progress to fully drained
    offsets: int  # offsets consumed in that window
    drained: bool


class DrainWatch:
    """What a drain is measured against (the topics' ends and the group's committed offsets),
    read before the measured process starts: a process that drains faster than the watch
    gets going (the bare EOS loop: 20,000 events in under 2 s) was otherwise seen drained
    already, at 0 events/s."""

    def __init__(self, settings: Settings, group: str, topics: list[str]) -> None:
        self.targets = high_watermarks(settings, topics)
        self.tps = [TopicPartition(t, p) for (t, p) in self.targets]
        self._consumer = _consumer(settings, group)
        self.start = self.committed()

    def committed(self) -> dict[tuple[str, int], int]:
        return {
            (tp.topic, tp.partition): max(tp.offset, 0)
            for tp in self._consumer.committed(self.tps, timeout=10)
        }

    def close(self) -> None:
        self._consumer.close()


def wait_drained(
    settings: Settings,
    group: str,
    topics: list[str],
    timeout_s: float,
    *,
    slack: int = 0,
    interval_s: float = 0.1,
    watch: DrainWatch | None = None,
) -> Drain:
    """Wait until ``group`` committed (nearly: a trailing transaction marker) every offset
    written to ``topics`` so far (``slack`` 1 for transactional input: its last offset is a
    commit marker no consumer commits past). Timed from the first progress seen, so start-up (views,
    group join) is not counted. ``watch``: targets and start read earlier (before the
    measured process started); closed here."""
    watch = watch or DrainWatch(settings, group, topics)
    try:
        base = sum(watch.start.values())
        first: tuple[float, int] | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pos = watch.committed()
            now, total = time.monotonic(), sum(pos.values())
            if first is None and total > base:
                first = (now, total)
            if all(pos[k] >= v - slack for k, v in watch.targets.items()):
                if first is None:
                    return Drain(0.0, 0, True)
                return Drain(now - first[0], total - first[1], True)
            time.sleep(interval_s)
        if first is None:
            return Drain(0.0, 0, False)
        return Drain(time.monotonic() - first[0], sum(watch.committed().values()) - first[1], False)
    finally:
        watch.close()
