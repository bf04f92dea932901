"""A process's instance id, claimed from the host instead of assigned by an operator.

Transactional ids are built from the instance id, and two live processes sharing one fence
each other in a storm. With ``instance_id = "auto"`` a process claims the lowest free slot N
of its service on this host: an exclusive, non-blocking ``flock`` on
``<data dir>/ids/<prefix><service>.<N>.lock``, held until the process exits. The kernel
drops the lock with the process however it dies, so a restarted process claims the same N
and its transactional id fences its crashed predecessor's open transaction at once. The id
is ``<hostname>-<N>``: processes on different hosts never share one.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from tidings.settings import Settings

AUTO = "auto"
MAX_SLOTS = 256
PROCESSING = ("resolver", "fanout")
# Default metrics ports of resolver and fan-out interleave (9181, 9182): slot N adds 2N.
PORT_STRIDE = 2


@dataclass(frozen=True)
class Slot:
    number: int
    path: Path
    fd: int

    def release(self) -> None:
        os.close(self.fd)  # closing the only descriptor drops the flock


# Claimed slots live as long as the process: a collected descriptor would free its slot.
# The descriptors are close-on-exec, so the watchdog's re-exec frees and claims again.
_held: list[Slot] = []


def claim_slot(directory: Path, name: str, limit: int = MAX_SLOTS) -> Slot:
    """The lowest N whose ``<name>.<N>.lock`` nobody holds, locked by this process."""
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(limit):
        path = directory / f"{name}.{number}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for a person looking; the lock decides
        return Slot(number, path, fd)
    raise RuntimeError(f"all {limit} instance slots of {name} in {directory} are held")


def host_name() -> str:
    """The hostname with anything a client or transactional id should not carry replaced."""
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def assign_instance(settings: Settings, service: str) -> Settings:
    """``settings`` with a concrete instance id for ``service``; an explicit one is kept.

    An automatic resolver or fan-out also moves its default metrics port by its slot, so
    several of them run on one host without a port each from the operator.
    """
    section = settings.ingest if service == "ingest" else settings.processing
    if section.instance_id != AUTO:
        return settings
    slot = claim_slot(settings.data_dir / "ids", f"{settings.topic_prefix}{service}")
    _held.append(slot)
    update: dict[str, object] = {"instance_id": f"{host_name()}-{slot.number}"}
    if service in PROCESSING:
        p = settings.processing
        update["resolver_port"] = p.resolver_port + PORT_STRIDE * slot.number
        update["fanout_port"] = p.fanout_port + PORT_STRIDE * slot.number
    name = "ingest" if service == "ingest" else "processing"
    return settings.model_copy(update={name: section.model_copy(update=update)})
