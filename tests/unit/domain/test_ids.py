"""Random ids from the per-thread pool: real version 4 UUIDs, never repeated, not across a fork;
name-based ids exactly as ``uuid.uuid5``."""

from __future__ import annotations

import os
import threading
import uuid

from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.ids import POOL_IDS, name_uuid, random_hex, random_uuid


def test_a_random_uuid_is_a_canonical_version_4_rfc_4122_uuid() -> None:
    for _ in range(3 * POOL_IDS):  # across pool refills
        text = random_uuid()
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)


def test_ids_never_repeat_within_or_across_threads() -> None:
    seen: list[str] = []

    def take() -> None:
        seen.extend(random_uuid() for _ in range(2 * POOL_IDS))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen.extend(random_hex() for _ in range(POOL_IDS))
    assert len(set(seen)) == len(seen) == 9 * POOL_IDS


def test_a_forked_child_does_not_hand_out_its_parents_pool() -> None:
    random_uuid()  # the parent's pool now holds POOL_IDS - 1 unused ids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then exit at once
        os.write(write, random_uuid().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != random_uuid()
    assert uuid.UUID(child).version == 4


@given(st.uuids(), st.text())
def test_a_name_uuid_is_exactly_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert name_uuid(namespace, name) == str(uuid.uuid5(namespace, name))
