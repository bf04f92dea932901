"""The directory view: the compacted directory topic materialized into a ``Directory``."""

from __future__ import annotations

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.directory import Directory, User
from tidings.kafka.view import CompactedView
from tidings.settings import Settings


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
