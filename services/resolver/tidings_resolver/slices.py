"""Fair sharing between tenants: a large audience is resolved in slices.

Events of many tenants share a partition, and the resolver handles a partition in log order.
An audience of more than ``resolve_slice_size`` users is therefore resolved a slice at a
time, in audience order (sorted user ids). Each slice is one transaction of its own: its
chunks (numbered after the earlier slices'), a ``resolving`` state with the progress, the
input offset past the record it came from, and a continuation on the resolver's retry topic
(a ``retry`` record with ``slice`` set: the cursor = the last user id done, and what the
earlier slices wrote). The partition's records appended meanwhile are read before that
continuation, so one huge event holds up another tenant's small one by a slice at most.

Fan-out handles the chunks of a partition in order too, and is slower per recipient than the
resolver: unpaced, a huge event's chunks would pile up ahead of the small event's there. So
the next slice starts only when fan-out has at most ``resolve_slice_backlog`` chunks of the
partition left (``fanout_backlog``: the resolved topic's end minus fan-out's committed
offset); until then the continuation is deferred (the loop pauses the retry partition only:
the events partition, with other tenants' events, keeps flowing).

Exactly once: a crash before a slice commits leaves the previous continuation unconsumed, so
the slice is resolved again from the same cursor into the same chunk numbers (keys); a
committed slice is never repeated (its continuation's offset committed with it). The last
slice writes ``resolved`` with the total chunk count, and its chunks say ``final``: fan-out
ends the event (``dispatched``) only on them.

Membership: the audience's ids are gathered (one index read per scope) when an attempt's
first slice runs on this instance, on a thread of their own, and kept in memory for its
later slices; each slice reads its users' contacts (active, addresses, mutes, organization)
when it runs. An audience not gathered within ``GATHER_WAIT_S`` (a large one: a million
members take seconds) writes ``resolving`` and a continuation from the start, so the
partition is not held up by the gather either. A restarted instance gathers again and
continues after the cursor.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, Protocol

from tidings.contracts.codec import Codec
from tidings.contracts.state import now_ms
from tidings.contracts.topics import Topics, event_key
from tidings.domain.directory import DirectoryReader
from tidings.processing.backlog import GroupBacklog
from tidings.processing.deadletter import retry_record
from tidings.processing.outbox import Defer, Outbox
from tidings.processing.writes import PendingStates, Writes
from tidings.settings import Settings
from tidings_resolver.inbound import InboundEvent
from tidings_resolver.output import Progress, write_resolution
from tidings_resolver.resolution import Resolution, match, resolve_members

AUDIENCES_KEPT = 4  # resolutions in progress whose audience an instance keeps in memory
BACKLOG_RECHECK_MS = 50  # a deferred continuation looks at fan-out's backlog again after this
GATHER_WAIT_S = 0.2  # an audience not gathered by then is gathered beside the partition


class Backlog(Protocol):
    def __call__(self, partition: int) -> int:
        """Chunks of the partition fan-out has not done yet."""
        ...


def fanout_backlog(settings: Settings) -> GroupBacklog:
    """Fan-out's backlog on a partition of the resolved topic (``GroupBacklog``)."""
    return GroupBacklog(
        settings,
        f"{settings.topic_prefix}fanout",
        Topics(settings).resolved.name,
        f"resolver-backlog-{settings.processing.instance_id}",
    )


@dataclass(frozen=True)
class Audience:
    """Who an event's scopes chose (sorted ids, and the scopes per id), plus the listed users
    found unknown (counted once, in the first slice)."""

    ids: list[str]
    matched: Mapping[str, Sequence[str]]
    unknown: Resolution


def next_slice(ids: Sequence[str], after: str | None, size: int) -> tuple[Sequence[str], bool]:
    """The next ``size`` ids after ``after`` (None: from the start), and whether it is the
    last slice. Ids are sorted, so the cursor needs nothing but the last id done."""
    start = 0 if after is None else bisect_right(ids, after)
    part = ids[start : start + size]
    return part, start + size >= len(ids)


def cursor_record(
    after: str, progress: Progress, directory_offset: int, started: int
) -> dict[str, Any]:
    """The ``slice`` field of a continuation (schema ``retry`` v2, ``SliceCursor``)."""
    return {
        "after": after,
        "chunks": progress.chunks,
        "recipients": progress.recipients,
        "skipped": dict(progress.skipped),
        "directory_offset": directory_offset,
        "started": started,
    }


class Slicer:
    """Resolves one slice of an event per call and writes what that slice writes."""

    def __init__(
        self,
        writes: Writes,
        codec: Codec,
        retry_topic: str,
        directory: DirectoryReader,
        *,
        chunk_size: int,
        slice_size: int,
        pending: PendingStates,
        backlog: Backlog | None = None,
        backlog_limit: int = -1,
        gather_wait_s: float = GATHER_WAIT_S,
        executor: Executor | None = None,
    ) -> None:
        """``backlog`` and ``backlog_limit``: the fan-out pacing (None or -1: none);
        ``gather_wait_s``: how long an event's audience is waited for in line (``executor``
        gathers it)."""
        self._backlog, self._backlog_limit = backlog, backlog_limit
        self._writes, self._codec, self._retry_topic = writes, codec, retry_topic
        self._directory = directory
        self._chunk_size, self._slice_size = chunk_size, slice_size
        self._pending = pending
        self._gather_wait_s = gather_wait_s
        # Several at once: a small audience is not queued behind a large one's gather.
        self._executor = executor or ThreadPoolExecutor(
            AUDIENCES_KEPT, thread_name_prefix="audience"
        )
        self._audiences: OrderedDict[tuple[str, str, str, int], Future[Audience]] = OrderedDict()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _gather(self, inbound: InboundEvent) -> Audience:
        scope = inbound.event["recipients"]
        matched, unknown = match(
            inbound.tenant,
            scope["users"],
            scope["roles"],
            scope["groups"],
            inbound.rules,
            self._directory,
            inbound.org,
        )
        return Audience(sorted(matched), matched, unknown)

    def _audience(self, inbound: InboundEvent, attempt: int, fresh: bool) -> Future[Audience]:
        """The event's audience, gathered (or being gathered) on the executor; ``fresh``: a
        new gather whatever is kept. A failed gather is started again."""
        key = _key(inbound, attempt)
        found = None if fresh else self._audiences.get(key)
        if found is None or (found.done() and found.exception() is not None):
            scope = inbound.event["recipients"]
            if scope["roles"] or scope["groups"] or inbound.rules:
                found = self._executor.submit(self._gather, inbound)
            else:  # listed users only: as many as a request may name, gathered in line
                found = Future()
                found.set_result(self._gather(inbound))
            self._audiences[key] = found
            while len(self._audiences) > AUDIENCES_KEPT:
                self._audiences.popitem(last=False)
        self._audiences.move_to_end(key)
        return found

    def resolve(
        self,
        out: Outbox,
        inbound: InboundEvent,
        original: tuple[bytes | None, bytes | None, dict[str, bytes]],
        *,
        attempt: int,
        past: list[dict[str, Any]],
        channels: Sequence[str],
        history: list[dict[str, Any]],
        at: int,
        directory_offset: int,
        cursor: Mapping[str, Any] | None = None,
    ) -> Progress:
        """One slice: the first (``cursor`` None: the audience is gathered afresh) or the one
        after ``cursor``. Writes its chunks, its state and, unless it is the last, the
        continuation. An audience of one slice writes exactly what it always did.

        An audience not gathered within ``gather_wait_s`` writes no chunk yet: ``resolving``
        and a continuation from the start (cursor ``after`` empty), so the partition moves on
        while it is gathered. A continuation raises ``Defer`` while its audience is still
        being gathered, or while fan-out's backlog on the partition is over the limit."""
        started = int(history[-1]["at"])  # this attempt's ``resolving`` entry
        if cursor is None:
            try:
                audience = self._audience(inbound, attempt, fresh=True).result(self._gather_wait_s)
            except FutureTimeout:
                # Large: gathered meanwhile; its first slice comes with the continuation.
                progress = write_resolution(
                    out,
                    self._writes,
                    inbound.event,
                    Resolution(),
                    attempt=attempt,
                    chunk_size=self._chunk_size,
                    directory_offset=directory_offset,
                    pending=self._pending,
                    history=history,
                    at=at,
                    final=False,
                )
                cursor_from = cursor_record("", progress, directory_offset, started)
                self._continue(out, inbound, original, attempt, past, at, cursor_from)
                return progress
        else:
            if self._backlog is not None and self._backlog_limit >= 0:
                partition = self._writes.partition_of(inbound.tenant)
                if self._backlog(partition) > self._backlog_limit:
                    raise Defer(now_ms() + BACKLOG_RECHECK_MS)
            gathering = self._audience(inbound, attempt, fresh=False)
            if not gathering.done():
                raise Defer(now_ms() + BACKLOG_RECHECK_MS)
            audience = gathering.result()  # a failed gather fails the transaction: read again
        after = None if cursor is None or not cursor["after"] else str(cursor["after"])
        part, final = next_slice(audience.ids, after, self._slice_size)
        if cursor is None:
            before = Progress()
        else:
            before = Progress(
                int(cursor["chunks"]), int(cursor["recipients"]), dict(cursor["skipped"])
            )
            directory_offset = int(cursor["directory_offset"])
        # The listed users found unknown count once: in the slice that starts the audience.
        base = audience.unknown if after is None else Resolution()
        resolution = resolve_members(
            inbound.tenant,
            part,
            audience.matched,
            self._directory,
            channels,
            inbound.org,
            Resolution(list(base.recipients), base.skipped.copy()),
        )
        progress = write_resolution(
            out,
            self._writes,
            inbound.event,
            resolution,
            attempt=attempt,
            chunk_size=self._chunk_size,
            directory_offset=directory_offset,
            pending=self._pending,
            history=history,
            at=at,
            before=before,
            final=final,
        )
        if final:
            self._audiences.pop(_key(inbound, attempt), None)
        else:
            cursor_next = cursor_record(part[-1], progress, directory_offset, started)
            self._continue(out, inbound, original, attempt, past, at, cursor_next)
        return progress

    def _continue(
        self,
        out: Outbox,
        inbound: InboundEvent,
        original: tuple[bytes | None, bytes | None, dict[str, bytes]],
        attempt: int,
        past: list[dict[str, Any]],
        at: int,
        cursor: dict[str, Any],
    ) -> None:
        """The continuation: a retry record of this attempt, due now, with the cursor."""
        _key_bytes, value, headers = original
        record = retry_record(
            inbound.event_id, inbound.tenant, value or b"", headers, attempt, at, past
        )
        record["slice"] = cursor
        out.produce(
            self._retry_topic,
            event_key(inbound.tenant),
            self._codec.encode("retry", record),
            partition=self._writes.partition_of(inbound.tenant),
        )


def _key(inbound: InboundEvent, attempt: int) -> tuple[str, str, str, int]:
    return (inbound.tenant, inbound.event_id, inbound.event.get("replay_id") or "", attempt)
