"""The processing-state view the ingest answers GET from: the newest state per event."""

from __future__ import annotations

import threading
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.state import newer
from tidings.contracts.topics import Topics
from tidings.kafka.view import CompactedView
from tidings.settings import Settings


class StateStore:
    """Latest state per (tenant, event id); a late lower-``seq`` record never wins."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def apply(self, record: dict[str, Any]) -> bool:
        if record.get("replay_id"):  # a forced redelivery's own state; GET shows the original
            return False
        key = (record["tenant"], record["event_id"])
        with self._lock:
            if newer(record, self._states.get(key)):
                self._states[key] = record
                return True
            return False

    def get(self, tenant: str, event_id: str) -> dict[str, Any] | None:
        return self._states.get((tenant, event_id))

    def __len__(self) -> int:
        return len(self._states)


def state_view(settings: Settings, codec: Codec, store: StateStore) -> CompactedView:
    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if value is not None:
            store.apply(codec.decode(value, expect="state")[1])

    return CompactedView(settings, Topics(settings).state.name, apply, name="state")
