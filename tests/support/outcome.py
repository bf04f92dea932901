"""What happened to the events of a run, read back from the log (read_committed):
dispatched, lost (acknowledged but not dispatched with its full delivery set, or not on the
events log at all) and duplicated (delivery requests beyond one per event, user and channel)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from tests.support.pipeline import deliveries, latest_states
from tests.support.report import Figures
from tidings.contracts.headers import EVENT_ID, to_dict
from tidings.contracts.topics import Topics
from tidings.kafka.config import consumer_config
from tidings.settings import Settings


def wait_dispatched(
    settings: Settings, event_ids: Iterable[str], timeout_s: float, also: Iterable[str] = ()
) -> dict[str, str]:
    """Stage per event id (of ``event_ids`` and ``also``) once every one of ``event_ids`` is
    dispatched, or what there is at the deadline."""
    wanted = set(event_ids)
    report = wanted | set(also)
    deadline = time.monotonic() + timeout_s
    stages: dict[str, str] = {}
    while True:
        states = latest_states(settings)
        stages = {e: str(states[e]["stage"]) for e in report if e in states}
        if all(stages.get(e) == "dispatched" for e in wanted) or time.monotonic() > deadline:
            return stages
        time.sleep(1.0)


def on_log(settings: Settings, event_ids: set[str]) -> Counter[str]:
    """How many records of each of these event ids the events topic holds (committed)."""
    topic = Topics(settings).events.name
    conf = consumer_config(settings, f"log-{time.monotonic_ns()}", None)
    consumer = Consumer({**conf, "enable.partition.eof": True})
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    counts: Counter[str] = Counter()
    pending, deadline = set(meta.partitions), time.monotonic() + 120
    while pending and time.monotonic() < deadline:  # up to each partition's last stable offset
        for msg in consumer.consume(1000, timeout=0.2):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                continue
            event_id = (to_dict(msg.headers()).get(EVENT_ID) or b"").decode()  # type: ignore[arg-type]
            if event_id in event_ids:
                counts[event_id] += 1
    consumer.close()
    return counts


def figures(
    scenario: str,
    settings: Settings,
    sent_ids: set[str],
    acked_ids: set[str],
    expected: Callable[[str], set[tuple[str, str]]],
    timeout_s: float = 300,
    **extra: object,
) -> Figures:
    """Wait for the acknowledged events, then count. ``expected(event id)``: its (user,
    channel) pairs, each of which must have exactly one delivery request."""
    stages = wait_dispatched(settings, acked_ids, timeout_s, also=sent_ids)
    sent_deliveries = Counter(
        (d["event_id"], d["user_id"], d["channel"])
        for d in deliveries(settings, lambda d: d["event_id"] in sent_ids)
    )
    duplicated = sum(n - 1 for n in sent_deliveries.values() if n > 1)
    complete = {
        e
        for e in acked_ids
        if stages.get(e) == "dispatched"
        and all(sent_deliveries[(e, u, c)] == 1 for u, c in expected(e))
    }
    logged = on_log(settings, acked_ids)
    lost = len({e for e in acked_ids if e not in complete or logged[e] == 0})
    dispatched = sum(1 for e in sent_ids if stages.get(e) == "dispatched")
    return Figures(
        scenario,
        sent=len(sent_ids),
        acknowledged=len(acked_ids),
        dispatched=dispatched,
        lost=lost,
        duplicated=duplicated,
        extra={"deliveries": sum(sent_deliveries.values()), **extra},
    )
