"""Kafka's default key -> partition mapping (murmur2), as the Java client and console tools do it.

State records are keyed ``tenant/event id`` but must live in the partition of their tenant's
events (co-partitioning), so their partition is computed from the tenant, not their own key.
aiokafka ships the Java-compatible murmur2; we reuse it rather than write our own.
"""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


def partition_for(key: bytes, partitions: int) -> int:
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


@lru_cache(maxsize=65_536)
def tenant_partition(tenant: str, partitions: int) -> int:
    """Cached: pure-Python murmur2 costs ~10 us, and every state record of a service asks."""
    return partition_for(tenant.encode(), partitions)
