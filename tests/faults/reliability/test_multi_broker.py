"""Three local brokers (replication factor 3, min.insync.replicas 2).

- The leader of the tenant's events partition is SIGKILLed under steady load and brought
  back: zero acknowledged events lost, zero duplicate delivery requests.
- Two brokers down: ingest answers 503 (with Retry-After) instead of accepting what it
  cannot make durable; the same keys succeed once the brokers are back.

The cluster is ``infra/kafka.sh start --nodes 3`` on 19092/19094/19096, never the shared one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.brokers import KillableCluster
from tests.support.faults import TEAM, report, small_settings
from tests.support.load import URL, HttpLoad, team_body
from tests.support.outcome import figures, on_log
from tests.support.stack import TENANT, Stack, api_client, provision
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.settings import Settings

ENV = {
    "TIDINGS_TOPICS__REPLICATION_FACTOR": "3",
    "TIDINGS_TOPICS__MIN_INSYNC_REPLICAS": "2",
    "TIDINGS_INGEST__PRODUCE_TIMEOUT_S": "5",
    "TIDINGS_KAFKA__DELIVERY_TIMEOUT_MS": "5000",
    "TIDINGS_KAFKA__REQUEST_TIMEOUT_MS": "4000",
}
BOUND_S = 5 * 2 + 5 + 3


@pytest.fixture(scope="module")
def trio() -> Iterator[KillableCluster]:
    cluster = KillableCluster("trio", nodes=3).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def settings(trio: KillableCluster) -> Settings:
    return small_settings(
        trio.bootstrap, "multi_broker", replication_factor=3, min_insync_replicas=2
    )


@pytest.fixture(scope="module")
def stack(settings: Settings, trio: KillableCluster, log_dir: Path) -> Iterator[tuple[Stack, str]]:
    provision(settings)
    secret = api_client(settings).secret
    stack = Stack(settings, log_dir, **ENV).start().wait_ready()
    yield stack, secret
    stack.stop()


@pytest.mark.timeout(900)
def test_leader_killed_under_load_loses_and_duplicates_nothing(
    settings: Settings, trio: KillableCluster, stack: tuple[Stack, str]
) -> None:
    services, secret = stack
    events = Topics(settings).events
    partition = tenant_partition(TENANT, events.partitions)
    load = HttpLoad(services.url, secret, TENANT, rate=15, workers=8).start()
    time.sleep(8)
    leader = trio.leader_of(events.name, partition)
    trio.kill(leader)
    killed = time.monotonic()
    # The controller fences the killed broker after its session (~9 s by default), then
    # elects another leader: polled for (a slow machine takes longer), then 15 s of outage
    # in all, as before.
    new_leader = leader
    while new_leader in (leader, -1) and time.monotonic() < killed + 90:
        time.sleep(0.5)
        new_leader = trio.leader_of(events.name, partition)
    time.sleep(max(0.0, killed + 15 - time.monotonic()))
    trio.start_node(leader)
    trio.wait_in_sync(events.name)
    time.sleep(10)
    ledger = load.stop()
    result = report(
        figures(
            "trio_leader_killed",
            settings,
            ledger.sent_ids,
            ledger.acked_ids,
            lambda e: TEAM,
            timeout_s=300,
            statuses=ledger.statuses(),
            leader=f"{leader}->{new_leader}",
            max_answer_s=round(max(a.seconds for a in ledger.attempts), 2),
        )
    )
    assert new_leader != leader
    assert result.lost == 0, services.dump()
    assert result.duplicated == 0
    assert result.acknowledged == result.sent
    assert set(ledger.statuses()) <= {"202", "503"}, ledger.statuses()


@pytest.mark.timeout(900)
def test_two_brokers_down_is_503_never_202(
    settings: Settings, trio: KillableCluster, stack: tuple[Stack, str]
) -> None:
    services, secret = stack
    events = Topics(settings).events
    trio.wait_in_sync(events.name)
    keys = [f"two-down-{uuid.uuid4().hex[:8]}-{n}" for n in range(5)]
    survivor = trio.leader_of(events.name, tenant_partition(TENANT, events.partitions))
    down = [n for n in trio.ports if n != survivor]
    for node in down:
        trio.kill(node)
    answers: list[tuple[int, float, str | None]] = []
    auth = {"Authorization": f"Bearer {secret}"}
    try:
        with httpx.Client(base_url=services.url, headers=auth, timeout=60) as http:
            time.sleep(2)
            for n, key in enumerate(keys):
                started = time.monotonic()
                r = http.post(URL, json=team_body(n), headers={"Idempotency-Key": key})
                answers.append(
                    (r.status_code, time.monotonic() - started, r.headers.get("retry-after"))
                )
    finally:
        for node in down:
            trio.start_node(node)
    trio.wait_in_sync(events.name)
    ids = {services_key_id(k) for k in keys}
    durable_before = sum(on_log(settings, ids).values())
    with httpx.Client(base_url=services.url, headers=auth, timeout=60) as http:
        retried = [_post_until_accepted(http, n, key) for n, key in enumerate(keys)]
    result = report(
        figures(
            "trio_two_brokers_down",
            settings,
            ids,
            {i for i in retried if i},
            lambda e: TEAM,
            timeout_s=300,
            during_outage=[a[0] for a in answers],
            on_log_during_outage=durable_before,
        )
    )
    assert [a[0] for a in answers] == [503] * len(keys), answers
    assert all(a[2] for a in answers), "503 without Retry-After"
    assert all(a[1] < BOUND_S for a in answers), answers
    assert (result.acknowledged, result.lost, result.duplicated) == (len(keys), 0, 0)


def services_key_id(key: str) -> str:
    from tidings.domain.envelope import event_id_for

    return event_id_for(TENANT, key)


def _post_until_accepted(http: httpx.Client, n: int, key: str) -> str | None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = http.post(URL, json=team_body(n), headers={"Idempotency-Key": key})
        if r.status_code == 202:
            return str(r.json()["id"])
        time.sleep(1)
    return None
