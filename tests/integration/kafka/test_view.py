"""Compacted-topic views: replay to the high watermark before ready, then keep tailing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from confluent_kafka import Message, Producer

from tidings.contracts.topics import Topics, user_key
from tidings.kafka.producer import durable_producer, produce_sync
from tidings.kafka.view import CompactedView, apply_with
from tidings.settings import Settings


class Model:
    def __init__(self) -> None:
        self.entries: dict[bytes, object] = {}

    def put(self, key: bytes, value: object) -> None:
        self.entries[key] = value

    def delete(self, key: bytes) -> None:
        self.entries.pop(key, None)


@pytest.fixture(scope="module")
def producer(settings: Settings, topics: Topics) -> Producer:
    return durable_producer(settings, "test-view")


@contextmanager
def running_view(
    settings: Settings, topic: str, model: Model, decode: Callable[[bytes], object] = bytes
) -> Iterator[CompactedView]:
    """Tests share the module's topics; each writes under its own tenant prefix."""
    view = CompactedView(settings, topic, apply_with(decode, model.put, model.delete))
    view.start()
    try:
        yield view
    finally:
        view.stop()


def write(producer: Producer, topic: str, key: bytes, value: bytes | None) -> Message:
    return produce_sync(producer, topic, key, value)


def test_view_is_ready_only_after_replaying_what_was_already_written(
    settings: Settings, topics: Topics, producer: Producer
) -> None:
    keys = [user_key("ready", f"u-{i}") for i in range(50)]
    for key in keys:
        write(producer, topics.directory.name, key, b"v1")
    model = Model()
    with running_view(settings, topics.directory.name, model) as view:
        assert view.wait_ready(30)
        # Ready means caught up: every record that existed at start is already applied.
        assert {k for k in model.entries if k.startswith(b"ready/")} == set(keys)


def test_a_tombstone_removes_the_entry(
    settings: Settings, topics: Topics, producer: Producer
) -> None:
    key = user_key("tomb", "u-1")
    write(producer, topics.directory.name, key, b"alive")
    model = Model()
    with running_view(settings, topics.directory.name, model) as view:
        assert view.wait_ready(30)
        assert model.entries[key] == b"alive"
        sent = write(producer, topics.directory.name, key, None)
        assert view.wait_for(sent.partition() or 0, sent.offset() or 0, 20)
        assert key not in model.entries


def test_the_last_value_of_a_key_wins(
    settings: Settings, topics: Topics, producer: Producer
) -> None:
    key = user_key("last", "u-1")
    for value in (b"1", b"2", b"3"):
        write(producer, topics.directory.name, key, value)
    model = Model()
    with running_view(settings, topics.directory.name, model) as view:
        assert view.wait_ready(30)
        assert model.entries[key] == b"3"


def test_records_written_after_ready_are_applied(
    settings: Settings, topics: Topics, producer: Producer
) -> None:
    model = Model()
    with running_view(settings, topics.directory.name, model) as view:
        assert view.wait_ready(30)
        sent = write(producer, topics.directory.name, user_key("tail", "u-9"), b"late")
        assert view.wait_for(sent.partition() or 0, sent.offset() or 0, 20)
        assert model.entries[user_key("tail", "u-9")] == b"late"


def test_a_view_of_an_empty_topic_is_ready_at_once(settings: Settings, topics: Topics) -> None:
    model = Model()
    with running_view(settings, topics.clients.name, model) as view:
        assert view.wait_ready(30)
        assert model.entries == {}


def test_a_bad_record_does_not_stop_the_view(
    settings: Settings, topics: Topics, producer: Producer
) -> None:
    def decode(raw: bytes) -> object:
        if raw == b"poison":
            raise ValueError("undecodable")
        return raw

    model = Model()
    write(producer, topics.directory.name, user_key("bad", "u-1"), b"poison")
    sent = write(producer, topics.directory.name, user_key("bad", "u-2"), b"fine")
    with running_view(settings, topics.directory.name, model, decode) as view:
        assert view.wait_ready(30)
        assert view.wait_for(sent.partition() or 0, sent.offset() or 0, 20)
        assert model.entries[user_key("bad", "u-2")] == b"fine"
        assert user_key("bad", "u-1") not in model.entries
