"""Live instances of one kind, counted from their heartbeats on a topic (no admin requests)."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from tidings.contracts.topics import Topics
from tidings.kafka.admin import admin_client
from tidings.kafka.config import common_config
from tidings.kafka.membership import Heartbeats
from tidings.settings import Settings


def counts(members: list[Heartbeats], expected: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while any(m.count != expected for m in members):
        assert time.monotonic() < deadline, [m.count for m in members]
        time.sleep(0.2)


def heartbeat_topic(settings: Settings, topics: Topics) -> str:
    """A fresh topic with the ingest replicas' topic config (one per test: no strangers)."""
    spec = topics.ingest_replicas
    name = f"{spec.name}.{uuid.uuid4().hex[:8]}"
    admin = admin_client(settings)
    topic = NewTopic(name, num_partitions=1, replication_factor=1, config=spec.config)
    admin.create_topics([topic])[name].result(30)
    return name


def test_instances_count_each_other_and_one_that_stops_is_gone_at_once(
    settings: Settings, topics: Topics
) -> None:
    topic = heartbeat_topic(settings, topics)
    first = Heartbeats(settings, topic, interval_s=0.5, session_s=30).start()
    second = Heartbeats(settings, topic, interval_s=0.5, session_s=30).start()
    try:
        counts([first, second], 2)
        second.stop()  # its tombstone: no session to wait out
        counts([first], 1, timeout_s=10)
    finally:
        first.stop()
        second.stop()


def test_an_instance_that_crashed_is_dropped_after_the_session(
    settings: Settings, topics: Topics
) -> None:
    topic = heartbeat_topic(settings, topics)
    ghost = Producer(common_config(settings, "ghost"))
    ghost.produce(topic, key=b"ghost", value=b"{}", partition=0)  # beats once, then is killed
    ghost.flush(10)
    # The session is also how long ``first`` has, from the ghost's beat, to start, read the
    # topic and count the ghost: 3 s was tight for a client start on a slow, busy machine.
    first = Heartbeats(settings, topic, interval_s=0.5, session_s=10).start()
    try:
        counts([first], 2)
        counts([first], 1, timeout_s=40)  # no tombstone came: the session ran out
    finally:
        first.stop()


def test_a_newcomer_counts_the_instances_already_running(
    settings: Settings, topics: Topics
) -> None:
    topic = heartbeat_topic(settings, topics)
    running = [Heartbeats(settings, topic, interval_s=0.5, session_s=30).start() for _ in range(2)]
    try:
        counts(running, 2)
        newcomer = Heartbeats(settings, topic, interval_s=0.5, session_s=30).start()
        try:
            counts([*running, newcomer], 3)
        finally:
            newcomer.stop()
    finally:
        for member in running:
            member.stop()
