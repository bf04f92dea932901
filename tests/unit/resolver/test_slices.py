"""Resolving a large audience in slices (fair sharing): every user once, in audience order,
chunks numbered across slices, only the last slice final, and a slice redone from its cursor
writes exactly what it wrote before. Against an in-memory directory; the producer only
records what the transaction would carry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import orjson
import pytest

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.state import Stage, now_ms
from tidings.contracts.topics import Topics
from tidings.domain.directory import Directory, User
from tidings.processing.outbox import Defer, Outbox
from tidings.processing.writes import PendingStates, Writes
from tidings.settings import Settings
from tidings_resolver.inbound import InboundEvent
from tidings_resolver.output import history_until_now
from tidings_resolver.slices import Slicer, next_slice

CODEC = Codec()
TOPICS = Topics(Settings())
CHANNELS = ["in_app", "email"]


class Recording:
    """Stands in for the transactional producer: keeps what one transaction produced."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, Any, Any]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.records.append((topic, kwargs["key"], kwargs["value"], kwargs["headers"]))

    def poll(self, timeout: float = 0) -> int:
        return 0


def directory(n: int, inactive: set[int] = frozenset()) -> Directory:  # type: ignore[assignment]
    d = Directory()
    for i in range(n):
        d.put(
            User.from_record(
                {
                    "tenant": "big",
                    "id": f"u{i:03d}",
                    "roles": ["all"],
                    "active": i not in inactive,
                    "channels": {"in_app": f"u{i}"},
                }
            )
        )
    return d


def event(**recipients: list[str]) -> InboundEvent:
    return InboundEvent(
        {
            "event_id": str(uuid.uuid4()),
            "tenant": "big",
            "type": "content.approved",
            "payload": "{}",
            "version": 1,
            "recipients": {"users": [], "roles": [], "groups": [], "rules": [], **recipients},
            "accepted_at": now_ms(),
            "source": {"client_id": "c1"},
        },
        [],
    )


class Run:
    """Slices of one event, each in a transaction of its own, continuations fed back."""

    def __init__(self, d: Directory, slice_size: int, chunk_size: int = 4) -> None:
        self.d, self.slice_size, self.chunk_size = d, slice_size, chunk_size
        self.slicer = self.new_slicer()

    def new_slicer(self) -> Slicer:
        """A restarted resolver: nothing in memory."""
        self.pending = PendingStates()
        return Slicer(
            Writes(TOPICS, CODEC),
            CODEC,
            TOPICS.retry.name,
            self.d,
            chunk_size=self.chunk_size,
            slice_size=self.slice_size,
            pending=self.pending,
        )

    def slice(
        self, inbound: InboundEvent, cursor: dict[str, Any] | None
    ) -> list[tuple[str, bytes, Any, Any]]:
        producer = Recording()
        started = cursor["started"] if cursor else now_ms()
        self.slicer.resolve(
            Outbox(producer),  # type: ignore[arg-type]
            inbound,
            (b"big", b"original", {}),
            attempt=1,
            past=[],
            channels=CHANNELS,
            history=history_until_now(inbound.event, [], 1, started),
            at=now_ms(),
            directory_offset=cursor["directory_offset"] if cursor else 7,
            cursor=cursor,
        )
        return producer.records

    def all(self, inbound: InboundEvent) -> list[list[tuple[str, bytes, Any, Any]]]:
        transactions, cursor = [], None
        while True:
            records = self.slice(inbound, cursor)
            transactions.append(records)
            cursor = next_cursor(records)
            if cursor is None:
                return transactions


def of(records: list[tuple[str, bytes, Any, Any]], topic: str) -> list[dict[str, Any]]:
    return [CODEC.decode(value)[1] for t, _, value, _ in records if t == topic]


def next_cursor(records: list[tuple[str, bytes, Any, Any]]) -> dict[str, Any] | None:
    retries = of(records, TOPICS.retry.name)
    assert len(retries) <= 1
    return retries[0]["slice"] if retries else None


def test_next_slice_continues_after_the_cursor_and_knows_the_last() -> None:
    ids = ["a", "b", "c", "d", "e"]
    assert next_slice(ids, None, 2) == (["a", "b"], False)
    assert next_slice(ids, "b", 2) == (["c", "d"], False)
    assert next_slice(ids, "d", 2) == (["e"], True)
    assert next_slice(ids, "bb", 2) == (["c", "d"], False)  # the cursor need not be a member
    assert next_slice(ids, "c", 2) == (["d", "e"], True)


def test_an_audience_of_one_slice_writes_what_it_always_did() -> None:
    inbound = event(roles=["all"])
    [records] = Run(directory(10), slice_size=10).all(inbound)
    chunks = of(records, TOPICS.resolved.name)
    assert [c["chunk"] for c in chunks] == [0, 1, 2]
    assert [(c["chunks"], c["final"]) for c in chunks] == [(3, True)] * 3
    [state] = of(records, TOPICS.state.name)
    assert (state["stage"], state["recipients"], state["chunks"]) == ("resolved", 10, 3)
    assert of(records, TOPICS.retry.name) == []


def test_a_large_audience_is_resolved_in_slices_each_user_once_in_order() -> None:
    inbound = event(roles=["all"], users=["nobody"])
    transactions = Run(directory(23, inactive={3, 17}), slice_size=10).all(inbound)
    assert len(transactions) == 3  # 10 + 10 + 3 users
    chunks = [c for t in transactions for c in of(t, TOPICS.resolved.name)]
    assert [c["chunk"] for c in chunks] == list(range(len(chunks)))
    users = [r["user_id"] for c in chunks for r in c["recipients"]]
    assert users == sorted(f"u{i:03d}" for i in range(23) if i not in {3, 17})
    *early, last = transactions
    for records in early:
        assert not any(c["final"] for c in of(records, TOPICS.resolved.name))
        [state] = of(records, TOPICS.state.name)
        assert (state["stage"], state["detail"][:20]) == (Stage.RESOLVING, "resolving in slices:")
    assert all(c["final"] and c["chunks"] == len(chunks) for c in of(last, TOPICS.resolved.name))
    [final] = of(last, TOPICS.state.name)
    assert (final["stage"], final["recipients"], final["chunks"]) == ("resolved", 21, len(chunks))
    assert final["skipped"] == {"inactive": 2, "unknown": 1}  # each counted once
    assert final["directory_offset"] == 7  # what the first slice saw
    assert [s["stage"] for s in final["history"]] == ["accepted", "resolving", "resolved"]
    summary = orjson.loads(h.to_dict(last[0][3])[h.RESOLUTION])
    assert summary["recipients"] == 21  # fan-out's copy of the totals


def test_a_slice_redone_after_a_crash_writes_exactly_the_same_chunks() -> None:
    inbound = event(roles=["all"])
    run = Run(directory(25), slice_size=10)
    first = run.slice(inbound, None)
    cursor = next_cursor(first)
    assert cursor is not None
    assert (cursor["after"], cursor["chunks"]) == ("u009", 3)
    second = run.slice(inbound, cursor)
    run.slicer = run.new_slicer()  # the transaction of ``second`` aborted; a restart
    again = run.slice(inbound, cursor)

    def chunks(records: list[tuple[str, bytes, Any, Any]]) -> list[tuple[bytes, Any]]:
        return [(key, CODEC.decode(v)[1]) for t, key, v, _ in records if t == TOPICS.resolved.name]

    assert chunks(again) == chunks(second)
    assert [key for key, _ in chunks(again)] == [
        f"big/{inbound.event_id}/{i}".encode() for i in (3, 4, 5)
    ]


def test_users_who_joined_behind_the_cursor_are_not_reached_twice_or_at_all() -> None:
    d = directory(20)
    inbound = event(roles=["all"])
    run = Run(d, slice_size=10)
    cursor = next_cursor(run.slice(inbound, None))
    d.put(
        User.from_record(
            {"tenant": "big", "id": "u000a", "roles": ["all"], "channels": {"in_app": "x"}}
        )
    )
    run.slicer = run.new_slicer()  # a restart gathers the audience again
    users = [
        r["user_id"]
        for c in of(run.slice(inbound, cursor), TOPICS.resolved.name)
        for r in c["recipients"]
    ]
    assert users == [f"u{i:03d}" for i in range(10, 20)]


def test_a_last_slice_with_nobody_left_still_ends_the_event_with_an_empty_chunk() -> None:
    inbound = event(roles=["all"])
    *_, last = Run(directory(12, inactive={10, 11}), slice_size=10).all(inbound)
    [chunk] = of(last, TOPICS.resolved.name)
    assert (chunk["recipients"], chunk["final"], chunk["chunk"], chunk["chunks"]) == (
        [],
        True,
        3,
        4,
    )
    [state] = of(last, TOPICS.state.name)
    assert (state["stage"], state["chunks"], state["skipped"]) == ("resolved", 4, {"inactive": 2})


def test_a_later_slice_waits_while_fan_out_is_behind_on_the_partition() -> None:
    inbound = event(roles=["all"])
    run = Run(directory(25), slice_size=10)
    behind = [6]
    run.slicer = Slicer(
        Writes(TOPICS, CODEC),
        CODEC,
        TOPICS.retry.name,
        run.d,
        chunk_size=4,
        slice_size=10,
        pending=run.pending,
        backlog=lambda partition: behind[0],
        backlog_limit=5,
    )
    cursor = next_cursor(run.slice(inbound, None))  # the first slice never waits
    with pytest.raises(Defer) as deferred:
        run.slice(inbound, cursor)
    assert deferred.value.not_before_ms > now_ms() - 1000
    behind[0] = 5
    assert len(of(run.slice(inbound, cursor), TOPICS.resolved.name)) == 3


class Later(Executor):
    """Gathers only when told to: an audience that takes long to gather."""

    def __init__(self) -> None:
        self.queued: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.queued.append((future, fn, args))
        return future

    def run(self) -> None:
        for future, fn, args in self.queued:
            future.set_result(fn(*args))
        self.queued.clear()


def test_an_audience_still_being_gathered_lets_the_partition_move_on() -> None:
    inbound = event(roles=["all"], users=["nobody"])
    run, later = Run(directory(15), slice_size=10), Later()
    run.slicer = Slicer(
        Writes(TOPICS, CODEC),
        CODEC,
        TOPICS.retry.name,
        run.d,
        chunk_size=4,
        slice_size=10,
        pending=run.pending,
        gather_wait_s=0.01,
        executor=later,
    )
    waiting = run.slice(inbound, None)
    assert of(waiting, TOPICS.resolved.name) == []  # nothing resolved yet, and not held up
    [state] = of(waiting, TOPICS.state.name)
    assert (state["stage"], state["recipients"]) == (Stage.RESOLVING, 0)
    cursor = next_cursor(waiting)
    assert cursor is not None
    assert (cursor["after"], cursor["chunks"]) == ("", 0)
    with pytest.raises(Defer):
        run.slice(inbound, cursor)  # still gathering: the continuation waits its turn
    later.run()
    first = run.slice(inbound, cursor)
    second = run.slice(inbound, next_cursor(first))
    chunks = of(first, TOPICS.resolved.name) + of(second, TOPICS.resolved.name)
    assert [r["user_id"] for c in chunks for r in c["recipients"]] == [
        f"u{i:03d}" for i in range(15)
    ]
    [final] = of(second, TOPICS.state.name)
    assert (final["stage"], final["recipients"], final["skipped"]) == (
        "resolved",
        15,
        {"unknown": 1},
    )


def test_listed_users_alone_are_resolved_in_line() -> None:
    later = Later()
    run = Run(directory(3), slice_size=10)
    run.slicer = Slicer(
        Writes(TOPICS, CODEC),
        CODEC,
        TOPICS.retry.name,
        run.d,
        chunk_size=4,
        slice_size=10,
        pending=run.pending,
        gather_wait_s=0,
        executor=later,
    )
    records = run.slice(event(users=["u000", "u002"]), None)
    assert later.queued == []
    assert [r["user_id"] for c in of(records, TOPICS.resolved.name) for r in c["recipients"]] == [
        "u000",
        "u002",
    ]
