"""B7: a resolver holding a large directory in memory: 1,000,000 users (50,000 with --quick,
extrapolated above the idle resolver's RSS). Users are realistic: two roles, a group, two
attributes, an email address."""

from __future__ import annotations

import time

from confluent_kafka import Producer

from bench.harness import ProcessSampler, Result, rate
from bench.scenarios.env import Env
from bench.scenarios.services import start_processor
from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, user_key
from tidings.kafka.config import producer_config

TENANT = "big"


def load_users(env: Env, n: int) -> None:
    codec = Codec()
    topic = Topics(env.settings).directory.name
    producer = Producer(producer_config(env.settings, "bench-directory"))
    for i in range(n):
        record = {
            "tenant": TENANT,
            "id": f"user-{i:07d}",
            "active": True,
            "roles": ["member", f"team-{i % 50}"],
            "groups": [f"g-{i % 1000}"],
            "attributes": {"locale": "en", "plan": "pro" if i % 3 else "free"},
            "channels": {"email": f"user-{i:07d}@example.test"},
            "muted": [],
        }
        while True:
            try:
                producer.produce(
                    topic,
                    codec.encode("directory_entry", record),
                    user_key(TENANT, f"user-{i:07d}"),
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("directory load: not every user was acknowledged")


def run(env: Env) -> list[Result]:
    n = int(env.seconds(1_000_000, 50_000))
    started = time.monotonic()
    load_users(env, n)
    loaded_s = time.monotonic() - started
    started = time.monotonic()
    proc, _ = start_processor(env, "resolver")
    restore_s = time.monotonic() - started
    with ProcessSampler({"resolver": proc.pid}) as sampler:
        time.sleep(3)
    env.stop(proc)
    result = Result(
        "B7",
        f"resolver with {n:,} directory users",
        rate(n, restore_s),
        "users/s restored",
        extra={"users": n, "load_s": round(loaded_s, 1), "restore_s": round(restore_s, 1)},
    ).with_processes(sampler)
    rss = result.processes["resolver"]["peak_rss_mb"]
    # With fewer users (--quick), the idle resolver's own RSS is not scaled up with them.
    idle = min(env.facts.get("resolver_idle_rss_mb", 0.0), rss)
    env.facts["b7_directory_rss_1m_mb"] = idle + (rss - idle) * 1_000_000 / n
    result.extra["rss_for_1m_users_mb"] = round(env.facts["b7_directory_rss_1m_mb"], 1)
    env.facts["b7_directory_users"] = n
    return [result]
