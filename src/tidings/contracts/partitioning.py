"""Kafka's default key -> partition mapping (murmur2), as the Java client and console tools do it.

State records are keyed ``tenant/event id`` but must live in the partition of their tenant's
events (co-partitioning), so their partition is computed from the tenant, not their own key.
murmur2 is written here (Java's ``Utils.murmur2``, checked against Kafka's own test vectors in
``tests/unit/contracts/test_partitioning.py``) rather than taken from a second Kafka client.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF

# One compiled little-endian "n words" unpacker per word count: unpacking all 4-byte blocks in
# one C call is what makes this faster than a byte-by-byte loop. Bounded: keys longer than
# 256 bytes compile their unpacker each time.
_UNPACKERS: dict[int, Callable[[bytes], tuple[int, ...]]] = {}


def _unpacker(words: int) -> Callable[[bytes], tuple[int, ...]]:
    unpack = struct.Struct(f"<{words}I").unpack_from
    if words <= 64:
        _UNPACKERS[words] = unpack
    return unpack


def murmur2(data: bytes) -> int:
    """The Java client's murmur2 of ``data`` as an unsigned 32-bit int (Java's int & 0xFFFFFFFF)."""
    m = _M
    mask = _MASK
    length = len(data)
    h = _SEED ^ length
    words = length >> 2
    unpack = _UNPACKERS.get(words) or _unpacker(words)
    for k in unpack(data):
        k = k * m & mask
        h = (h * m & mask) ^ ((k ^ k >> 24) * m & mask)
    tail = length & 3
    if tail:
        i = length - tail
        if tail == 3:
            h ^= data[i + 2] << 16
        if tail >= 2:
            h ^= data[i + 1] << 8
        h = (h ^ data[i]) * m & mask
    h ^= h >> 13
    h = h * m & mask
    return h ^ h >> 15


def partition_for(key: bytes, partitions: int) -> int:
    # Java: Utils.toPositive(murmur2(key)) % numPartitions
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@lru_cache(maxsize=65_536)
def tenant_partition(tenant: str, partitions: int) -> int:
    """Cached: pure-Python murmur2 costs ~1-3 us, and every state record of a service asks."""
    return partition_for(tenant.encode(), partitions)
