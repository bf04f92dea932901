"""The state topic as a live feed for the SSE streams of one ingest process (stream.py).

One consumer per process tails every state partition from where it stood at start (its
last stable offset: a ``read_committed`` reader's end) and hands each decoded record to the
streams subscribed to that partition; a stream never opens a consumer of its own unless it
resumes from before what the feed holds. So 1,000 streams cost one consumer, not 1,000.

Exactly-once resume rests on one invariant, kept under one lock (``FeedBuffer``): every
committed record of partition ``p`` from ``floor[p]`` on is either held in the buffer or yet
to be fed, and a fed record goes to every subscriber registered before it. ``subscribe``
takes the held records and registers in one step, so ``[after + 1, floor)`` (read from the
broker), the held records and the live queue cover the offsets after ``after`` with no gap
and no overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.kafka.consumer import PartitionReader
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)


StateRecord = dict[str, Any]


class Change:
    """One state record and where it is on the state topic (its stream id).

    Held as the topic's bytes and decoded the first time a stream looks at it: the feed
    keeps ``stream_buffer`` records per partition whether or not anyone streams, and most are
    never streamed (held decoded, 10,000 per partition were ~1.5 KB each, ~200 MB of an
    ingest's memory, and a decode per state record of CPU). A record that does not decode is
    ``{}``: it belongs to no tenant, so no stream admits it. ``frame`` holds its SSE frame once
    a stream encoded it (stream.py): every stream admitting it writes the same bytes."""

    __slots__ = ("_decode", "_record", "_value", "frame", "offset", "partition")

    def __init__(
        self,
        partition: int,
        offset: int,
        record: StateRecord | None = None,
        *,
        value: bytes | None = None,
        decode: Callable[[bytes], StateRecord] | None = None,
    ) -> None:
        self.partition = partition
        self.offset = offset
        self._record = record
        self._value = value
        self._decode = decode
        self.frame: bytes | None = None

    @property
    def record(self) -> StateRecord:
        if self._record is None:
            record: StateRecord = {}
            if self._value is not None and self._decode is not None:
                try:
                    record = self._decode(self._value)
                except Exception:  # a foreign record on the state topic is nobody's change
                    log.warning(
                        "state_record_undecodable", partition=self.partition, offset=self.offset
                    )
            self._record, self._value = record, None
        return self._record


class Subscriber:
    """A stream's queue. The feed thread only ever reaches it through the loop's
    ``call_soon_threadsafe`` (one call per loop for each batch of fed changes, not one per
    stream and change: ``Handover``); a subscriber that falls ``limit`` changes behind is
    ended (it resumes by id, losing nothing) instead of growing without bound."""

    def __init__(self, loop: asyncio.AbstractEventLoop, admits: Callable[[Change], bool]) -> None:
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue()
        self.loop = loop
        self._admits = admits
        self.pending = 0  # feed thread only
        self.ended = False

    def offer(self, change: Change, limit: int, handover: Handover) -> None:
        if self.ended or not self._admits(change):
            return
        self.pending += 1
        if self.pending > limit:
            self.ended = True
            handover.add(self, None)
            return
        handover.add(self, change)

    def taken(self) -> None:
        self.pending -= 1  # a racy decrement only loosens the bound a little


class Handover:
    """What one ``feed`` gives the subscribers, grouped by their event loop and put on their
    queues by one callback per loop, in feed order. A callback per stream and change was,
    with 1,000 streams, 1,000 ``call_soon_threadsafe`` (each a write to the loop's wake-up
    pipe) per change from the feed thread: ~10 % of the ingest's samples in B10."""

    def __init__(self) -> None:
        self._by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Subscriber, Change | None]]] = {}

    def add(self, subscriber: Subscriber, change: Change | None) -> None:
        items = self._by_loop.get(subscriber.loop)
        if items is None:
            items = self._by_loop[subscriber.loop] = []
        items.append((subscriber, change))

    def send(self) -> None:
        for loop, items in self._by_loop.items():
            with contextlib.suppress(RuntimeError):  # a loop already closed: nobody to tell
                loop.call_soon_threadsafe(_put_all, items)
        self._by_loop = {}


def _put_all(items: list[tuple[Subscriber, Change | None]]) -> None:
    for subscriber, change in items:
        subscriber.queue.put_nowait(change)


@dataclass(frozen=True)
class Subscription:
    subscriber: Subscriber
    gap: tuple[int, int] | None  # [start, end) to read from the broker first
    held: list[Change]  # then these, from the ring


class FeedBuffer:
    """The feed's memory, no I/O: the last ``size`` changes per partition and the subscribers,
    under one lock. Invariant: every committed record of partition ``p`` from ``floor[p]`` on
    is held, or is yet to come through ``feed`` and so goes to every subscriber registered
    before it."""

    def __init__(self, size: int, limit: int) -> None:
        self._size = max(1, size)
        self._limit = limit  # changes a subscriber may fall behind before it is ended
        self._rings: dict[int, deque[Change]] = {}
        self._floor: dict[int, int] = {}
        self._subscribers: dict[int, set[Subscriber]] = {}
        self._lock = threading.Lock()

    def begin(self, starts: Mapping[int, int]) -> None:
        """Where the feed starts reading each partition."""
        with self._lock:
            for partition, start in starts.items():
                self._rings[partition] = deque()
                self._floor[partition] = start

    def feed(self, changes: Iterable[Change]) -> None:
        handover = Handover()
        with self._lock:
            for change in changes:
                ring = self._rings.setdefault(change.partition, deque())
                ring.append(change)
                if len(ring) > self._size:
                    self._floor[change.partition] = ring.popleft().offset + 1
                for subscriber in self._subscribers.get(change.partition, ()):
                    subscriber.offer(change, self._limit, handover)
        handover.send()  # only the feed thread feeds: its callbacks keep the feed's order

    def subscribe(
        self,
        partition: int,
        after: int | None,
        loop: asyncio.AbstractEventLoop,
        admits: Callable[[Change], bool],
    ) -> Subscription:
        """Live changes of ``partition`` from now, or every change after offset ``after``:
        registering and taking the held changes in one step leaves no gap and no overlap."""
        subscriber = Subscriber(loop, admits)
        with self._lock:
            self._subscribers.setdefault(partition, set()).add(subscriber)
            if after is None:
                return Subscription(subscriber, None, [])
            floor = self._floor.get(partition, 0)
            held = [c for c in self._rings.get(partition, ()) if c.offset > after]
            gap = (after + 1, floor) if after + 1 < floor else None
            return Subscription(subscriber, gap, held)

    def unsubscribe(self, partition: int, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.get(partition, set()).discard(subscriber)

    def streams(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subscribers.values())


class StateFeed:
    def __init__(self, settings: Settings, codec: Codec, buffer: int) -> None:
        self._settings = settings
        self._codec = codec
        self.topic = Topics(settings).state.name
        self._reader = PartitionReader(settings, "ingest-stream", self.topic)
        self.buffer = FeedBuffer(buffer, limit=buffer)
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="state-feed", daemon=True)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> StateFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._reader.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                # A read_committed reader's end is the last stable offset: nothing below it
                # is still undecided, so the feed misses no record committed later.
                starts = self._reader.high_watermarks()
                break
            except Exception as exc:  # broker not reachable yet: keep trying
                log.warning("state_feed_waiting", error=type(exc).__name__)
                self._stop.wait(1.0)
        else:
            return
        self.buffer.begin(starts)
        self._reader.assign(starts)
        self._ready.set()
        log.info("state_feed_started", partitions=len(starts))
        while not self._stop.is_set():
            self.buffer.feed(self._changes(self._reader.take(500, 0.2)))

    def _changes(self, msgs: list[Any]) -> list[Change]:
        return [
            Change(msg.partition(), msg.offset(), value=msg.value(), decode=self._decode_state)
            for msg in msgs
            if msg.error() is None and msg.value() is not None
        ]

    def _decode_state(self, value: bytes) -> StateRecord:
        return self._codec.decode(value, expect="state")[1]

    def read_range(
        self, partition: int, start: int, end: int
    ) -> Generator[list[Change], None, None]:
        """Records of ``[start, end)`` from the broker, in chunks (blocking: off the loop).
        What compaction removed is not there: the newest record of each event is."""
        reader = PartitionReader(self._settings, "ingest-stream-resume", self.topic)
        try:
            low, _ = reader.watermarks([partition])[partition]
            if max(start, low) >= end:
                return
            reader.assign({partition: max(start, low)})
            timeout = self._settings.ingest.produce_timeout_s
            while not self._stop.is_set():
                msgs = reader.take(500, 0.2)
                yield [c for c in self._changes(msgs) if c.offset < end]
                if reader.positions([partition]).get(partition, -1) >= end:
                    return
                if not msgs:
                    timeout -= 0.2
                    if timeout <= 0:
                        raise TimeoutError(f"state partition {partition} not read to {end}")
        finally:
            reader.close()
