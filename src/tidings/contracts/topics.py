"""Every topic contract in one place: name, key, record schema and creation config
(docs/architecture.md, "Topics")."""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.settings import Settings

DAY_MS = 24 * 3600 * 1000
HEARTBEATS_KEPT_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its full name, the record its values carry, and how it is created."""

    name: str
    record: str | None
    partitions: int
    config: dict[str, str] = field(default_factory=dict)

    @property
    def compacted(self) -> bool:
        return "compact" in self.config.get("cleanup.policy", "")


def event_key(tenant: str) -> bytes:
    """Events are keyed by tenant: one tenant's events keep their order in one partition."""
    return tenant.encode()


def state_key(tenant: str, event_id: str, replay_id: str | None = None) -> bytes:
    """A forced redelivery is a processing of its own: its state lives beside the original's
    (``tenant/event/replay``) and never hides or overwrites it."""
    if replay_id:
        return f"{tenant}/{event_id}/{replay_id}".encode()
    return f"{tenant}/{event_id}".encode()


def resolved_key(tenant: str, event_id: str, chunk: int) -> bytes:
    return f"{tenant}/{event_id}/{chunk}".encode()


def user_key(tenant: str, user_id: str) -> bytes:
    return f"{tenant}/{user_id}".encode()


def idempotency_key(tenant: str, key: str) -> bytes:
    return f"{tenant}/{key}".encode()


def schema_key(type_: str, version: int) -> bytes:
    return f"{type_}/{version}".encode()


def client_key(client_id: str) -> bytes:
    return client_id.encode()


def tenant_of_key(key: bytes | None) -> str | None:
    """The tenant a tenant-prefixed key belongs to (events, state, resolved, deliveries)."""
    if not key:
        return None
    return key.decode("utf-8", errors="replace").split("/", 1)[0]


class Topics:
    """The topic set of one deployment, named with its prefix (default ``tidings.``)."""

    def __init__(self, settings: Settings) -> None:
        t = settings.topics
        p = settings.topic_prefix
        n = t.other_partitions
        isr = {"min.insync.replicas": str(t.min_insync_replicas)}
        compact = {"cleanup.policy": "compact", **isr}
        delete = {"cleanup.policy": "delete", **isr}
        self.prefix = p
        self.events = TopicSpec(
            f"{p}events",
            "event",
            t.events_partitions,
            {**delete, "retention.ms": str(t.events_retention_ms)},
        )
        # Co-partitioned with events: same key prefix (tenant), same partition count, so a
        # resolver restoring partition N of events reads only partition N of state.
        self.state = TopicSpec(f"{p}state", "state", t.events_partitions, dict(compact))
        self.resolved = TopicSpec(
            f"{p}resolved",
            "resolved_chunk",
            t.events_partitions,
            {**delete, "retention.ms": str(7 * DAY_MS)},
        )
        self.retry = TopicSpec(
            f"{p}events.retry",
            "retry",
            t.events_partitions,
            {**delete, "retention.ms": str(7 * DAY_MS)},
        )
        self.dlq = TopicSpec(
            f"{p}events.dlq", "dead_letter", n, {**delete, "retention.ms": str(30 * DAY_MS)}
        )
        self.directory = TopicSpec(f"{p}directory", "directory_entry", n, dict(compact))
        self.schemas = TopicSpec(f"{p}schemas", "schema_registration", 1, dict(compact))
        self.clients = TopicSpec(f"{p}clients", "client", 1, dict(compact))
        self.idempotency = TopicSpec(
            f"{p}idempotency",
            "idempotency",
            n,
            {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(t.idempotency_window_ms),
                **isr,
            },
        )
        self.replays = TopicSpec(f"{p}replays", "replay_audit", 1, {**delete, "retention.ms": "-1"})
        # Ingest replicas' heartbeats (kafka/membership.py): broker-stamped, so hosts' clocks
        # need not agree; small segments so that what is older than minutes is deleted.
        self.ingest_replicas = TopicSpec(
            f"{p}ingest.replicas",
            None,
            1,
            {
                "cleanup.policy": "compact,delete",
                "retention.ms": str(HEARTBEATS_KEPT_MS),
                "segment.ms": str(HEARTBEATS_KEPT_MS),
                "message.timestamp.type": "LogAppendTime",
                **isr,
            },
        )
        self.deliveries = {
            channel: TopicSpec(
                f"{p}deliveries.{channel}",
                "delivery",
                n,
                {**delete, "retention.ms": str(t.deliveries_retention_ms)},
            )
            for channel in settings.processing.channels
        }

    def all(self) -> list[TopicSpec]:
        fixed = [
            self.events,
            self.state,
            self.resolved,
            self.retry,
            self.dlq,
            self.directory,
            self.schemas,
            self.clients,
            self.idempotency,
            self.replays,
            self.ingest_replicas,
        ]
        return fixed + list(self.deliveries.values())

    def by_name(self, name: str) -> TopicSpec | None:
        return next((spec for spec in self.all() if spec.name == name), None)
