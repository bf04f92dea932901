"""The consume → produce → commit loop, exactly once with Kafka transactions (KIP-447).

Each batch is one transaction: the handler's output records and the input offsets
(``send_offsets_to_transaction`` with the consumer's group metadata) commit atomically or not
at all. The group metadata carries the generation, so after a rebalance a frozen former owner
(a zombie) cannot commit offsets for partitions it lost: its transaction aborts. On any abort
the handler drops its pending state and the consumer rewinds to what the group has committed
(never before the batch's first offsets).

A commit can fail after the coordinator took it (its answer lost in a broker failover), so a
failed commit is of unknown outcome: a retriable failure is retried as librdkafka asks, and
after any abort the handler re-reads its committed state before it decides anything again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from opentelemetry.trace import Span

from tidings import tracing
from tidings.kafka.config import consumer_config
from tidings.kafka.consumer import take
from tidings.kafka.errors import kafka_error_of
from tidings.kafka.producer import commit_transaction, transactional_producer
from tidings.kafka.records import RawRecord
from tidings.logs import get_logger
from tidings.processing.metrics import PartitionGauges, ServiceMetrics
from tidings.processing.outbox import Defer, Outbox
from tidings.settings import Settings

log = get_logger(__name__)
TP = tuple[str, int]
LAG_INTERVAL_S = 1.0  # lag and age gauges: prompt enough for alerts, cheap (cached reads)


@dataclass(frozen=True)
class Consumed:
    """One input record and what it decoded to: a handler never sees undecoded bytes."""

    raw: RawRecord
    record: Any


class Handler(Protocol):
    stage: str  # the name of its per-record span (tidings/tracing.py)

    def on_assign(self, partitions: list[int]) -> None: ...
    def decode(self, raw: RawRecord) -> Any:
        """What the record carries; raising means it cannot be processed (``undecodable``)."""
        ...

    def undecodable(self, raw: RawRecord, error: Exception, out: Outbox) -> None:
        """Dead-letter a record that does not decode: never retried, never a crash loop."""
        ...

    def handle(self, consumed: Consumed, out: Outbox) -> None: ...
    def trace_headers(self, consumed: Consumed) -> Iterable[tuple[str, bytes]]:
        """The headers that carry the record's trace context (a retry: the original's)."""
        ...

    def on_commit(self) -> None: ...
    def on_abort(self) -> None: ...


class TransactionalLoop:
    def __init__(
        self,
        settings: Settings,
        service: str,
        inputs: list[str],
        handler: Handler,
        metrics: ServiceMetrics,
        batch: int,
        stop: threading.Event | None = None,
    ) -> None:
        p = settings.processing
        self._service, self._inputs, self._handler = service, inputs, handler
        self._metrics, self._batch = metrics, batch
        self._max_records = p.max_records_per_transaction
        self._slow_s = settings.test_hooks.slow_ms / 1000  # docs/processing.md "Test hooks"
        self._lose_every = settings.test_hooks.lose_commit_answer_every
        self._commits = 0
        self._timeout_s = settings.kafka.transaction_timeout_ms / 1000
        self._poll_s = max(0.05, p.commit_interval_ms / 1000)
        conf = consumer_config(
            settings, f"{service}-{p.instance_id}", f"{settings.topic_prefix}{service}"
        )
        # range: partition N of every input lands on the same member (co-partitioning).
        conf["partition.assignment.strategy"] = "range"
        self._consumer = Consumer(conf)
        # Stable per instance: a restarted instance fences its crashed predecessor's open
        # transaction at once instead of leaving read_committed readers waiting for its timeout.
        self._settings = settings
        self._client_suffix = f"{service}-{p.instance_id}"
        self._txn_id = f"{settings.topic_prefix}{service}.{p.instance_id}"
        self._stopping = stop or threading.Event()  # ends init_transactions' retries too
        self._producer = self._new_producer()
        self._paused: dict[TP, float] = {}
        self.assigned: list[int] = []
        self.ready = False
        self.last_loop = time.monotonic()
        self._last_lag = 0.0
        self._gauges = PartitionGauges(metrics)
        # Record timestamps (s) per input partition: the oldest consumed but not yet committed
        # record (a deferred one, or a batch rewound after an abort), and the last committed.
        self._head: dict[TP, float] = {}
        self._done: dict[TP, float] = {}
        # (name, started) of the transactional call in progress; the watchdog reads it.
        self.in_call: tuple[str, float] | None = None
        self._batch_span: Span | None = None  # tracing on: the open transaction's span

    @contextlib.contextmanager
    def _call(self, name: str) -> Iterator[None]:
        """Mark a blocking transactional call: librdkafka has been seen to ignore the timeout
        of ``send_offsets_to_transaction`` after a broker restart (librdkafka issue #5511,
        https://github.com/confluentinc/librdkafka/issues/5511; docs/guarantees.md, "A
        librdkafka stall, and the watchdog that ends it"), and only a watchdog outside the
        call can tell."""
        self.in_call = (name, time.monotonic())
        try:
            yield
        finally:
            self.in_call = None

    def _new_producer(self) -> Producer:
        """A producer with our transactional id, initialised: that fences a predecessor and
        aborts what it left open. A broker outage can outlast one ``init_transactions`` (a
        retriable timeout): the same producer asks again, as librdkafka's contract says, until
        it answers or the service stops, instead of the process dying with the outage."""
        producer = transactional_producer(self._settings, self._client_suffix, self._txn_id)
        while True:
            try:
                with self._call("init_transactions"):
                    producer.init_transactions(self._timeout_s * 2)
                return producer
            except KafkaException as exc:
                error = kafka_error_of(exc)
                if error is None or not error.retriable() or self._stopping.is_set():
                    raise
                log.warning("init_transactions_retried", error=str(exc))
                time.sleep(0.5)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._paused.clear()
        self.assigned = sorted({tp.partition for tp in partitions})
        self._gauges.assigned([(tp.topic, tp.partition) for tp in partitions])
        log.info("partitions_assigned", partitions=self.assigned)
        self._handler.on_assign(self.assigned)  # restore before any record of them is handled
        self.ready = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._paused.clear()
        gone = [(tp.topic, tp.partition) for tp in partitions]
        self._gauges.revoked(gone)
        for tp in gone:
            self._head.pop(tp, None)
            self._done.pop(tp, None)
        log.info("partitions_revoked", partitions=sorted({tp.partition for tp in partitions}))

    def run(self, stop: threading.Event) -> None:
        self._stopping = stop
        self._consumer.subscribe(
            self._inputs,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not stop.is_set():
                self.last_loop = time.monotonic()
                self._resume_due()
                msgs = take(self._consumer, self._batch, self._poll_s)
                good = [m for m in msgs if self._usable(m)]
                for msg in good:
                    self._head.setdefault(_tp(msg), _timestamp_s(msg))
                if good:
                    self._process(good)
                self._report_lag()
        finally:
            self._consumer.close()
            self._producer.flush(5)

    def _usable(self, msg: Message) -> bool:
        err = msg.error()
        if err is not None:
            log.warning("consume_error", error=str(err))
            return False
        self._metrics.consumed.labels(self._service, msg.topic()).inc()
        return True

    def _process(self, msgs: list[Message]) -> None:
        if not tracing.ENABLED:
            self._transact(msgs)
            return
        self._batch_span = tracing.batch_span(self._service, len(msgs))
        try:
            self._transact(msgs)
        finally:
            self._batch_span.end()
            self._batch_span = None

    def _transact(self, msgs: list[Message]) -> None:
        started = time.monotonic()
        first: dict[TP, int] = {}
        offsets: dict[TP, int] = {}
        deferred: dict[TP, tuple[int, int]] = {}
        out = Outbox(self._producer)
        try:
            self._producer.begin_transaction()
            for msg in msgs:
                tp = (str(msg.topic()), int(msg.partition() or 0))
                offset = int(msg.offset() or 0)
                first.setdefault(tp, offset)
                if tp in deferred:
                    continue  # behind a deferred record: its partition waits as a whole
                if out.total >= self._max_records:
                    # Transaction is big enough (a large audience): the rest comes next time.
                    deferred[tp] = (offset, 0)
                    continue
                if self._slow_s:
                    time.sleep(self._slow_s)
                try:
                    self._deliver(msg, out)
                except Defer as d:
                    deferred[tp] = (offset, d.not_before_ms)
                    continue
                offsets[tp] = offset + 1
                out.handled += 1
            if offsets:
                with self._call("send_offsets_to_transaction"):
                    self._producer.send_offsets_to_transaction(
                        [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                        self._consumer.consumer_group_metadata(),
                        self._timeout_s,
                    )
            self._commit()
        except Exception as exc:
            self._recover(exc, first)
            return
        self._handler.on_commit()
        self._count(out, time.monotonic() - started)
        self._settle_heads(msgs, offsets, deferred)
        for (topic, partition), (offset, not_before) in deferred.items():
            position = TopicPartition(topic, partition, offset)
            self._consumer.seek(position)
            self._consumer.pause([position])
            self._paused[(topic, partition)] = not_before / 1000

    def _commit(self) -> None:
        with self._call("commit_transaction"):
            commit_transaction(self._producer, self._timeout_s)
        self._commits += 1
        if self._lose_every and self._commits % self._lose_every == 0:
            lost = KafkaError(KafkaError._TIMED_OUT, "commit answer lost (test hook)")
            raise KafkaException(lost)

    def _deliver(self, msg: Message, out: Outbox) -> None:
        raw = RawRecord.of(msg)
        try:
            record = self._handler.decode(raw)
        except Defer:
            raise
        except Exception as exc:
            self._handler.undecodable(raw, exc, out)
            return
        consumed = Consumed(raw, record)
        if self._batch_span is None:  # tracing off: no span, no header read
            self._handler.handle(consumed, out)
            return
        attributes = {
            "messaging.system": "kafka",
            "messaging.destination.name": raw.topic,
            "messaging.destination.partition.id": str(raw.partition),
            "messaging.kafka.offset": raw.offset,
        }
        carrier = self._handler.trace_headers(consumed)
        batch = self._batch_span.get_span_context()
        with tracing.record_span(self._handler.stage, carrier, batch, attributes) as span:
            try:
                self._handler.handle(consumed, out)
            except Defer:
                span.set_attribute("tidings.deferred", True)
                raise
            except Exception as exc:  # the batch aborts and the record is read again
                tracing.failed(span, exc)
                raise

    def _recover(self, exc: Exception, first: dict[TP, int]) -> None:
        """Abort, forget pending state, rewind; a fenced or fatal producer is replaced."""
        self._metrics.aborts.labels(self._service).inc()
        err = kafka_error_of(exc)
        fatal = err is not None and err.fatal()
        log.warning("transaction_aborted", error=str(exc), fatal=fatal)
        if self._batch_span is not None:
            tracing.failed(self._batch_span, exc)
        if not fatal:
            try:
                with self._call("abort_transaction"):
                    self._producer.abort_transaction(self._timeout_s)
            except KafkaException as abort_exc:
                log.warning("abort_failed", error=str(abort_exc))
                fatal = True
        if fatal:
            self._producer = self._new_producer()
        self._handler.on_abort()
        for (topic, partition), offset in self._rewind_to(first).items():
            # A partition no longer ours after a rebalance: its new owner starts from the commit.
            with contextlib.suppress(KafkaException):
                self._consumer.seek(TopicPartition(topic, partition, offset))
        time.sleep(0.2)

    def _rewind_to(self, first: dict[TP, int]) -> dict[TP, int]:
        """Where each partition of an aborted batch resumes: the group's committed offset
        when the batch did commit after all (read_committed offsets: the coordinator answers
        once the transaction is decided), else the batch's first offset. Unknown: the first
        offset, and the handler's state barrier drops what is redone."""
        if not first:
            return first
        asked = [TopicPartition(topic, partition) for topic, partition in first]
        try:
            committed = self._consumer.committed(asked, timeout=self._timeout_s)
        except KafkaException as exc:
            log.warning("committed_offsets_unknown", error=str(exc))
            return first
        at = {(tp.topic, tp.partition): tp.offset for tp in committed if tp.error is None}
        return {tp: max(offset, at.get(tp, offset)) for tp, offset in first.items()}

    def _resume_due(self) -> None:
        now = time.time()
        due = [tp for tp, at in self._paused.items() if at <= now]
        if due:
            self._consumer.resume([TopicPartition(t, p) for t, p in due])
            for tp in due:
                del self._paused[tp]

    def _count(self, out: Outbox, seconds: float) -> None:
        m, s = self._metrics, self._service
        m.commits.labels(s).inc()
        m.batch_seconds.labels(s).observe(seconds)
        for topic, n in out.produced.items():
            m.produced.labels(s, topic).inc(n)
        for stage, n in out.transitions.items():
            m.transitions.labels(s, stage).inc(n)
        for outcome, n in out.dead_letters.items():
            m.dead_letters.labels(s, outcome).inc(n)
        m.retries.labels(s).inc(out.retries)
        for latency in out.latencies:
            m.latency.labels(s).observe(latency)
        # One line per committed transaction, not per event: INFO stays readable (and cheap)
        # at thousands of events a second; per-event lines are DEBUG.
        log.info(
            "batch_committed",
            records=out.handled,
            produced=dict(out.produced),
            states=dict(out.transitions),
            dead_letters=dict(out.dead_letters),
            retries=out.retries,
            seconds=round(seconds, 4),
        )

    def _settle_heads(
        self, msgs: list[Message], offsets: dict[TP, int], deferred: dict[TP, tuple[int, int]]
    ) -> None:
        """After a commit: a deferred record is now its partition's oldest unprocessed one;
        a partition processed to the end of the batch has none known until the next batch."""
        for msg in msgs:
            tp, offset = _tp(msg), int(msg.offset() or 0)
            if tp in deferred and deferred[tp][0] == offset:
                self._head[tp] = _timestamp_s(msg)
            elif offsets.get(tp) == offset + 1:
                self._done[tp] = _timestamp_s(msg)
                if tp not in deferred:
                    self._head.pop(tp, None)

    def _report_lag(self) -> None:
        if time.monotonic() - self._last_lag < LAG_INTERVAL_S:
            return
        self._last_lag = time.monotonic()
        now = time.time()
        try:
            assignment = self._consumer.assignment()
            for tp in self._consumer.position(assignment):
                # cached: the high watermark of the last fetch response, no request. Under
                # read_committed librdkafka keeps the last stable offset there.
                _, high = self._consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    lag = max(0, high - tp.offset)
                    age = self._age((tp.topic, tp.partition), lag, now)
                    self._gauges.report(tp.topic, tp.partition, lag, age)
        except KafkaException:
            pass

    def _age(self, tp: TP, lag: int, now: float) -> float:
        """Age of the oldest unprocessed record: exact when that record was consumed (deferred,
        rewound); otherwise its successor is not fetched yet and the last processed record's
        timestamp bounds it from above (records of a partition are appended in time order)."""
        if lag == 0:
            return 0.0
        at = self._head.get(tp, self._done.get(tp))
        return max(0.0, now - at) if at else 0.0


def _tp(msg: Message) -> TP:
    return (str(msg.topic()), int(msg.partition() or 0))


def _timestamp_s(msg: Message) -> float:
    """The record's timestamp in seconds (0.0 when the record carries none)."""
    kind, ms = msg.timestamp()
    return ms / 1000 if kind != TIMESTAMP_NOT_AVAILABLE and ms > 0 else 0.0
