"""B4: the resolver draining pre-filled events against a bare exactly-once consume →
produce → commit loop (bench/bare_eos_loop.py) with the same transaction settings, over
the same events; the commit interval is ``--commit-interval-ms``."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from bench.harness import ProcessSampler, Result, rate
from bench.scenarios.drain import DrainWatch, skip_to_end, wait_drained
from bench.scenarios.env import Env
from bench.scenarios.services import start_bare_loop, start_processor
from tidings.contracts.topics import Topics


def _sink(env: Env) -> str:
    name = f"{env.prefix}bench.sink"
    admin = AdminClient({"bootstrap.servers": env.settings.bootstrap_servers})
    for future in admin.create_topics([NewTopic(name, 12, 1)]).values():
        future.result()
    return name


def run(env: Env) -> list[Result]:
    settings = env.settings
    topics = Topics(settings)
    events = [topics.events.name]
    bare_group = f"{env.prefix}bench-bare-eos"
    resolver_group = f"{env.prefix}resolver"
    # Whatever earlier scenarios wrote is not part of this drain.
    skip_to_end(settings, bare_group, events)
    skip_to_end(settings, resolver_group, [*events, topics.retry.name])
    n = int(env.seconds(20_000, 4_000))
    env.prefill(n, 1)
    timeout = env.seconds(300, 90)
    results = []
    watch = DrainWatch(settings, bare_group, events)
    bare = start_bare_loop(env, events[0], _sink(env), bare_group)
    with ProcessSampler({"bare_eos_loop": bare.pid}) as s:
        drain = wait_drained(settings, bare_group, events, timeout, watch=watch)
    env.stop(bare)
    extra = {"events": n, "commit_interval_ms": env.commit_interval_ms, "drained": drain.drained}
    results.append(
        Result(
            "B4", "bare EOS loop", rate(drain.offsets, drain.seconds), "events/s", extra=extra
        ).with_processes(s)
    )
    watch = DrainWatch(settings, resolver_group, events)
    resolver, _ = start_processor(env, "resolver")
    with ProcessSampler({"resolver": resolver.pid}) as s:
        drain = wait_drained(settings, resolver_group, events, timeout, watch=watch)
    env.stop(resolver)
    results.append(
        Result(
            "B4",
            "resolver drain",
            rate(drain.offsets, drain.seconds),
            "events/s",
            extra={**extra, "drained": drain.drained},
        ).with_processes(s)
    )
    env.facts["b4_bare_eps"] = results[0].throughput
    env.facts["b4_resolver_eps"] = results[1].throughput
    env.facts["b4_events"] = n
    return results
