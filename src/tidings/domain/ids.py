"""Ids: random ones (UUID version 4, request ids) from a per-thread pool of OS randomness,
and name-based ones (UUID version 5).

``uuid.uuid4`` reads 16 bytes from the OS per id, and ``os.urandom`` releases the GIL around
the system call: in a process whose other threads are busy (views reading topics back, a
producer's poll thread) the caller then waits for the GIL to come back, up to the 5 ms switch
interval. Profiled with py-spy, ``uuid4`` was 15 % of the producer library's sending thread
(B2). One read serves ``POOL_IDS`` ids; the bytes are the same CSPRNG output, so the ids are
as unpredictable. The pool is per thread (no lock) and emptied in a forked child, so two
processes never hand out the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

POOL_IDS = 256


class _Pool(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.at = 0


_pool = _Pool()


def _clear() -> None:
    _pool.data, _pool.at = b"", 0


os.register_at_fork(after_in_child=_clear)


def _take() -> bytes:
    pool = _pool
    at = pool.at
    if at >= len(pool.data):
        pool.data, at = os.urandom(16 * POOL_IDS), 0
    pool.at = at + 16
    return pool.data[at : at + 16]


def _canonical(b: bytearray, version: int) -> str:
    b[6] = (b[6] & 0x0F) | (version << 4)
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def name_uuid(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, formatted here: the ``UUID`` objects cost
    twice the hash (uuid5 was 8 % of the fan-out's samples, one per delivery)."""
    digest = hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()
    return _canonical(bytearray(digest[:16]), 5)


def random_uuid() -> str:
    """A random (version 4) UUID in its canonical string form, as ``str(uuid.uuid4())``
    (formatted here: ``uuid.UUID``'s constructor costs more than the randomness)."""
    return _canonical(bytearray(_take()), 4)


def random_hex() -> str:
    """128 random bits as 32 hex digits: an opaque id (request ids)."""
    return _take().hex()
