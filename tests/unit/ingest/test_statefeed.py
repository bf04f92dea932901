"""The state feed's buffer (``tidings_ingest.statefeed.FeedBuffer``): a resume by offset gets
every change after it exactly once, from the broker, the buffer and the live feed."""

from __future__ import annotations

import asyncio

from tidings_ingest.statefeed import Change, FeedBuffer, Subscription


def changes(*offsets: int, partition: int = 0) -> list[Change]:
    return [Change(partition, o, {"tenant": "acme", "offset": o}) for o in offsets]


def everyone(change: Change) -> bool:
    return True


async def live(subscription: Subscription) -> list[int | None]:
    await asyncio.sleep(0)  # the feed hands changes over with call_soon_threadsafe
    out: list[int | None] = []
    while not subscription.subscriber.queue.empty():
        change = subscription.subscriber.queue.get_nowait()
        out.append(None if change is None else change.offset)
    return out


async def test_a_new_stream_gets_only_what_is_fed_after_it() -> None:
    buffer = FeedBuffer(size=10, limit=100)
    buffer.begin({0: 5})
    buffer.feed(changes(5, 6))
    subscription = buffer.subscribe(0, None, asyncio.get_running_loop(), everyone)
    buffer.feed(changes(8, 9))
    assert (subscription.gap, subscription.held) == (None, [])
    assert await live(subscription) == [8, 9]


async def test_a_resume_inside_the_buffer_gets_the_held_changes_then_live_ones() -> None:
    buffer = FeedBuffer(size=10, limit=100)
    buffer.begin({0: 5})
    buffer.feed(changes(5, 6, 8))
    subscription = buffer.subscribe(0, 5, asyncio.get_running_loop(), everyone)
    buffer.feed(changes(9))
    assert subscription.gap is None
    assert [c.offset for c in subscription.held] == [6, 8]
    assert await live(subscription) == [9]


async def test_a_resume_from_before_the_buffer_names_the_range_to_read_from_the_broker() -> None:
    buffer = FeedBuffer(size=2, limit=100)
    buffer.begin({0: 5})
    buffer.feed(changes(5, 6, 7, 8))  # 5 and 6 dropped: the buffer holds 7 and 8
    subscription = buffer.subscribe(0, 3, asyncio.get_running_loop(), everyone)
    assert subscription.gap == (4, 7)
    assert [c.offset for c in subscription.held] == [7, 8]


async def test_a_resume_from_before_the_feed_started_reads_up_to_its_start() -> None:
    buffer = FeedBuffer(size=10, limit=100)
    buffer.begin({0: 40})
    subscription = buffer.subscribe(0, 12, asyncio.get_running_loop(), everyone)
    assert (subscription.gap, subscription.held) == ((13, 40), [])


async def test_changes_the_stream_does_not_admit_are_not_queued() -> None:
    buffer = FeedBuffer(size=10, limit=100)
    buffer.begin({0: 0})
    loop = asyncio.get_running_loop()
    subscription = buffer.subscribe(0, None, loop, lambda c: c.offset % 2 == 0)
    other = buffer.subscribe(1, None, loop, everyone)
    buffer.feed(changes(0, 1, 2))
    assert await live(subscription) == [0, 2]
    assert await live(other) == []


async def test_a_stream_that_falls_too_far_behind_is_ended_not_buffered() -> None:
    buffer = FeedBuffer(size=10, limit=2)
    buffer.begin({0: 0})
    subscription = buffer.subscribe(0, None, asyncio.get_running_loop(), everyone)
    buffer.feed(changes(0, 1, 2, 3))
    assert await live(subscription) == [0, 1, None]  # None: the stream ends; it resumes by id
    buffer.unsubscribe(0, subscription.subscriber)
    assert buffer.streams() == 0
