"""Two of each service started with default instance settings share the work: each claims
its own instance id, so none fences another, and every event is dispatched exactly once."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.pipeline import Service, ServiceFactory, deliveries, load_users, wait_states
from tests.support.stack import CHANNELS, USERS, api_client, team_directory
from tidings.contracts.topics import Topics
from tidings.settings import Settings

EVENTS = 40
# Events are keyed by tenant: enough tenants to land on every partition of both resolvers.
TENANTS = tuple(f"t{i}" for i in range(8))
BODY = {
    "type": "content.approved",
    "recipients": {"roles": ["team"]},
    "payload": {"content_id": "c"},
}


class Group:
    """Two resolvers, two fan-outs and one ingest of two workers, none given an instance id."""

    def __init__(self, start_service: ServiceFactory, data_dir: Path, secrets: list[str]) -> None:
        self.start_service, self.data_dir, self.secrets = start_service, data_dir, secrets
        self.ingest = self.start("ingest", TIDINGS_INGEST__WORKERS="2")
        self.resolvers = [self.start("resolver", instance="r0"), self.start("resolver", "r1")]
        self.fanouts = [self.start("fanout", instance="f0"), self.start("fanout", "f1")]

    def start(self, name: str, instance: str = "0", **env: str) -> Service:
        # ``instance`` only names the log file: the process claims its own id.
        service = Service(
            name, self.start_service.settings, self.start_service.log_dir, instance, **env
        )
        del service.env["TIDINGS_PROCESSING__INSTANCE_ID"]
        service.env.pop("TIDINGS_INGEST__INSTANCE_ID", None)
        service.env["TIDINGS_DATA_DIR"] = str(self.data_dir)
        self.start_service.started.append(service.start())
        return service


def metric(service: Service, name: str) -> float:
    """The sum of a counter over its labels (0 when never incremented)."""
    pattern = re.compile(rf"^{name}_total(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(v) for v in pattern.findall(service.metrics()))


def logged(service: Service, event: str) -> list[dict[str, Any]]:
    """The JSON log records of ``event`` in the service's log."""
    out = []
    for line in service.log_path.read_text(errors="replace").splitlines():
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(record, dict) and record.get("event") == event:
            out.append(record)
    return out


def instance_ids(service: Service, event: str) -> set[str]:
    return {str(r["instance_id"]) for r in logged(service, event)}


@pytest.fixture(scope="module")
def group(
    pipeline: Topics,
    settings: Settings,
    start_service: ServiceFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Group:
    for tenant in TENANTS:
        load_users(settings, team_directory(tenant))
    # Clients exist before ingest starts: its view has them once it is ready.
    secrets = [api_client(settings, tenant).secret for tenant in TENANTS]
    group = Group(start_service, tmp_path_factory.mktemp("data"), secrets)
    for service in [*group.resolvers, *group.fanouts]:
        service.wait_healthy(120)
    return group


@pytest.fixture(scope="module")
def posted(group: Group, settings: Settings) -> Iterator[list[str]]:
    with httpx.Client(base_url=f"http://127.0.0.1:{group.ingest.port}") as http:
        deadline = time.monotonic() + 120
        while not ready(http):
            assert time.monotonic() < deadline, group.ingest.tail()
            time.sleep(0.5)
        ids = []
        for n in range(EVENTS):
            auth = {"Authorization": f"Bearer {group.secrets[n % len(group.secrets)]}"}
            response = http.post("/api/v1/notifications", json=BODY, headers=auth, timeout=15)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
        yield ids


def ready(http: httpx.Client) -> bool:
    try:
        return http.get("/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_each_process_claims_an_instance_id_of_its_own(group: Group) -> None:
    ids = [instance_ids(s, "service_started") for s in [*group.resolvers, *group.fanouts]]
    assert all(len(i) == 1 for i in ids), ids
    resolver_ids = ids[0] | ids[1]
    fanout_ids = ids[2] | ids[3]
    assert len(resolver_ids) == 2
    assert len(fanout_ids) == 2
    assert all(i.endswith(("-0", "-1")) for i in resolver_ids | fanout_ids)


def test_each_ingest_worker_claims_an_instance_id_of_its_own(
    group: Group, posted: list[str]
) -> None:
    # One ready worker answers /readyz; on a busy host the other may still be starting (or
    # be a replacement of one uvicorn's supervisor gave up on), so it is waited for.
    deadline = time.monotonic() + 90
    while len(logged(group.ingest, "identity_registered")) < 2:
        assert time.monotonic() < deadline, group.ingest.tail()
        time.sleep(0.5)
    assert len(instance_ids(group.ingest, "ingest_worker")) == 2, group.ingest.tail()
    # Both sign with the one service key ring of their data dir (docs/trust-model.md).
    signers = [r["signer"] for r in logged(group.ingest, "identity_registered")]
    assert len(signers) >= 2, signers
    assert len(set(signers)) == 1
    assert signers[0].startswith("svc/")


def test_every_event_is_dispatched_exactly_once(
    group: Group, posted: list[str], settings: Settings
) -> None:
    states = wait_states(settings, posted, {"dispatched", "failed", "rejected"}, timeout_s=120)
    assert {states[e]["stage"] for e in posted} == {"dispatched"}
    wanted = set(posted)
    sent = Counter(
        (d["event_id"], d["user_id"], d["channel"])
        for d in deliveries(settings, lambda d: d["event_id"] in wanted)
    )
    expected = {(e, u, c) for e in posted for u in USERS for c in CHANNELS}
    assert set(sent) == expected
    assert set(sent.values()) == {1}


def test_both_resolvers_and_both_fanouts_did_work(group: Group, posted: list[str]) -> None:
    for service in [*group.resolvers, *group.fanouts]:
        assert metric(service, "tidings_consumed") > 0, service.name
        assert metric(service, "tidings_transactions_committed") > 0, service.name


def test_no_process_fenced_another(group: Group, posted: list[str]) -> None:
    for service in [*group.resolvers, *group.fanouts]:
        assert metric(service, "tidings_transaction_aborts") <= 1, service.tail()
    logs = "".join(s.log_path.read_text(errors="replace") for s in group.start_service.started)
    assert "fenced" not in logs.lower()
    assert logs.count("transaction_aborted") + logs.count("transaction_failed") <= 2


def test_a_restarted_resolver_claims_its_killed_predecessors_id(group: Group) -> None:
    killed = group.resolvers[0]
    before = instance_ids(killed, "service_started")
    killed.kill()
    restarted = group.start("resolver", "r0-restarted").wait_healthy(120)
    assert instance_ids(restarted, "service_started") == before
