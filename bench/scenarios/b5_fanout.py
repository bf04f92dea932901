"""B5: fan-out throughput at 1, 10 and 100 recipients per event, in delivery requests/s.
The 1-recipient chunks are the ones B4's resolver wrote; for 10 and 100 a resolver turns
freshly produced events into chunks first (untimed), then a fresh fan-out drains them."""

from __future__ import annotations

from bench.harness import ProcessSampler, Result, rate
from bench.scenarios.drain import DrainWatch, wait_drained
from bench.scenarios.env import Env
from bench.scenarios.services import produced, start_processor
from tidings.contracts.topics import Topics


def _fanout(env: Env, recipients: int, events: int) -> Result:
    settings = env.settings
    resolved = [Topics(settings).resolved.name]
    group = f"{env.prefix}fanout"
    watch = DrainWatch(settings, group, resolved)
    proc, base = start_processor(env, "fanout")
    with ProcessSampler({"fanout": proc.pid}) as s:
        drain = wait_drained(settings, group, resolved, env.seconds(300, 90), slack=1, watch=watch)
    deliveries = produced(base, f"{env.prefix}deliveries")
    env.stop(proc)
    chunks_per_s = rate(drain.offsets, drain.seconds)
    # The rate over the timed window: deliveries in proportion to the chunks it covered.
    total_chunks = max(1, events)
    out_rate = round(chunks_per_s * deliveries / total_chunks, 1)
    return Result(
        "B5",
        f"fan-out {recipients} recipient(s)/event",
        out_rate,
        "deliveries/s",
        extra={
            "events": events,
            "events_per_s": chunks_per_s,
            "deliveries": deliveries,
            "drained": drain.drained,
        },
    ).with_processes(s)


def run(env: Env) -> list[Result]:
    settings = env.settings
    results = [_fanout(env, 1, int(env.facts.get("b4_events", 0)))]
    env.facts["b5_fanout1_eps"] = float(results[0].extra["events_per_s"])
    resolver, _ = start_processor(env, "resolver")
    try:
        for recipients, full, quick in ((10, 4_000, 400), (100, 1_000, 100)):
            n = int(env.seconds(full, quick))
            env.prefill(n, recipients)
            wait_drained(settings, f"{env.prefix}resolver", [Topics(settings).events.name], 300)
            results.append(_fanout(env, recipients, n))
    finally:
        env.stop(resolver)
    return results
