"""Assign-only readers of a topic's partitions: the one place that reads to a high watermark.

Views, state restore and operator scans all need the same three things: where each partition
ends now (``high_watermarks``), whether the reader got there (``caught_up``: by the consumer's
*position*, because compaction and transaction markers leave gaps a last record's offset would
never cover), and the records that are there, without waiting for a batch to fill
(``take``). confluent-kafka's ``consume(n, timeout)`` waits until it has ``n`` records or the
timeout passes, so a reader that asks for 1,000 at low traffic sits out its whole timeout on
every call; ``take`` returns what is buffered at once and waits only when nothing is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, Message, TopicPartition

from tidings.errors import Unavailable
from tidings.kafka.config import consumer_config
from tidings.settings import Settings

BEGINNING = OFFSET_BEGINNING
END = OFFSET_END


def take(consumer: Consumer, max_records: int, wait_s: float) -> list[Message]:
    """What the consumer has buffered (up to ``max_records``) without waiting; when nothing is
    there, wait up to ``wait_s`` for the first record and take whatever came with it."""
    msgs = consumer.consume(num_messages=max_records, timeout=0)
    if msgs:
        return msgs
    first = consumer.consume(num_messages=1, timeout=wait_s)
    if not first:
        return []
    return first + consumer.consume(num_messages=max_records - 1, timeout=0)


class PartitionReader:
    """Reads chosen partitions of one topic, ``read_committed`` by default; no group is joined."""

    def __init__(
        self,
        settings: Settings,
        client_suffix: str,
        topic: str,
        *,
        read_committed: bool = True,
        prefetch_kbytes: int | None = None,
        fetch_wait_ms: int | None = None,
    ) -> None:
        """``prefetch_kbytes`` caps what librdkafka buffers ahead of ``take`` (its default is
        64 MB per consumer): a restore reading millions of records keeps its memory flat.
        ``fetch_wait_ms`` bounds how long the broker holds a fetch at the end of a partition
        (default 500 ms); a watermark request queues behind it on the same connection."""
        self.topic = topic
        conf = consumer_config(settings, client_suffix, None, read_committed=read_committed)
        if prefetch_kbytes is not None:
            conf["queued.max.messages.kbytes"] = prefetch_kbytes
            conf["fetch.max.bytes"] = min(prefetch_kbytes * 1024, 50 << 20)
        if fetch_wait_ms is not None:
            conf["fetch.wait.max.ms"] = fetch_wait_ms
        self._consumer = Consumer(conf)

    def partitions(self, timeout_s: float = 10.0) -> list[int]:
        meta = self._consumer.list_topics(self.topic, timeout=timeout_s).topics.get(self.topic)
        if meta is None or meta.error is not None:
            raise Unavailable(f"topic {self.topic} is not available")
        return sorted(meta.partitions)

    def assign(self, starts: Mapping[int, int]) -> None:
        """Read each partition from its offset (or ``BEGINNING`` / ``END``)."""
        self._consumer.assign([TopicPartition(self.topic, p, o) for p, o in starts.items()])

    def offsets_for_time(self, partitions: Iterable[int], at_ms: int) -> dict[int, int]:
        """First offset at or after ``at_ms`` per partition (``END`` when there is none)."""
        found = self._consumer.offsets_for_times(
            [TopicPartition(self.topic, p, at_ms) for p in partitions], 10
        )
        return {tp.partition: tp.offset if tp.offset >= 0 else END for tp in found}

    def high_watermarks(
        self, partitions: Iterable[int] | None = None, timeout_s: float = 10.0
    ) -> dict[int, int]:
        """The offset after the last committed record of each partition, as of now."""
        wanted = self.partitions(timeout_s) if partitions is None else list(partitions)
        out: dict[int, int] = {}
        for p in wanted:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=timeout_s
            )
            out[p] = high
        return out

    def watermarks(
        self, partitions: Iterable[int], timeout_s: float = 10.0
    ) -> dict[int, tuple[int, int]]:
        """``(log start, high watermark)`` per partition, as of now: a reader resuming from a
        stored offset outside that range has missed records (deleted, or a recreated topic)."""
        out: dict[int, tuple[int, int]] = {}
        for p in partitions:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, p), timeout=timeout_s
            )
            out[p] = (low, high)
        return out

    def positions(self, partitions: Iterable[int]) -> dict[int, int]:
        """Next offset to read per partition (absent until the first fetch of a partition)."""
        tps = [TopicPartition(self.topic, p) for p in partitions]
        return {tp.partition: tp.offset for tp in self._consumer.position(tps) if tp.offset >= 0}

    def caught_up(self, targets: Mapping[int, int]) -> bool:
        """Every partition read up to its target (an empty partition needs no read)."""
        pending = [p for p, high in targets.items() if high > 0]
        if not pending:
            return True
        at = self.positions(pending)
        return all(at.get(p, -1) >= targets[p] for p in pending)

    def take(self, max_records: int = 1000, wait_s: float = 0.2) -> list[Message]:
        """Records that are there (errors left out), waiting only when there are none."""
        return [m for m in take(self._consumer, max_records, wait_s) if m.error() is None]

    def close(self) -> None:
        self._consumer.close()
