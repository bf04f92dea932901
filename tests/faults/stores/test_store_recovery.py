"""Local stores that cannot be trusted are rebuilt from the topics, and the pipeline answers
exactly as before: GET, resolution (roles and rules) and duplicate detection.

- a store deleted, or its files cut in half, while the services were stopped;
- the services SIGKILLed while their directory views write a large update (the stores are
  left open: verified block by block before they are trusted again);
- partitions moved to a second resolver and back: the first resumes them from its
  checkpoints and reads what the second wrote meanwhile.

Each scenario also appends every event again (same bytes) after the fault: the rebuilt
state must know them all, so none is resolved twice. 0 lost, 0 duplicated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.faults import TENANTS
from tests.support.load import URL
from tests.support.outcome import figures, wait_dispatched
from tests.support.pipeline import DirectProducer, Service, load_users
from tests.support.report import record
from tests.support.stack import CHANNELS, USERS, Stack, api_client
from tidings.settings import Settings

TEAM = {(u, c) for u in USERS for c in CHANNELS}
PRO = ("p0", "p1")  # users a rule finds by attribute
BULK = 20_000  # users of the large directory update the views are killed while writing


def pro_users(tenant: str) -> list[dict[str, Any]]:
    return [
        {
            "tenant": tenant,
            "id": uid,
            "attributes": {"plan": "pro"},
            "channels": {"in_app": uid, "email": f"{uid}@x.test"},
        }
        for uid in PRO
    ]


def body(n: int) -> dict[str, Any]:
    """Even events go to the team (a role), odd ones to the users a rule matches."""
    if n % 2 == 0:
        recipients: dict[str, Any] = {"roles": ["team"]}
    else:
        recipients = {"rules": [{"attribute": "plan", "equals": "pro"}]}
    return {
        "type": "content.approved",
        "recipients": recipients,
        "payload": {"content_id": f"c{n}"},
    }


class Events:
    """Signed events of every tenant (direct producers), kept so they can be appended again."""

    def __init__(self, settings: Settings) -> None:
        self.producers = {t: DirectProducer(settings, t) for t in TENANTS}
        self.sent: dict[str, tuple[str, dict[str, Any]]] = {}  # id -> (tenant, envelope)
        self.audience: dict[str, set[tuple[str, str]]] = {}

    def send(self, count: int, start: int = 0) -> list[str]:
        ids = []
        for n in range(start, start + count):
            tenant = TENANTS[n % len(TENANTS)]
            envelope = self.producers[tenant].envelope(body(n))
            self.producers[tenant].send_envelope(envelope)
            event_id = str(envelope["event_id"])
            self.sent[event_id] = (tenant, envelope)
            self.audience[event_id] = (
                TEAM if n % 2 == 0 else {(u, c) for u in PRO for c in CHANNELS}
            )
            ids.append(event_id)
        self.flush()
        return ids

    def again(self) -> None:
        """Every event appended a second time (a producer's retry, a doubled append)."""
        for tenant, envelope in self.sent.values():
            self.producers[tenant].send_envelope(envelope)
        self.flush()

    def flush(self) -> None:
        for producer in self.producers.values():
            producer.flush()

    def expected(self, event_id: str) -> set[tuple[str, str]]:
        return self.audience[event_id]


def snapshot(stack: Stack, secrets: dict[str, str], events: Events) -> dict[str, Any]:
    """What a client sees of every event (GET), and what ingest's directory says."""
    out: dict[str, Any] = {}
    for event_id, (tenant, _) in sorted(events.sent.items()):
        auth = {"Authorization": f"Bearer {secrets[tenant]}"}
        got = httpx.get(f"{stack.url}{URL}/{event_id}", headers=auth, timeout=30)
        out[event_id] = (got.status_code, got.json())
    return out


def damage_stores(data_dir: Path, how: str) -> int:
    """Delete every store, or cut each of its files in half; how many stores were hit."""
    stores = [p for p in (data_dir / "stores").glob("*/*/*") if p.is_dir()]
    for store in stores:
        for path in store.iterdir():
            if how == "deleted":
                path.unlink()
            elif path.suffix in (".sst", ".log") or path.name.startswith("MANIFEST"):
                os.truncate(path, path.stat().st_size // 2)
        if how == "deleted":
            store.rmdir()
    return len(stores)


def logged(services: list[Service], event: str) -> list[dict[str, Any]]:
    found = []
    for service in services:
        for line in service.log_path.read_text(errors="replace").splitlines():
            try:
                record_ = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record_, dict) and record_.get("event") == event:
                found.append(record_)
    return found


def wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("damage", ["deleted", "truncated", "killed_mid_write"])
def test_a_damaged_store_is_rebuilt_and_the_pipeline_answers_as_before(
    provisioned: Settings, log_dir: Path, data_dir: Path, stacks: list[Stack], damage: str
) -> None:
    settings = provisioned
    for tenant in TENANTS:
        load_users(settings, pro_users(tenant))
    secrets = {t: api_client(settings, t).secret for t in TENANTS}
    stack = Stack(settings, log_dir, TIDINGS_DATA_DIR=str(data_dir))
    stacks.append(stack.start().wait_ready())
    events = Events(settings)
    first = events.send(24)
    stages = wait_dispatched(settings, first, 180)
    assert all(stages.get(e) == "dispatched" for e in first), stages
    before = snapshot(stack, secrets, events)

    if damage == "killed_mid_write":
        bulk = [
            {"tenant": "t0", "id": f"bulk-{i}", "channels": {"in_app": f"b{i}"}}
            for i in range(BULK)
        ]
        load_users(settings, bulk)  # the views apply it while it is written and after
        stack.kill("resolver", "ingest")  # mid-write: their stores are left open
        stack.stop()
        hit = len(list((data_dir / "stores").glob("*/*/*.open")))
    else:
        stack.stop()  # a clean stop: then the files are damaged
        hit = damage_stores(data_dir, damage)
    assert hit > 0

    stack.start().wait_ready(300)
    after = snapshot(stack, secrets, events)
    assert after == before  # GET answers exactly as before the fault

    events.again()  # every event a second time: the rebuilt state knows them all
    later = events.send(12, start=1000)
    if damage == "killed_mid_write":  # the whole update is there after the restart
        auth = {"Authorization": f"Bearer {secrets['t0']}"}
        last = {**body(0), "recipients": {"users": [f"bulk-{BULK - 1}"]}}
        assert httpx.post(f"{stack.url}{URL}", json=last, headers=auth).status_code == 202
        detected = logged(list(stack.services.values()), "store_verified_after_unclean_stop")
        detected += logged(list(stack.services.values()), "store_untrusted")
    else:
        detected = logged(list(stack.services.values()), "store_untrusted")
        detected += [
            r for r in logged(list(stack.services.values()), "stores_opened") if r["from_beginning"]
        ]
    assert detected, "the damaged stores were not noticed"
    ids = set(events.sent)
    result = record(
        figures(
            f"store_{damage}",
            settings,
            ids,
            ids,
            events.expected,
            timeout_s=300,
            stores_hit=hit,
            events_appended_twice=len(first),
        )
    )
    assert (result.lost, result.duplicated) == (0, 0), result.line()
    assert set(later) <= ids


@pytest.mark.timeout(900)
def test_partitions_moved_to_another_resolver_and_back_give_the_same_results(
    provisioned: Settings, log_dir: Path, data_dir: Path, stacks: list[Stack]
) -> None:
    settings = provisioned
    for tenant in TENANTS:
        load_users(settings, pro_users(tenant))
    stack = Stack(settings, log_dir, TIDINGS_DATA_DIR=str(data_dir))
    stacks.append(stack.start("resolver", "fanout").wait_ready())
    resolver = stack.services["resolver"]
    events = Events(settings)
    before = events.send(24)
    wait_dispatched(settings, before, 180)

    other = stack.add("resolver", "1")  # takes half of the partitions
    other.wait_healthy()
    wait(
        lambda: len(logged([resolver], "partitions_assigned")) >= 2,
        60,
        "the first resolver was never given a smaller assignment",
    )
    moved = events.send(24, start=100)  # some resolved by the second resolver
    wait_dispatched(settings, moved, 180)
    other.stop()  # its partitions come back to the first, behind their checkpoints
    wait(
        lambda: len(logged([resolver], "state_restored")) >= 3,
        60,
        "the partitions did not come back",
    )
    back = logged([resolver], "state_restored")[-1]
    assert back["records"] > 0  # what the second resolver wrote, read from the checkpoints on
    assert not logged([resolver], "store_rebuilding")  # resumed, never rebuilt
    assert not logged([resolver], "store_untrusted")

    events.again()  # all of them again, those the second resolver handled included
    after = events.send(12, start=200)
    ids = set(events.sent)
    result = record(
        figures(
            "partitions_moved_and_back",
            settings,
            ids,
            ids,
            events.expected,
            timeout_s=300,
            handled_by_second=len(logged([other], "batch_committed")),
        )
    )
    assert (result.lost, result.duplicated) == (0, 0), result.line()
    assert logged([other], "batch_committed"), "the second resolver never resolved anything"
    assert set(after) <= ids
