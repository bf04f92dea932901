"""Topic provisioning against the real broker: create, stay idempotent, correct drift."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from tests.support.kafka import delete_topics, unique_prefix
from tidings.contracts.topics import Topics
from tidings.kafka.admin import describe_topics, ensure_topics
from tidings.settings import Settings, TopicSettings

COMPACTED = ["state", "directory", "schemas", "clients"]


@pytest.fixture
def fresh(kafka_bootstrap: str) -> Iterator[Settings]:
    """A prefix no topic exists under yet; its topics are deleted afterwards."""
    settings = Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=unique_prefix("admin"))
    yield settings
    delete_topics(settings)


def test_first_run_creates_every_topic(fresh: Settings) -> None:
    report = ensure_topics(fresh)
    assert sorted(report.created) == sorted(spec.name for spec in Topics(fresh).all())


def test_created_topics_carry_their_cleanup_policies(fresh: Settings) -> None:
    ensure_topics(fresh)
    described = describe_topics(fresh)
    policy = {name: info["config"]["cleanup.policy"] for name, info in described.items()}  # type: ignore[index]
    p = fresh.topic_prefix
    assert {policy[p + name] for name in COMPACTED} == {"compact"}
    assert policy[p + "idempotency"] == "compact,delete"
    assert policy[p + "events"] == "delete"


def test_events_are_created_with_twelve_partitions(fresh: Settings) -> None:
    ensure_topics(fresh)
    assert describe_topics(fresh)[fresh.topic_prefix + "events"]["partitions"] == 12


def test_second_run_changes_nothing(fresh: Settings) -> None:
    ensure_topics(fresh)
    again = ensure_topics(fresh)
    assert not again.changed
    assert len(again.unchanged) == len(Topics(fresh).all())


def test_config_drift_is_corrected_and_reported(fresh: Settings) -> None:
    ensure_topics(fresh)
    events = fresh.topic_prefix + "events"
    drifted = ConfigResource(
        ConfigResource.Type.TOPIC,
        events,
        incremental_configs=[
            ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)
        ],
    )
    admin = AdminClient({"bootstrap.servers": fresh.bootstrap_servers})
    for future in admin.incremental_alter_configs([drifted]).values():
        future.result()
    wait_until(lambda: retention(fresh, events) == "3600000")

    report = ensure_topics(fresh)

    assert report.reconfigured == {events: {"retention.ms": ("3600000", "-1")}}
    wait_until(lambda: retention(fresh, events) == "-1")


def retention(settings: Settings, topic: str) -> object:
    """One topic's retention as the broker reports it (one request: describing every topic
    took seconds a call on a loaded CI machine)."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    config = admin.describe_configs([resource], request_timeout=10)[resource].result()
    return config["retention.ms"].value


def wait_until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Config changes reach the brokers' view a moment after the AdminClient call returns
    (later on a machine running six test workers)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def test_a_higher_partition_setting_grows_the_topic_and_is_reported(fresh: Settings) -> None:
    ensure_topics(fresh)
    grown = fresh.model_copy(update={"topics": TopicSettings(other_partitions=14)})
    report = ensure_topics(grown)
    assert report.repartitioned[fresh.topic_prefix + "directory"] == (12, 14)
