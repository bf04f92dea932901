"""B4's baseline: a bare exactly-once consume → produce → commit loop with the resolver's
transaction settings (same producer/consumer config, batch size and commit interval) and
no work per record beyond copying it ``--outputs`` times (the resolver writes four records
per direct event: accepted, resolving, one chunk, resolved). Runs until SIGTERM.

    python -m bench.bare_eos_loop --input T --output T2 --group G
"""

from __future__ import annotations

import argparse
import signal
import threading

from confluent_kafka import Consumer, Producer, TopicPartition

from tidings.kafka.config import consumer_config, producer_config
from tidings.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--outputs", type=int, default=4)
    args = parser.parse_args()
    settings = Settings()
    p = settings.processing
    timeout_s = settings.kafka.transaction_timeout_ms / 1000
    conf = consumer_config(settings, "bench-bare-eos", args.group)
    conf["partition.assignment.strategy"] = "range"
    consumer = Consumer(conf)
    producer = Producer(
        producer_config(settings, "bench-bare-eos", transactional_id=f"{args.group}.txn")
    )
    producer.init_transactions(timeout_s)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    consumer.subscribe([args.input])
    poll_s = max(0.05, p.commit_interval_ms / 1000)
    while not stop.is_set():
        msgs = [m for m in consumer.consume(p.resolver_batch, poll_s) if m.error() is None]
        if not msgs:
            continue
        producer.begin_transaction()
        offsets: dict[tuple[str, int], int] = {}
        for m in msgs:
            for _ in range(args.outputs):
                producer.produce(args.output, m.value(), m.key(), headers=m.headers())
            offsets[(str(m.topic()), int(m.partition() or 0))] = int(m.offset() or 0) + 1
        producer.send_offsets_to_transaction(
            [TopicPartition(t, part, o) for (t, part), o in offsets.items()],
            consumer.consumer_group_metadata(),
            timeout_s,
        )
        producer.commit_transaction(timeout_s)
    consumer.close()


if __name__ == "__main__":
    main()
