"""Watches the delivery topics (read_committed) and notes when each event's first delivery
request became visible: the end of the end-to-end path."""

from __future__ import annotations

import threading
import time

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from bench.scenarios.drain import partitions
from tidings.contracts.topics import Topics
from tidings.kafka.consumer import take
from tidings.settings import Settings


class DeliveryWatch:
    def __init__(self, settings: Settings) -> None:
        topics = [t.name for t in Topics(settings).deliveries.values()]
        self.seen: dict[str, float] = {}
        self._consumer = Consumer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "group.id": "bench-e2e-watch",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        tps = partitions(settings, topics)
        self._consumer.assign([TopicPartition(tp.topic, tp.partition, OFFSET_END) for tp in tps])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            # What is buffered, at once; wait only when nothing is (a batch that must fill
            # would add up to its timeout to every latency measured here).
            for msg in take(self._consumer, 500, 0.05):
                if msg.error() is not None:
                    continue
                now = time.time()
                headers = msg.headers() or []
                assert isinstance(headers, list)
                for name, value in headers:
                    if name == "event-id" and isinstance(value, bytes):
                        self.seen.setdefault(value.decode(), now)

    def start(self) -> DeliveryWatch:
        self._consumer.consume(1, 1.0)  # resolve the end offsets before load starts
        self._thread.start()
        return self

    def wait_for(self, ids: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not ids <= self.seen.keys():
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._consumer.close()
