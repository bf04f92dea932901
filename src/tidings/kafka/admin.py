"""Topic provisioning: create what is missing, correct configuration drift, report both."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    TopicMetadata,
)

from tidings.contracts.topics import Topics, TopicSpec
from tidings.kafka.config import common_config
from tidings.settings import Settings


@dataclass
class EnsureReport:
    created: list[str] = field(default_factory=list)
    reconfigured: dict[str, dict[str, tuple[str | None, str]]] = field(default_factory=dict)
    repartitioned: dict[str, tuple[int, int]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.reconfigured or self.repartitioned)


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient(common_config(settings, "admin"))


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> EnsureReport:
    """Idempotent: a second run against the same cluster changes nothing and reports so."""
    admin = admin_client(settings)
    specs = Topics(settings).all()
    existing = admin.list_topics(timeout=timeout_s).topics
    report = EnsureReport()
    missing = [s for s in specs if s.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    s.name,
                    num_partitions=s.partitions,
                    replication_factor=settings.topics.replication_factor,
                    config=s.config,
                )
                for s in missing
            ],
            operation_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result()
                report.created.append(name)
            except KafkaException as exc:
                # Another ensure (a replica starting, an operator) created it first.
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
        _wait_visible(admin, [s.name for s in missing], timeout_s)
        existing = admin.list_topics(timeout=timeout_s).topics
    present = [s for s in specs if s.name in existing and s.name not in report.created]
    _correct_partitions(admin, present, existing, report, timeout_s)
    _correct_configs(admin, present, report, timeout_s)
    return report


def _wait_visible(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Created topics reach the metadata of every broker a moment later; callers produce or
    describe right away, so return only once each has leaders for all its partitions."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=timeout_s).topics
        if all(
            name in topics
            and topics[name].error is None
            and topics[name].partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in names
        ):
            return
        time.sleep(0.1)


def _correct_partitions(
    admin: AdminClient,
    specs: list[TopicSpec],
    existing: Mapping[str, TopicMetadata],
    report: EnsureReport,
    timeout_s: float,
) -> None:
    # Partitions can only grow; growing the events topic would move tenants between
    # partitions, so only an explicit higher setting does it.
    grow = []
    for spec in specs:
        current = len(existing[spec.name].partitions)
        if current < spec.partitions:
            grow.append(NewPartitions(spec.name, spec.partitions))
            report.repartitioned[spec.name] = (current, spec.partitions)
    if grow:
        for future in admin.create_partitions(grow, operation_timeout=timeout_s).values():
            future.result()


def _correct_configs(
    admin: AdminClient, specs: list[TopicSpec], report: EnsureReport, timeout_s: float
) -> None:
    if not specs:
        return
    resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in specs]
    described = admin.describe_configs(resources, request_timeout=timeout_s)
    for spec, resource in zip(specs, resources, strict=True):
        current = described[resource].result()
        drift = {
            key: (current[key].value if key in current else None, want)
            for key, want in spec.config.items()
            if key not in current or current[key].value != want
        }
        if not drift:
            report.unchanged.append(spec.name)
            continue
        entries = [
            ConfigEntry(key, want, incremental_operation=AlterConfigOpType.SET)
            for key, (_, want) in drift.items()
        ]
        alter = ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=entries)
        for future in admin.incremental_alter_configs([alter]).values():
            future.result()
        report.reconfigured[spec.name] = drift


def describe_topics(settings: Settings, timeout_s: float = 30.0) -> dict[str, dict[str, object]]:
    """Partitions and effective configuration of every project topic that exists."""
    admin = admin_client(settings)
    specs = Topics(settings).all()
    existing = admin.list_topics(timeout=timeout_s).topics
    present = [s for s in specs if s.name in existing]
    resources = [ConfigResource(ConfigResource.Type.TOPIC, s.name) for s in present]
    described = admin.describe_configs(resources, request_timeout=timeout_s) if resources else {}
    out: dict[str, dict[str, object]] = {}
    for spec, resource in zip(present, resources, strict=True):
        config = described[resource].result()
        out[spec.name] = {
            "partitions": len(existing[spec.name].partitions),
            "config": {key: config[key].value for key in spec.config if key in config},
        }
    return out


def topic_id(settings: Settings, topic: str, timeout_s: float = 5.0) -> str | None:
    """The topic's id (KIP-516): a topic deleted and created again under the same name has
    another. None when the broker does not say within ``timeout_s`` (a local store then
    relies on offsets): it is asked on partition assignment, which must not wait long."""
    admin = admin_client(settings)  # kept until the answer: a destroyed client fails its futures
    try:
        found = admin.describe_topics(TopicCollection([topic]), request_timeout=timeout_s)
        described = found[topic].result(timeout=timeout_s + 1)  # never waits unbounded
    except (KafkaException, TimeoutError):
        return None
    finally:
        del admin
    return str(described.topic_id) if described.topic_id is not None else None
