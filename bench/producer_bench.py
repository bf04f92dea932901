"""NotificationProducer events/s beside a bare confluent-kafka produce loop, same run.

The baseline writes the very bytes the library writes (prepared once up front: same key,
value and headers) with the same producer settings (``producer_config``: idempotence,
acks=all, murmur2_random, linger, lz4) and a counting delivery callback; the library does
the whole job per event: validate, build the envelope, encode, sign, produce. Rounds
alternate so both sides see the same noise on a shared machine; medians are reported.

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python -m bench.producer_bench [--events N]
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path

from confluent_kafka import Producer

from bench.harness import Result, Stopwatch, median, rate
from tidings.contracts.headers import Headers
from tidings.contracts.topics import Topics
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.kafka.admin import ensure_topics
from tidings.kafka.config import producer_config
from tidings.ops.admin import create_client, load_directory
from tidings.producer import NotificationProducer, PreparedEvent
from tidings.settings import Settings

RESULTS = Path(__file__).parent / "results" / "producer.json"
BODY = {
    "type": "content.approved",
    # Users and role of the bench directory (scenarios/env.py): the library checks them.
    "recipients": {"users": ["u-1", "u-2"], "roles": ["r"]},
    "payload": {"content_id": "c-0001"},
    "source": {"reference": "bench"},
}


def bare_loop(producer: Producer, topic: str, records: list[tuple[bytes, bytes, Headers]]) -> float:
    acked = 0

    def on_delivery(err: object, msg: object) -> None:
        nonlocal acked
        acked += err is None

    with Stopwatch() as watch:
        for key, value, headers in records:
            while True:
                try:
                    producer.produce(
                        topic, key=key, value=value, headers=headers, on_delivery=on_delivery
                    )
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        producer.flush(120)
    assert acked == len(records), f"bare loop: {acked}/{len(records)} acknowledged"
    return rate(len(records), watch.seconds)


def library_loop(producer: NotificationProducer, n: int) -> float:
    with Stopwatch() as watch:
        for _ in range(n):
            producer.send(BODY)
        acks = producer.flush(120)
    assert sum(a.acknowledged for a in acks) == n, "library: not every event acknowledged"
    return rate(n, watch.seconds)


def prepared_loop(producer: NotificationProducer, events: list[PreparedEvent]) -> float:
    """The library's I/O path alone (events prepared up front): its overhead over bare."""
    with Stopwatch() as watch:
        for event in events:
            producer.send_prepared(event)
        acks = producer.flush(120)
    assert sum(a.acknowledged for a in acks) == len(events), "prepared: not every event acked"
    return rate(len(events), watch.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings(topic_prefix=f"bench.producer.{uuid.uuid4().hex[:8]}.")
    ensure_topics(settings)
    topic = Topics(settings).events.name
    load_directory(
        settings, [f'{{"tenant": "acme", "id": "u-{i}", "roles": ["r"]}}' for i in (1, 2)]
    )
    client = create_client(settings, "acme", ["notifications:write"], signing_key=True)
    assert client.signing_key is not None
    library = NotificationProducer(
        settings,
        tenant="acme",
        client_id=client.client.client_id,
        signing_key=client.signing_key,
        schemas=PayloadSchemas(bundled_payload_schemas()),
    )
    prepared = [library.prepare(BODY) for _ in range(args.events)]
    records = [(e.key, e.value, e.headers) for e in prepared]
    # Both producers are built (and connected) before timing starts, and reused every round.
    bare_producer = Producer(producer_config(settings, "bench-bare"))
    bare_producer.list_topics(topic, timeout=10)
    library.send_prepared(prepared[0])
    library.flush(30)
    bare, lib, io = [], [], []
    for _ in range(args.rounds):
        bare.append(bare_loop(bare_producer, topic, records))
        lib.append(library_loop(library, args.events))
        io.append(prepared_loop(library, prepared))
    library.close()
    results = [
        Result(
            "producer",
            "bare confluent-kafka loop",
            median(bare),
            "events/s",
            extra={"rounds": bare},
        ),
        Result(
            "producer", "NotificationProducer.send", median(lib), "events/s", extra={"rounds": lib}
        ),
    ]
    ratio = round(median(lib) / median(bare), 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "events": args.events,
                "results": [r.as_dict() for r in results],
                "ratios": {
                    "producer_library_vs_bare": ratio,
                    "producer_io_path_vs_bare": round(median(io) / median(bare), 3),
                },
            },
            indent=2,
        )
        + "\n"
    )
    print(f"bare loop: {median(bare)} events/s {bare}")
    print(f"NotificationProducer: {median(lib)} events/s {lib}")
    print(f"NotificationProducer.send_prepared (I/O path only): {median(io)} events/s {io}")
    print(f"ratio library/bare: {ratio}; I/O path/bare: {median(io) / median(bare):.3f}")


if __name__ == "__main__":
    main()
