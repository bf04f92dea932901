"""B1: a bare confluent-kafka produce loop of the library's own bytes with the production
producer settings (idempotence, acks=all); B2: ``NotificationProducer.send`` (validate,
envelope, Avro, sign, produce) on the same machine, rounds alternated, medians kept."""

from __future__ import annotations

import os

from confluent_kafka import Producer

from bench.harness import ProcessSampler, Result, median
from bench.producer_bench import BODY, bare_loop, library_loop
from bench.scenarios.env import Env
from tidings.contracts.topics import Topics
from tidings.kafka.config import producer_config


def run(env: Env) -> list[Result]:
    settings = env.settings
    topic = Topics(settings).events.name
    library = env.producer()
    n = 20_000  # fewer and the bare loop measures its start-up and final flush, not its rate
    prepared = [library.prepare(BODY) for _ in range(n)]
    records = [(e.key, e.value, e.headers) for e in prepared]
    bare_producer = Producer(producer_config(settings, "bench-bare"))
    bare_producer.list_topics(topic, timeout=10)
    library.send_prepared(prepared[0])
    library.flush(30)
    bare: list[float] = []
    lib: list[float] = []
    samplers: dict[str, list[ProcessSampler]] = {"bare": [], "lib": []}
    for _ in range(1 if env.quick else 3):
        with ProcessSampler({"bench": os.getpid()}) as s:
            bare.append(bare_loop(bare_producer, topic, records))
        samplers["bare"].append(s)
        with ProcessSampler({"bench": os.getpid()}) as s:
            lib.append(library_loop(library, n))
        samplers["lib"].append(s)
    library.close()
    bare_producer.flush(30)
    env.facts["b1_eps"], env.facts["b2_eps"] = median(bare), median(lib)
    return [
        Result(
            "B1", "bare produce loop", median(bare), "events/s", extra={"rounds": bare}
        ).with_processes(samplers["bare"][-1]),
        Result(
            "B2", "NotificationProducer.send", median(lib), "events/s", extra={"rounds": lib}
        ).with_processes(samplers["lib"][-1]),
    ]
