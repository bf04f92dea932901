"""Topic contracts: names, keys, partitioning and creation config, written once."""

from __future__ import annotations

import pytest

from tidings.contracts.topics import (
    Topics,
    event_key,
    schema_key,
    state_key,
    tenant_of_key,
    user_key,
)
from tidings.settings import Settings, TopicSettings

TOPICS = Topics(Settings(topic_prefix="acme."))


def test_every_topic_name_carries_the_prefix() -> None:
    assert all(spec.name.startswith("acme.") for spec in TOPICS.all())


def test_topic_names_are_unique() -> None:
    names = [spec.name for spec in TOPICS.all()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("name", ["state", "directory", "schemas", "clients"])
def test_state_like_topics_are_compacted(name: str) -> None:
    spec = TOPICS.by_name(f"acme.{name}")
    assert spec is not None
    assert spec.config["cleanup.policy"] == "compact"


def test_idempotency_keys_are_compacted_and_expire_after_the_window() -> None:
    config = TOPICS.idempotency.config
    assert config["cleanup.policy"] == "compact,delete"
    assert config["retention.ms"] == str(24 * 3600 * 1000)


def test_events_are_kept_forever_by_default_and_never_compacted() -> None:
    assert TOPICS.events.config["cleanup.policy"] == "delete"
    assert TOPICS.events.config["retention.ms"] == "-1"


def test_events_have_twelve_partitions_by_default() -> None:
    assert TOPICS.events.partitions == 12


def test_state_is_co_partitioned_with_events() -> None:
    topics = Topics(Settings(topics=TopicSettings(events_partitions=7, other_partitions=3)))
    assert topics.state.partitions == topics.events.partitions == 7


def test_one_delivery_topic_per_channel() -> None:
    assert sorted(TOPICS.deliveries) == ["email", "in_app", "push", "sms"]
    assert TOPICS.deliveries["sms"].name == "acme.deliveries.sms"


def test_min_insync_replicas_comes_from_settings() -> None:
    topics = Topics(Settings(topics=TopicSettings(min_insync_replicas=2)))
    assert {spec.config["min.insync.replicas"] for spec in topics.all()} == {"2"}


def test_tenant_prefixed_keys_give_back_their_tenant() -> None:
    for key in (event_key("acme"), state_key("acme", "e-1"), user_key("acme", "u-1")):
        assert tenant_of_key(key) == "acme"


def test_schema_keys_are_type_slash_version() -> None:
    assert schema_key("content.approved", 2) == b"content.approved/2"
