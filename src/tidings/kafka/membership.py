"""Live instances of one kind of process: how many run now, from their own heartbeats.

Each instance appends a heartbeat (key: its instance id) to a small one-partition topic every
``interval_s`` and reads that topic from its start, assign-only (no group is joined). An
instance is live while its last heartbeat is within ``session_s`` of the newest heartbeat on
the topic. The topic stamps records with the broker's clock (``LogAppendTime``), so hosts'
clocks never have to agree; an instance that stops appends a tombstone and is gone at once
for the others, one that crashes is dropped after ``session_s``.

Why not ask the broker for a consumer group's members: that is a periodic admin request
(``describe_consumer_groups``) in a long-running process, and librdkafka 2.16 aborted the
whole ingest process (``rd_kafka_enq_once_del_source_return``) when such requests timed out
during a broker outage. Here only a producer and an assign-only consumer run, the two
clients every service already keeps through outages. While the broker is away nothing is
appended or read: the count stays what it was, and the silence it leaves on the log restarts
every session (``heard``) rather than dropping the instances heard from last.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from tidings.kafka.config import common_config
from tidings.kafka.consumer import BEGINNING, PartitionReader
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)


def instance_id() -> str:
    """Unique per process (a restarted process is a new instance): host, pid, random tail."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def live(last_seen_ms: dict[str, int], session_ms: int) -> set[str]:
    """The instances whose last heartbeat is within ``session_ms`` of the newest one."""
    if not last_seen_ms:
        return set()
    newest = max(last_seen_ms.values())
    return {i for i, at in last_seen_ms.items() if newest - at <= session_ms}


def heard(
    seen: dict[str, int], instance: str, at_ms: int, session_ms: int, *, live_log: bool
) -> None:
    """Record ``instance``'s heartbeat at broker time ``at_ms``. On a live log (the history
    read), a silence longer than a session before it was a broker outage, when nobody could
    append, not the end of every other instance: their sessions restart at it."""
    newest = max(seen.values(), default=at_ms)
    if live_log and at_ms - newest > session_ms:
        for other in seen:
            seen[other] = at_ms
    seen[instance] = at_ms


class Heartbeats:
    """The live instances heartbeating on ``topic`` (at least this one: ``count`` >= 1)."""

    def __init__(
        self,
        settings: Settings,
        topic: str,
        *,
        interval_s: float = 1.0,
        session_s: float | None = None,
        instance: str | None = None,
    ) -> None:
        self._settings = settings
        self._topic = topic
        self._interval_s = interval_s
        session_ms = settings.kafka.session_timeout_ms if session_s is None else session_s * 1000
        self._session_ms = int(session_ms)
        self.instance = instance or instance_id()
        self._count = 1
        self._failing = False  # the last heartbeat was not delivered
        self._caught_up = False  # our own heartbeat was read: everything older was read too
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeats-{topic}", daemon=True)

    @property
    def count(self) -> int:
        return self._count

    def start(self) -> Heartbeats:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        suffix = f"heartbeat-{self.instance}"
        producer = Producer(
            {
                **common_config(self._settings, suffix),
                "acks": "all",
                "linger.ms": 0,
                # A heartbeat not on the log within a session says nothing true any more.
                "message.timeout.ms": self._session_ms,
            }
        )
        reader = PartitionReader(self._settings, suffix, self._topic, read_committed=False)
        reader.assign({0: BEGINNING})  # compacted and short-lived: a few records per instance
        value = json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode()
        seen: dict[str, int] = {}
        beat_at = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() - beat_at >= self._interval_s:
                    beat_at = time.monotonic()
                    self._beat(producer, value)
                wait = max(0.05, self._interval_s - (time.monotonic() - beat_at))
                for msg in reader.take(1000, min(wait, 0.5)):
                    self._observe(seen, msg)
                self._recount(seen)
        finally:
            self._beat(producer, None)  # a tombstone: the others count one fewer at once
            producer.flush(2)
            reader.close()

    def _beat(self, producer: Producer, value: bytes | None) -> None:
        try:
            producer.produce(
                self._topic,
                key=self.instance.encode(),
                value=value,
                partition=0,
                on_delivery=self._delivered,
            )
        except (BufferError, KafkaException) as exc:  # queue full while the broker is away
            log.warning("heartbeat_not_sent", topic=self._topic, error=type(exc).__name__)
        producer.poll(0)

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        # Logged once per failing spell: a broker outage, or a topic never created (run
        # `tidings topics ensure`), which leaves every replica enforcing the whole limit.
        if err is not None and not self._failing:
            log.warning("heartbeat_not_delivered", topic=self._topic, error=err.name())
        self._failing = err is not None

    def _observe(self, seen: dict[str, int], msg: Message) -> None:
        key = msg.key()
        if not key:
            return
        instance = key.decode("utf-8", errors="replace")
        if msg.value() is None:
            seen.pop(instance, None)
        else:
            heard(
                seen, instance, int(msg.timestamp()[1]), self._session_ms, live_log=self._caught_up
            )
        if instance == self.instance:
            self._caught_up = True

    def _recount(self, seen: dict[str, int]) -> None:
        if not self._caught_up:  # history only so far: its newest heartbeat may be long ago
            return
        count = max(1, len(live(seen, self._session_ms) | {self.instance}))
        if count != self._count:
            log.info("live_instances", topic=self._topic, count=count, previous=self._count)
            self._count = count
        # Forget the long gone (crashed instances' keys stay until compaction removes them).
        if seen:
            newest = max(seen.values())
            for gone in [i for i, at in seen.items() if newest - at > 10 * self._session_ms]:
                del seen[gone]
