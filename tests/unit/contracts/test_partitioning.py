"""Partitioning agrees with Kafka's Java default (murmur2), so every client co-locates a tenant."""

from __future__ import annotations

import pytest

from tidings.contracts.partitioning import murmur2, partition_for, tenant_partition

# Vectors from Apache Kafka's UtilsTest.testMurmur2 (signed 32-bit results of Utils.murmur2).
JAVA_MURMUR2 = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}
# Utils.murmur2 of kafka-clients 4.1.1 (infra/kafka/lib) for what the vectors above leave out: an
# empty key and a one-byte tail.
JAVA_MURMUR2_TAILS = {"": 275646681, "a": -1563381124, "acme1": 1991195434, "tenant-1": 374640331}


@pytest.mark.parametrize(("key", "java_hash"), JAVA_MURMUR2.items())
def test_partition_matches_the_java_clients_choice(key: str, java_hash: int) -> None:
    # Java: Utils.toPositive(murmur2(key)) % numPartitions
    for partitions in (1, 7, 12, 100):
        assert partition_for(key.encode(), partitions) == (java_hash & 0x7FFFFFFF) % partitions


def test_tenant_partition_is_the_partition_of_the_tenant_key() -> None:
    assert tenant_partition("acme", 12) == partition_for(b"acme", 12)


@pytest.mark.parametrize(("key", "java_hash"), {**JAVA_MURMUR2, **JAVA_MURMUR2_TAILS}.items())
def test_murmur2_is_javas_utils_murmur2(key: str, java_hash: int) -> None:
    assert murmur2(key.encode()) == java_hash & 0xFFFFFFFF


def test_murmur2_of_a_key_longer_than_the_cached_unpackers() -> None:
    # 250 words and a one-byte tail: its unpacker is compiled per call, not cached.
    # Utils.murmur2("x".repeat(1001).getBytes()) in kafka-clients 4.1.1.
    assert murmur2(b"x" * 1001) == 791767020
