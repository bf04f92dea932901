"""The views every service materializes from compacted topics: directory, clients, state."""

from __future__ import annotations

import threading
from typing import Any

from tidings.clients import ApiClient, ClientRegistry
from tidings.codec import Codec
from tidings.directory import Directory, User
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.state import newer
from tidings.topics import Topics

log = get_logger(__name__)


def directory_view(settings: Settings, codec: Codec, directory: Directory) -> CompactedView:
    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        if value is None:
            tenant, _, user_id = key.decode().partition("/")
            directory.delete(tenant, user_id)
            return
        directory.put(User.from_record(codec.decode(value, expect="directory_entry")[1]))

    return CompactedView(settings, Topics(settings).directory.name, apply, name="directory")


def clients_view(settings: Settings, codec: Codec, registry: ClientRegistry) -> CompactedView:
    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        if value is None:
            registry.delete(key.decode())
            return
        registry.put(ApiClient.from_record(codec.decode(value, expect="client")[1]))

    return CompactedView(settings, Topics(settings).clients.name, apply, name="clients")


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
