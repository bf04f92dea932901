"""``GET /api/v1/notifications/stream``: the caller's state changes as Server-Sent Events.

Each SSE event is one record of the state topic (one stage an event reached: ``resolved``,
``dispatched``, ``retrying``, …) as the GET view of that event, with ``id: <partition>-<offset>``.
A tenant's state records all sit in one partition, so the offset orders the tenant's whole
stream, and it is the same on every replica and after any restart: a client that sends its
last id back as ``Last-Event-ID`` gets exactly the records after it (statefeed.py). ``accepted``
is not on the state topic (it is the 202 itself, and the first ``history`` entry).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Generator

import orjson

from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import public_view
from tidings.domain.clients import ApiClient
from tidings.errors import FieldError, ValidationFailed
from tidings_ingest.listing import Filters, Visible
from tidings_ingest.runtime import Runtime
from tidings_ingest.statefeed import Change, StateFeed

_EVENT_ID = re.compile(r"^(\d{1,6})-(\d{1,19})$")
RETRY_MS = 2_000  # what a browser's EventSource waits before it reconnects


def event_id(change: Change) -> str:
    return f"{change.partition}-{change.offset}"


def resume_after(raw: str | None, partition: int) -> int | None:
    """The offset a ``Last-Event-ID`` names (None: no header, start from now); 422 for an id
    this stream never sent (malformed, or of another tenant's partition)."""
    if raw is None or not raw.strip():
        return None
    found = _EVENT_ID.match(raw.strip())
    if found is None or int(found.group(1)) != partition:
        raise ValidationFailed(
            "Last-Event-ID is not an id of this stream",
            errors=[FieldError("Last-Event-ID", "an id: line this stream sent")],
        )
    return int(found.group(2))


def sse(change: Change) -> bytes:
    """The change's frame, encoded by the first stream that sends it and then shared: the
    view is the same for every stream that admits the change."""
    frame = change.frame
    if frame is None:
        data = orjson.dumps(public_view(change.record))
        frame = b"id: %s\nevent: state\ndata: %s\n\n" % (event_id(change).encode(), data)
        change.frame = frame
    return frame


HEARTBEAT_FRAME = b": heartbeat\n\n"
HEARTBEAT = Change(-1, -1, {})  # put on a stream's queue by its ``Quiet`` timer, never fed


class Quiet:
    """Puts ``HEARTBEAT`` on a stream's queue once nothing was sent for ``every`` seconds: one
    timer per stream that re-arms itself when it fires, instead of an ``asyncio.timeout``
    armed and cancelled around every change (11-14 % of the ingest's samples in B10)."""

    __slots__ = ("_every", "_handle", "_loop", "_queue", "sent_at")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Change | None], every: float
    ) -> None:
        self._loop, self._queue, self._every = loop, queue, every
        self.sent_at = loop.time()
        self._handle = loop.call_at(self.sent_at + every, self._fire)

    def _fire(self) -> None:
        now, due = self._loop.time(), self.sent_at + self._every
        if now >= due:
            self._queue.put_nowait(HEARTBEAT)
            self.sent_at, due = now, now + self._every
        self._handle = self._loop.call_at(due, self._fire)

    def cancel(self) -> None:
        self._handle.cancel()


class Streams:
    def __init__(self, runtime: Runtime, feed: StateFeed, visible: Visible) -> None:
        self._rt = runtime
        self._feed = feed
        self._visible = visible  # the one read-scoping rule, shared with GET and the list

    def open(
        self, client: ApiClient, filters: Filters, last_event_id: str | None
    ) -> AsyncIterator[bytes]:
        """Checks what can fail as an HTTP answer now; the body is the returned iterator."""
        partition = tenant_partition(client.tenant, self._rt.topics.state.partitions)
        after = resume_after(last_event_id, partition)
        tenant = client.tenant

        def admits(change: Change) -> bool:
            record = change.record
            return (
                record.get("tenant") == tenant
                and not record.get("replay_id")  # a forced redelivery's own processing
                and filters.admits(record)
                and self._visible(client, record.get("client_id"))
            )

        return self._events(partition, after, admits)

    async def _events(
        self, partition: int, after: int | None, admits: Callable[[Change], bool]
    ) -> AsyncIterator[bytes]:
        feed, loop = self._feed, asyncio.get_running_loop()
        subscription = feed.buffer.subscribe(partition, after, loop, admits)
        subscriber = subscription.subscriber
        queue = subscriber.queue
        quiet = Quiet(loop, queue, self._rt.settings.ingest.stream_heartbeat_s)
        last = -1 if after is None else after
        gap: Generator[list[Change], None, None] | None = None
        try:
            yield b"retry: %d\n\n" % RETRY_MS
            if subscription.gap is not None:
                gap = feed.read_range(partition, *subscription.gap)
                while (chunk := await asyncio.to_thread(next, gap, None)) is not None:
                    for change in chunk:
                        if change.offset > last and admits(change):
                            last = change.offset
                            yield sse(change)
            for change in subscription.held:
                if change.offset > last and admits(change):
                    last = change.offset
                    yield sse(change)
            while True:
                # Everything queued since the last wake-up goes out as one write.
                frames: list[bytes] = []
                live: Change | None = await queue.get()
                while True:
                    if live is None:  # fell too far behind: the client resumes by id
                        if frames:
                            yield b"".join(frames)
                        return
                    if live is HEARTBEAT:
                        frames.append(HEARTBEAT_FRAME)
                    else:
                        subscriber.taken()
                        if live.offset > last:
                            last = live.offset
                            frames.append(sse(live))
                    if queue.empty():
                        break
                    live = queue.get_nowait()
                if frames:
                    quiet.sent_at = loop.time()
                    yield frames[0] if len(frames) == 1 else b"".join(frames)
        finally:
            quiet.cancel()
            feed.buffer.unsubscribe(partition, subscriber)
            if gap is not None:
                await asyncio.to_thread(gap.close)
