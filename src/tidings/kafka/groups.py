"""Consumer groups as an operator sees them: state, members, committed offsets, lag, rates.

Read-only; nothing joins a group. Lag is the *last stable offset* (the high watermark a
read_committed consumer can reach, ``list_offsets`` at READ_COMMITTED) minus the group's
committed offset. A partition the group never committed counts from its log start, where
``auto.offset.reset=earliest`` would start it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from tidings.contracts.topics import Topics
from tidings.kafka.admin import admin_client
from tidings.kafka.config import consumer_config
from tidings.kafka.consumer import BEGINNING, PartitionReader
from tidings.settings import Settings

TP = tuple[str, int]
RATE_WINDOW_S = 60.0  # events/s in and out: over the last minute
LATEST = OffsetSpec.latest()  # type: ignore[no-untyped-call]
EARLIEST = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class PipelineGroup:
    """One stage's consumer group: what it reads, and what only it writes."""

    service: str
    group: str
    inputs: list[str]
    outputs: list[str]


def pipeline_groups(settings: Settings) -> list[PipelineGroup]:
    """The consumer groups of the pipeline, as the services subscribe."""
    t, p = Topics(settings), settings.topic_prefix
    return [
        PipelineGroup("resolver", f"{p}resolver", [t.events.name, t.retry.name], [t.resolved.name]),
        PipelineGroup(
            "fanout", f"{p}fanout", [t.resolved.name], [s.name for s in t.deliveries.values()]
        ),
    ]


@dataclass(frozen=True)
class Member:
    client_id: str
    host: str
    partitions: list[TP]


@dataclass
class PartitionLag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed this partition
    end: int  # last stable offset
    lag: int
    oldest_ms: int | None = None  # timestamp of the record at the committed offset (lag > 0)


@dataclass
class GroupStatus:
    group: str
    state: str
    members: list[Member]
    partitions: list[PartitionLag]
    # Records appended over the last ``window_s`` seconds, as offsets moved: to the inputs
    # (in), and to the outputs only this stage writes, in its transactions (out: resolved
    # chunks of the resolver, deliveries of the fan-out). Offsets count transaction markers
    # too, one per partition a transaction wrote.
    in_per_s: float
    out_per_s: float
    window_s: float
    now_ms: int

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def oldest_age_s(self) -> float | None:
        """Age of the oldest unprocessed record of the group (0 when there is no lag)."""
        if self.lag == 0:
            return 0.0
        stamps = [p.oldest_ms for p in self.partitions if p.lag > 0 and p.oldest_ms is not None]
        return max(0.0, (self.now_ms - min(stamps)) / 1000) if stamps else None


def group_status(
    settings: Settings,
    groups: list[PipelineGroup],
    window_s: float = RATE_WINDOW_S,
    timeout_s: float = 10,
) -> list[GroupStatus]:
    """One status per group, rates over the last ``window_s`` seconds, asked of the broker
    at once (no sampling wait): the offsets the inputs and outputs held ``window_s`` ago
    (``for_timestamp``) against their ends now."""
    admin = admin_client(settings)
    described = {
        g: f.result() for g, f in admin.describe_consumer_groups([g.group for g in groups]).items()
    }
    topics = {t for g in groups for t in [*g.inputs, *g.outputs]}
    partitions = _partitions(admin, topics, timeout_s)
    committed = {g.group: _committed(admin, g.group, timeout_s) for g in groups}
    now_ms = int(time.time() * 1000)
    ends = _offsets(admin, partitions, LATEST, timeout_s)
    starts = _offsets(admin, partitions, EARLIEST, timeout_s)
    since = _offsets(
        admin, partitions, OffsetSpec.for_timestamp(now_ms - int(window_s * 1000)), timeout_s
    )

    def appended(names: list[str]) -> int:
        # for_timestamp answers -1 when no record is that recent: nothing appended since.
        tps = [tp for tp in partitions if tp[0] in names]
        return sum(ends[tp] - since[tp] for tp in tps if 0 <= since[tp] <= ends[tp])

    out: list[GroupStatus] = []
    for group in groups:
        lags = []
        for tp in [tp for tp in partitions if tp[0] in group.inputs]:
            at = committed[group.group].get(tp)
            start = at if at is not None else starts[tp]
            lags.append(PartitionLag(tp[0], tp[1], at, ends[tp], max(0, ends[tp] - start)))
        _read_oldest(settings, lags)
        desc = described[group.group]
        out.append(
            GroupStatus(
                group=group.group,
                state=str(getattr(desc.state, "name", desc.state)),
                members=[
                    Member(
                        m.client_id,
                        m.host,
                        sorted((tp.topic, tp.partition) for tp in m.assignment.topic_partitions),
                    )
                    for m in desc.members
                ],
                partitions=lags,
                in_per_s=appended(group.inputs) / window_s,
                out_per_s=appended(group.outputs) / window_s,
                window_s=window_s,
                now_ms=now_ms,
            )
        )
    return out


def _partitions(admin: AdminClient, topics: Iterable[str], timeout_s: float) -> list[TP]:
    meta = admin.list_topics(timeout=timeout_s).topics
    return sorted((t, p) for t in topics if t in meta for p in meta[t].partitions)


def _committed(admin: AdminClient, group: str, timeout_s: float) -> dict[TP, int]:
    request = [ConsumerGroupTopicPartitions(group)]
    futures = admin.list_consumer_group_offsets(request, request_timeout=timeout_s)
    result = futures[group].result()
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in result.topic_partitions or []
        if tp.offset >= 0 and tp.error is None
    }


def _offsets(
    admin: AdminClient, partitions: list[TP], spec: OffsetSpec, timeout_s: float
) -> dict[TP, int]:
    if not partitions:
        return {}
    futures = admin.list_offsets(
        {TopicPartition(t, p): spec for t, p in partitions},
        isolation_level=IsolationLevel.READ_COMMITTED,
        request_timeout=timeout_s,
    )
    return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}


def _read_oldest(settings: Settings, lags: list[PartitionLag], wait_s: float = 3.0) -> None:
    """Read the next record each lagging partition will process (assign-only, read_committed):
    its timestamp is ``oldest_ms``, and the lag counts from its offset, because transaction
    markers (written by transactional producers, never delivered) take offsets too. A
    partition whose reader reaches the end without a record holds only markers: lag 0."""
    by_topic: dict[str, dict[int, PartitionLag]] = {}
    for lag in lags:
        if lag.lag > 0:
            by_topic.setdefault(lag.topic, {})[lag.partition] = lag
    for topic, wanted in by_topic.items():
        reader = PartitionReader(settings, f"status-{time.monotonic_ns()}", topic)
        try:
            reader.assign(
                {
                    p: (BEGINNING if lag.committed is None else lag.committed)
                    for p, lag in wanted.items()
                }
            )
            deadline = time.monotonic() + wait_s
            pending = set(wanted)
            while pending and time.monotonic() < deadline:
                for msg in reader.take(len(pending) * 100, 0.2):
                    p = int(msg.partition() or 0)
                    if p in pending:
                        pending.discard(p)
                        wanted[p].oldest_ms = int(msg.timestamp()[1])
                        wanted[p].lag = max(0, wanted[p].end - int(msg.offset() or 0))
                at = reader.positions(pending)
                for p in [p for p in pending if at.get(p, -1) >= wanted[p].end]:
                    pending.discard(p)
                    wanted[p].lag = 0
        finally:
            reader.close()


class GroupPositions:
    """Where a consumer group stands on one topic, as cheaply as it can be asked (ingest's
    backpressure samples it every second): ``read()`` -> partition -> (committed offset,
    end). A partition the group never committed counts from its log start, where
    ``auto.offset.reset=earliest`` starts it.

    A plain consumer configured with the group's id that never subscribes asks both: the
    group's committed offsets (``committed``: an OffsetFetch, it does not join the group) and
    each partition's log start and last stable offset (watermarks at read_committed). No
    AdminClient: periodic admin requests timing out during a broker outage aborted the whole
    ingest process inside librdkafka 2.16 (``rd_kafka_enq_once_del_source_return``)."""

    def __init__(self, settings: Settings, group: str, topic: str, partitions: int) -> None:
        conf = consumer_config(settings, f"positions-{group}", group)
        self._consumer = Consumer(conf)  # never subscribes: never a member, never commits
        self._tps = [TopicPartition(topic, p) for p in range(partitions)]

    def read(self, timeout_s: float) -> dict[int, tuple[int, int]]:
        """Raises ``KafkaException`` (or ``TimeoutError``) when the broker does not answer
        within ``timeout_s`` in all."""
        deadline = time.monotonic() + timeout_s
        committed = {
            tp.partition: tp.offset
            for tp in self._consumer.committed(self._tps, timeout=timeout_s)
            if tp.error is None and tp.offset >= 0
        }
        out: dict[int, tuple[int, int]] = {}
        for tp in self._tps:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("group positions not read in time")
            start, end = self._consumer.get_watermark_offsets(tp, timeout=left)
            out[tp.partition] = (committed.get(tp.partition, start), end)
        return out

    def close(self) -> None:
        self._consumer.close()
