"""Ports for the service processes a test starts, apart per pytest-xdist worker.

Each worker (``gw0``, ``gw1``, …) hands out ports from its own block below the kernel's
ephemeral range: two workers never race for one port between the bind check here and the
child's own bind, and no client connection is given one as its source port meanwhile. A
run without xdist has a block of its own; each process starts at a random point of its
block (two sessions at once on one host rarely meet). The fixed ports (9092-9093,
19092-19097, 29092-29093, and the services' defaults 8080, 9181, 9182) lie outside them.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

BLOCK = 300
FIRST = 20_000  # 20000-20299 without xdist, 20300-20599 for gw0, … up to 28999 (gw28)
BLOCKS = (29_000 - FIRST) // BLOCK


def _block() -> range:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker.removeprefix("gw")) + 1 if worker.startswith("gw") else 0
    assert index < BLOCKS, f"no port block for xdist worker {worker}"
    start = FIRST + index * BLOCK
    return range(start, start + BLOCK)


_ports = _block()
_candidates = itertools.islice(itertools.cycle(_ports), random.randrange(BLOCK), None)


def free_port() -> int:
    """The next port of this worker's block that nothing listens on now."""
    for _ in range(BLOCK):
        port = next(_candidates)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # taken, or in TIME_WAIT from a stopped service
                continue
            return port
    raise RuntimeError("no free port left in this worker's block")
