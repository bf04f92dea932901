"""Partitioning agrees with Kafka's Java default (murmur2), so every client co-locates a tenant."""

from __future__ import annotations

import pytest

from tidings.contracts.partitioning import partition_for, tenant_partition

# Vectors from Apache Kafka's UtilsTest.testMurmur2 (signed 32-bit results of Utils.murmur2).
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("key", "java_hash"), JAVA_MURMUR2.items())
def test_partition_matches_the_java_clients_choice(key: str, java_hash: int) -> None:
    # Java: Utils.toPositive(murmur2(key)) % numPartitions
    for partitions in (1, 7, 12, 100):
        assert partition_for(key.encode(), partitions) == (java_hash & 0x7FFFFFFF) % partitions


def test_tenant_partition_is_the_partition_of_the_tenant_key() -> None:
    assert tenant_partition("acme", 12) == partition_for(b"acme", 12)
