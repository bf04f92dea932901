"""A bounded cache of decoded entries in front of a local store (hot keys only).

Views keep their records in RocksDB and decode on read; a few keys are read far more often
than the rest (the users a tenant lists in every request, the event a fan-out is working
through), so their decoded form is kept here, at most ``capacity`` of them, least recently
used first out. Nothing in it grows with the data.

One writer (the view's thread) and many readers share it. A reader that loads a value from
the store while the writer replaces that key must not put the old value back after the
writer invalidated it, so every invalidation bumps a generation and a load made under an
older generation is returned but not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class HotCache(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The cached value, or None (not cached: read the store)."""
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def load(self, key: K, read: Callable[[], V | None]) -> V | None:
        """The cached value, else ``read()`` (kept when no write raced with it)."""
        if not self.capacity:
            return read()
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
                return value
            generation = self._generation
        value = read()
        if value is not None:
            with self._lock:
                if generation == self._generation:
                    self._entries[key] = value
                    if len(self._entries) > self.capacity:
                        self._entries.popitem(last=False)
        return value

    def invalidate(self, keys: Iterable[K]) -> None:
        """Call after the store holds the new values of ``keys``."""
        with self._lock:
            self._generation += 1
            for key in keys:
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
