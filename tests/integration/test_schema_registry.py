"""The schema registry on the compacted schemas topic."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.schemas import INCOMPATIBLE, V1, V2
from tidings.contracts.topics import Topics, schema_key
from tidings.domain.compatibility import Compatibility
from tidings.errors import SchemaIncompatible
from tidings.kafka.producer import durable_producer, produce_sync
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry

TYPE = "content.approved"


@pytest.fixture
def registry(settings: Settings, topics: Topics) -> Iterator[SchemaRegistry]:
    reg = SchemaRegistry(settings).start()
    assert reg.wait_ready(30)
    yield reg
    reg.stop()


def other_type(request: pytest.FixtureRequest) -> str:
    """A type name of the test's own, so tests sharing the module's topic do not interact."""
    return f"test.{request.node.name}"


def test_bundled_schemas_become_visible_to_a_new_reader(
    settings: Settings, registry: SchemaRegistry
) -> None:
    registry.register_bundled()
    reader = SchemaRegistry(settings).start()
    try:
        assert reader.wait_ready(30)
        assert reader.schemas.types()[TYPE] == [1, 2]
        assert reader.schemas.resolve(TYPE, 2).schema == V2
    finally:
        reader.stop()


def test_registering_the_bundled_schemas_again_is_a_no_op(registry: SchemaRegistry) -> None:
    registry.register_bundled()
    assert [r.created for r in registry.register_bundled()] == [False, False]


def test_an_incompatible_version_is_refused_and_not_written(
    settings: Settings, registry: SchemaRegistry, request: pytest.FixtureRequest
) -> None:
    type_ = other_type(request)
    registry.register(type_, 1, V1)
    registry.register(type_, 2, V2)
    with pytest.raises(SchemaIncompatible):
        registry.register(type_, 3, INCOMPATIBLE)
    reader = SchemaRegistry(settings).start()
    try:
        assert reader.wait_ready(30)
        assert reader.schemas.types()[type_] == [1, 2]
    finally:
        reader.stop()


def test_mode_none_registers_what_backward_refuses(
    registry: SchemaRegistry, request: pytest.FixtureRequest
) -> None:
    type_ = other_type(request)
    registry.register(type_, 1, V1)
    assert registry.register(type_, 2, INCOMPATIBLE, Compatibility.NONE).created


def test_a_registered_version_cannot_be_replaced(
    registry: SchemaRegistry, request: pytest.FixtureRequest
) -> None:
    type_ = other_type(request)
    registry.register(type_, 1, V1)
    with pytest.raises(SchemaIncompatible):
        registry.register(type_, 1, V2)


def test_a_schema_that_is_not_avro_is_refused(
    registry: SchemaRegistry, request: pytest.FixtureRequest
) -> None:
    with pytest.raises(SchemaIncompatible):
        registry.register(other_type(request), 1, {"type": "record", "fields": "nope"})


def test_a_tombstone_withdraws_a_version(
    settings: Settings, topics: Topics, registry: SchemaRegistry, request: pytest.FixtureRequest
) -> None:
    type_ = other_type(request)
    registry.register(type_, 1, V1)
    producer = durable_producer(settings, "test-tombstone")
    sent = produce_sync(producer, topics.schemas.name, schema_key(type_, 1), None)
    assert registry.wait_applied(sent.partition() or 0, sent.offset() or 0, 20)
    assert type_ not in registry.schemas.types()
