"""Writes both services make inside a transaction: state records (explicit tenant partition,
co-partitioned with events) and dead letters."""

from __future__ import annotations

from typing import Any

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics, event_key, state_key
from tidings.processing.outbox import Outbox
from tidings.processing.restore import identity


class PendingStates(list[tuple[int, dict[str, Any], bytes]]):
    """The open transaction's state records (applied to the view only on commit) in write
    order, plus the newest one per
    processing identity, so a handler finds an event's pending state without scanning the
    whole batch for every record (that scan was quadratic in the batch size)."""

    def __init__(self) -> None:
        super().__init__()
        self.latest: dict[tuple[str, str, str], dict[str, Any]] = {}

    def append(self, item: tuple[int, dict[str, Any], bytes]) -> None:
        super().append(item)
        self.latest[identity(item[1])] = item[1]

    def clear(self) -> None:
        super().clear()
        self.latest.clear()


class Writes:
    def __init__(self, topics: Topics, codec: Codec) -> None:
        self.topics = topics
        self.codec = codec
        self.partitions = topics.events.partitions

    def partition_of(self, tenant: str) -> int:
        return tenant_partition(tenant, self.partitions)

    def state(self, out: Outbox, record: dict[str, Any], pending: PendingStates) -> None:
        """One state record; ``pending`` collects it for the in-memory view on commit."""
        tenant, event_id = record["tenant"], record["event_id"]
        value = self.codec.encode("state", record, validate=False)  # built by the service
        partition = self.partition_of(tenant)
        headers = h.to_list({h.EVENT_ID: event_id, h.TENANT: tenant})
        key = state_key(tenant, event_id, record.get("replay_id"))
        out.produce(self.topics.state.name, key, value, headers, partition)
        out.transitions[record["stage"]] += 1
        pending.append((partition, record, value))

    def dead_letter(self, out: Outbox, record: dict[str, Any]) -> None:
        tenant = record.get("tenant")
        key = event_key(tenant) if tenant else None
        out.produce(self.topics.dlq.name, key, self.codec.encode("dead_letter", record))
        out.dead_letters[record["outcome"]] += 1
