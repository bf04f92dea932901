"""Every service SIGKILLed at once and started again: the views (directory, schemas, clients,
state, idempotency) rebuild from Kafka and the system answers exactly as before: the same
states, the same idempotent replays, the same refusals, and new events are dispatched."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.faults import TEAM, report
from tests.support.load import URL, team_body
from tests.support.outcome import figures, wait_dispatched
from tests.support.pipeline import register_schemas
from tests.support.stack import Stack, api_client
from tidings.settings import Settings

CUSTOM = {  # an Avro payload schema registered at run time: it lives only in the schemas topic
    "type": "record",
    "name": "ReliabilityCustom",
    "fields": [{"name": "ticket", "type": "string"}],
}


def snapshot(http: httpx.Client, ids: list[str], keys: list[str]) -> dict[str, Any]:
    """Everything a client can observe: states, replays, refusals."""
    out: dict[str, Any] = {}
    for event_id in ids:
        body = http.get(f"{URL}/{event_id}").json()
        out[f"state:{event_id}"] = body
    for n, key in enumerate(keys):
        r = http.post(URL, json=team_body(n), headers={"Idempotency-Key": key})
        out[f"replay:{key}"] = (r.status_code, r.json()["id"], r.headers.get("idempotent-replayed"))
        reused = http.post(URL, json=team_body(n + 100), headers={"Idempotency-Key": key})
        out[f"reused:{key}"] = (reused.status_code, reused.json()["code"])
    unknown = http.post(URL, json={**team_body(0), "recipients": {"users": ["nobody"]}})
    out["unknown_user"] = (unknown.status_code, unknown.json()["code"])
    custom = http.post(
        URL, json={"type": "reliability.custom", "recipients": {"roles": ["team"]}, "payload": {}}
    )
    out["custom_schema_enforced"] = (custom.status_code, custom.json()["code"])
    return out


@pytest.mark.timeout(600)
def test_restart_of_every_service_rebuilds_views_and_answers_as_before(
    provisioned: Settings, log_dir: Path, stacks: list[Stack]
) -> None:
    register_schemas(provisioned, {"reliability.custom": CUSTOM})
    secret = api_client(provisioned).secret
    stack = Stack(provisioned, log_dir)
    stacks.append(stack.start().wait_ready())
    keys = [f"restart-{uuid.uuid4().hex[:8]}-{n}" for n in range(5)]
    auth = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=stack.url, headers=auth, timeout=30) as http:
        ids = [
            http.post(URL, json=team_body(n), headers={"Idempotency-Key": k}).json()["id"]
            for n, k in enumerate(keys)
        ]
        wait_dispatched(provisioned, ids, 120)
        before = snapshot(http, ids, keys)

    stack.kill()  # all three at once, no clean shutdown
    stack.start().wait_ready()
    with httpx.Client(base_url=stack.url, headers=auth, timeout=30) as http:
        after = snapshot(http, ids, keys)
        fresh = http.post(URL, json=team_body(99))
    assert fresh.status_code == 202
    all_ids = {*ids, fresh.json()["id"]}
    result = report(
        figures(
            "every_service_restarted",
            provisioned,
            all_ids,
            all_ids,
            lambda e: TEAM,
            timeout_s=180,
            answers_compared=len(before),
        )
    )
    assert after == before
    assert all(before[f"state:{i}"]["status"] == "dispatched" for i in ids)
    assert before["custom_schema_enforced"][0] == 422
    assert (result.dispatched, result.lost, result.duplicated) == (len(all_ids), 0, 0)
