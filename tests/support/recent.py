"""Recent events over real local stores, fed by the test instead of a view of the topic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tidings.contracts.topics import TopicSpec
from tidings.stores.changelog import ChangelogStores
from tidings.stores.events import RecentEvents

EVENTS = TopicSpec("t.events", "event", 4)


@contextmanager
def recent_events(window_ms: int, root: Path | None = None) -> Iterator[RecentEvents]:
    """``RecentEvents`` whose stores (under ``root``, else temporary) are open for every
    partition; ``add`` indexes an event as the events view would."""
    events = RecentEvents(window_ms)
    stores = ChangelogStores(root, "events", EVENTS, events.table)
    stores.open(range(EVENTS.partitions), {})
    events.attach(stores, None)
    try:
        yield events
    finally:
        stores.close_all()
