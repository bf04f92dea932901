"""B9: views in local stores (tidings/stores) — memory and start-up that do not grow with
the data, and large audiences resolved no slower than from the in-memory directory.

1. A resolver whose directory holds 10,000,000 users (200,000 with --quick), written
   straight to the directory topic: its RSS while it restores and once ready, and the
   restore time (process start to /healthz 200).
2. Ingest and resolver with 2,000,000 historical events (100,000 with --quick) and their
   state records (accepted and dispatched) on the topics, against the same two with none:
   RSS once ready (ratio), then a clean stop and a restart: process start to ready. The
   historical events are older than the key window and behind the resolver's committed
   offsets: what the services hold of them is the state topic.
3. In process: a role of 100,000 members and a rule matching 100,000 of 1,000,000 users
   (10x fewer with --quick), resolved from the stores and with the algorithm and in-memory
   directory this change replaced (every user tested by ``matches``, each recipient
   looked up in a dict). CPU seconds of this process (the machine is shared), best of three
   after one cold run, each reported.

Every part has a topic prefix and a data directory of its own, removed afterwards.
"""

from __future__ import annotations

import gc
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from confluent_kafka import Producer

from bench.harness import ProcessSampler, Result, median, rate
from bench.scenarios.b3_ingest_http import start_ingest
from bench.scenarios.drain import skip_to_end
from bench.scenarios.env import BENCH, Env
from bench.scenarios.services import start_processor
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import partition_for, tenant_partition
from tidings.contracts.state import Stage, state_record
from tidings.contracts.topics import Topics, event_key, state_key, user_key
from tidings.domain.directory import Directory, User
from tidings.domain.rules import Rule, matches, parse_rules
from tidings.kafka.admin import ensure_topics
from tidings.kafka.config import producer_config
from tidings.settings import Settings
from tidings.stores.cache import HotCache
from tidings.stores.changelog import Change, ChangelogStores
from tidings.stores.directory import DirectoryTable, StoreDirectory
from tidings.stores.schemas import SchemaRegistry
from tidings_resolver.resolution import (
    INACTIVE,
    MUTED,
    NO_ADDRESS,
    UNKNOWN,
    Recipient,
    Resolution,
    resolve,
)

CODEC = Codec()
DIRECTORY_TENANT = "big"
HISTORY_TENANTS = 64
WINDOW_AGO_MS = 3 * 24 * 3600 * 1000  # historical: well before the 24 h key window


def _producer(settings: Settings, name: str) -> Producer:
    conf = producer_config(settings, name)
    conf.update({"linger.ms": 50, "batch.size": 1 << 20})
    return Producer(conf)


def _produce(
    producer: Producer,
    topic: str,
    value: bytes,
    key: bytes,
    partition: int = -1,
    timestamp: int = 0,
) -> None:
    while True:
        try:
            producer.produce(topic, value, key, partition=partition, timestamp=timestamp)
            break
        except BufferError:
            producer.poll(0.05)
    producer.poll(0)


def _user(i: int) -> dict[str, Any]:
    return {
        "tenant": DIRECTORY_TENANT,
        "id": f"user-{i:08d}",
        "active": True,
        "roles": ["member", f"team-{i % 50}"] + (["big-role"] if i % 10 == 0 else []),
        "groups": [f"g-{i % 1000}"],
        "attributes": {
            "locale": "en",
            "plan": "pro" if i % 3 else "free",
            "tier": "gold" if i % 10 == 3 else "std",
        },
        "channels": {"email": f"user-{i:08d}@example.test"},
        "muted": [],
    }


def _part(env: Env, name: str) -> tuple[Settings, Path, dict[str, str]]:
    """A topic prefix and a data directory of this part's own, and the services' env."""
    prefix = f"{env.prefix}b9{name}."
    settings = Settings(topic_prefix=prefix)
    ensure_topics(settings)
    registry = SchemaRegistry(settings).start()
    registry.wait_ready(60)
    registry.register_bundled()
    registry.stop()
    data = BENCH.parent / "var" / "bench" / f"b9-{prefix.rstrip('.')}"  # one per run and part
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    extra = {
        "TIDINGS_TOPIC_PREFIX": prefix,
        "TIDINGS_DATA_DIR": str(data),
        # A first start builds the stores from the whole topic: minutes for 10M users.
        "TIDINGS_PROCESSING__RESTORE_TIMEOUT_S": "7200",
    }
    return settings, data, extra


# -- 1. a resolver over a large directory ----------------------------------------------------


def directory_users(env: Env) -> list[Result]:
    n = int(env.seconds(10_000_000, 200_000))
    settings, data, extra = _part(env, "dir")
    topic = Topics(settings).directory.name
    started = time.monotonic()
    producer = _producer(settings, "bench-b9-directory")
    for i in range(n):
        record = _user(i)
        key = user_key(DIRECTORY_TENANT, record["id"])
        _produce(producer, topic, CODEC.encode("directory_entry", record, validate=False), key)
    if producer.flush(300):
        raise RuntimeError("directory load: not every user was acknowledged")
    load_s = time.monotonic() - started
    print(f"   B9 directory: {n:,} users written in {load_s:.0f} s", flush=True)
    with RestoreSampler("tidings-resolver") as restoring:
        started = time.monotonic()
        proc, _ = start_processor(env, "resolver", timeout_s=7200, **extra)
        restore_s = time.monotonic() - started
    with ProcessSampler({"resolver": proc.pid}) as ready:
        time.sleep(5)
    env.stop(proc)
    steady = median(ready.stats["resolver"].samples_rss_mb)
    env.facts["b9_resolver_rss_10m_users_mb"] = round(max(restoring.peak_mb, steady), 1)
    env.facts["b9_resolver_restore_10m_users_s"] = round(restore_s, 1)
    disk_mb = _disk_mb(data)
    shutil.rmtree(data, ignore_errors=True)
    return [
        Result(
            "B9",
            f"resolver restoring {n:,} directory users into its stores",
            rate(n, restore_s),
            "users/s restored",
            extra={
                "users": n,
                "load_s": round(load_s, 1),
                "restore_s": round(restore_s, 1),
                "peak_rss_restoring_mb": round(restoring.peak_mb, 1),
                "rss_ready_median_mb": round(steady, 1),
                "store_disk_mb": disk_mb,
            },
        ).with_processes(ready)
    ]


class RestoreSampler:
    """Peak RSS of a child process of this run (matched by its command line) from before it
    is started until it is ready: ``start_processor`` returns only once it is."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RestoreSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for child in me.children(recursive=True):
                try:
                    if self.command in " ".join(child.cmdline()):
                        self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                except psutil.Error:
                    continue
            self._stop.wait(0.2)


def _disk_mb(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


# -- 2. history on the topics ----------------------------------------------------------------


def write_history(settings: Settings, events: int) -> None:
    """``events`` old events (one envelope's bytes: nobody reads them) and, per event, an
    ``accepted`` and a ``dispatched`` state record in its tenant's state partition."""
    topics = Topics(settings)
    producer = _producer(settings, "bench-b9-history")
    at = int(time.time() * 1000) - WINDOW_AGO_MS
    event_value = b"historical event, behind the resolver's committed offsets"
    for i in range(events):
        tenant = f"h{i % HISTORY_TENANTS}"
        event_id = f"hist-{i:09d}"
        partition = tenant_partition(tenant, topics.state.partitions)
        _produce(producer, topics.events.name, event_value, event_key(tenant), partition, at)
        for stage in (Stage.ACCEPTED, Stage.DISPATCHED):
            record = state_record(
                event_id, tenant, stage, type_="content.approved", at=at, accepted_at=at
            )
            value = CODEC.encode("state", record, validate=False)
            _produce(producer, topics.state.name, value, state_key(tenant, event_id), partition)
    if producer.flush(300):
        raise RuntimeError("history: not every record was acknowledged")


def _start_pair(
    env: Env, extra: dict[str, str]
) -> tuple[dict[str, subprocess.Popen[bytes]], float]:
    """Ingest and resolver; seconds from the first start to the last ready."""
    started = time.monotonic()
    resolver, _ = start_processor(env, "resolver", **extra)
    # A first start over 2,000,000 events' states builds the ingest's stores: minutes.
    ingest, _ = start_ingest(env, timeout_s=1200, **extra)
    return {"tidings_ingest": ingest, "resolver": resolver}, time.monotonic() - started


def _steady_rss(procs: dict[str, subprocess.Popen[bytes]], seconds: float) -> dict[str, float]:
    with ProcessSampler({name: p.pid for name, p in procs.items()}) as s:
        time.sleep(seconds)
    return {name: median(st.samples_rss_mb) for name, st in s.stats.items()}


def history(env: Env) -> list[Result]:
    events = int(env.seconds(2_000_000, 100_000))
    settle = env.seconds(8, 3)
    results: list[Result] = []
    _, none_data, none_env = _part(env, "none")
    procs, _ = _start_pair(env, none_env)
    base = _steady_rss(procs, settle)
    for p in procs.values():
        env.stop(p)

    settings, data, extra = _part(env, "hist")
    started = time.monotonic()
    write_history(settings, events)
    written_s = time.monotonic() - started
    topics = Topics(settings)
    skip_to_end(
        settings, f"{settings.topic_prefix}resolver", [topics.events.name, topics.retry.name]
    )
    print(
        f"   B9 history: {events:,} events + {2 * events:,} states in {written_s:.0f} s", flush=True
    )
    procs, first_s = _start_pair(env, extra)
    loaded = _steady_rss(procs, settle)
    for p in procs.values():  # a clean stop: stores closed, checkpoints written
        env.stop(p)
    disk = {
        "tidings_ingest" if ".ingest." in d.name else "resolver": _disk_mb(d)
        for d in (data / "stores").iterdir()
    }
    restart: dict[str, float] = {}
    started = time.monotonic()
    resolver, _ = start_processor(env, "resolver", **extra)
    restart["resolver"] = time.monotonic() - started
    started = time.monotonic()
    ingest, _ = start_ingest(env, timeout_s=1200, **extra)
    restart["tidings_ingest"] = time.monotonic() - started
    procs = {"tidings_ingest": ingest, "resolver": resolver}
    again = _steady_rss(procs, settle)
    for p in procs.values():
        env.stop(p)
    growth = {name: loaded[name] / base[name] for name in base}
    env.facts["b9_rss_growth_with_history"] = round(max(growth.values()), 3)
    env.facts["b9_restart_catchup_s"] = round(max(restart.values()), 2)
    for path in (none_data, data):
        shutil.rmtree(path, ignore_errors=True)
    results.append(
        Result(
            "B9",
            f"ingest + resolver with {events:,} historical events and their states",
            round(first_s, 1),
            "s to ready (first start, stores built)",
            extra={
                "events": events,
                "state_records": 2 * events,
                "write_s": round(written_s, 1),
                "rss_without_history_mb": base,
                "rss_with_history_mb": loaded,
                "rss_after_restart_mb": again,
                "rss_growth": {k: round(v, 3) for k, v in growth.items()},
                "restart_to_ready_s": {k: round(v, 2) for k, v in restart.items()},
                "store_disk_mb": disk,
            },
        )
    )
    return results


# -- 3. large audiences ---------------------------------------------------------------------


def resolve_before(
    tenant: str,
    users: Sequence[str],
    roles: Sequence[str],
    groups: Sequence[str],
    rules: Sequence[Rule],
    directory: Directory,
    channels: Sequence[str],
) -> Resolution:
    """Resolution as it was before the stores (git history: tidings_resolver/resolution.py):
    every user of the tenant tested against each rule, each recipient looked up by id."""
    matched: dict[str, list[str]] = {}
    result = Resolution()
    for user_id in users:
        if directory.get(tenant, user_id) is None:
            result.skipped[UNKNOWN] += 1
        else:
            matched.setdefault(user_id, []).append("user")
    for role in roles:
        tag = f"role:{role}"
        for user_id in directory.role_members(tenant, role):
            matched.setdefault(user_id, []).append(tag)
    for group in groups:
        tag = f"group:{group}"
        for user_id in directory.group_members(tenant, group):
            matched.setdefault(user_id, []).append(tag)
    if rules:
        tags = [f"rule:{i}" for i in range(len(rules))]
        for user in directory.users(tenant):
            for tag, rule in zip(tags, rules, strict=True):
                if matches(rule, user.attributes):
                    matched.setdefault(user.id, []).append(tag)
    for user_id in sorted(matched):
        found = directory.get(tenant, user_id)
        if found is None:
            result.skipped[UNKNOWN] += 1
            continue
        if not found.active:
            result.skipped[INACTIVE] += 1
            continue
        chosen, reason = choose_channels_before(found, channels)
        if reason is not None:
            result.skipped[reason] += 1
            continue
        result.recipients.append(Recipient(user_id, tuple(matched[user_id]), chosen))
    return result


def choose_channels_before(
    user: User, channels: Sequence[str]
) -> tuple[dict[str, str], str | None]:
    """``choose_channels`` as it was before the stores."""
    reachable = {c: user.channels[c] for c in channels if c in user.channels}
    chosen = {c: a for c, a in reachable.items() if c not in user.muted}
    if chosen:
        return chosen, None
    return chosen, MUTED if reachable else NO_ADDRESS


def _cpu(run: Callable[[], Resolution]) -> tuple[float, Resolution]:
    started = time.process_time()
    out = run()
    return time.process_time() - started, out


def _timed(run: Callable[[], Resolution]) -> dict[str, float]:
    cold, _ = _cpu(run)
    warm = min(_cpu(run)[0] for _ in range(3))
    return {"cold_cpu_s": round(cold, 3), "best_cpu_s": round(warm, 3)}


def audiences(env: Env) -> list[Result]:
    n = int(env.seconds(1_000_000, 100_000))
    partitions = 12
    spec = Topics(Settings(topic_prefix=f"{env.prefix}b9res.")).directory
    memory = Directory()
    cache: HotCache[bytes, User] = HotCache(10_000)
    root = Path(tempfile.mkdtemp(prefix="b9-audiences-"))
    stores = ChangelogStores(root, "directory", spec, DirectoryTable(CODEC, cache))
    stores.open(range(partitions), {})
    stored = StoreDirectory(stores, CODEC, cache)
    pending: dict[int, list[Change]] = {p: [] for p in range(partitions)}
    offsets = Counter[int]()
    for i in range(n):
        record = _user(i)
        memory.put(User.from_record(record))
        key = user_key(DIRECTORY_TENANT, record["id"])
        p = partition_for(key, partitions)
        value = CODEC.encode("directory_entry", record, validate=False)
        pending[p].append(Change(p, offsets[p], key, value))
        offsets[p] += 1
        if len(pending[p]) >= 1000:
            stores.apply(pending[p])
            pending[p] = []
    for rest in pending.values():
        if rest:
            stores.apply(rest)
    for _, store in stores.open_stores():
        store.flush()
    # The in-memory directory's million users would otherwise be traversed by every
    # collection the measured code triggers (a resolver holding its directory in stores has
    # no such heap): both sides are measured with them frozen out of the collector.
    gc.collect()
    gc.freeze()
    rule = parse_rules([{"attribute": "tier", "equals": "gold"}])
    channels = ["email", "in_app"]
    t = DIRECTORY_TENANT
    cases = {
        "role": (
            lambda: resolve(t, [], ["big-role"], [], [], stored, channels),
            lambda: resolve_before(t, [], ["big-role"], [], [], memory, channels),
        ),
        "rule": (
            lambda: resolve(t, [], [], [], rule, stored, channels),
            lambda: resolve_before(t, [], [], [], rule, memory, channels),
        ),
    }
    results = []
    for name, (from_stores, before) in cases.items():
        a, b = from_stores(), before()
        if a != b:
            raise RuntimeError(f"B9 {name}: the stores resolve differently from the reference")
        store_t, memory_t = _timed(from_stores), _timed(before)
        env.facts[f"b9_{name}_100k_store_s"] = store_t["best_cpu_s"]
        env.facts[f"b9_{name}_100k_memory_s"] = memory_t["best_cpu_s"]
        results.append(
            Result(
                "B9",
                f"{name} of {len(a.recipients):,} recipients among {n:,} users",
                round(memory_t["best_cpu_s"] / store_t["best_cpu_s"], 2),
                "x (in-memory CPU s / stores CPU s)",
                extra={"recipients": len(a.recipients), "stores": store_t, "in_memory": memory_t},
            )
        )
    stores.close_all()
    shutil.rmtree(root, ignore_errors=True)
    gc.unfreeze()
    return results


def run(env: Env) -> list[Result]:
    return [*audiences(env), *history(env), *directory_users(env)]
