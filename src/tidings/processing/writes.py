"""Writes both services make inside a transaction: state records (explicit tenant partition,
co-partitioned with events) and dead letters."""

from __future__ import annotations

from typing import Any

from tidings import headers as h
from tidings.codec import Codec
from tidings.partitioning import tenant_partition
from tidings.processing.outbox import Outbox
from tidings.topics import Topics, event_key, state_key

Applied = list[tuple[int, dict[str, Any], bytes]]


class Writes:
    def __init__(self, topics: Topics, codec: Codec) -> None:
        self.topics = topics
        self.codec = codec
        self.partitions = topics.events.partitions

    def partition_of(self, tenant: str) -> int:
        return tenant_partition(tenant, self.partitions)

    def state(self, out: Outbox, record: dict[str, Any], pending: Applied) -> None:
        """One state record; ``pending`` collects it for the in-memory view on commit."""
        tenant, event_id = record["tenant"], record["event_id"]
        value = self.codec.encode("state", record)
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
