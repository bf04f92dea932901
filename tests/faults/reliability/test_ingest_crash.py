"""Ingest SIGKILLed after the broker acknowledged the transaction but before the HTTP answer:
the client saw no answer, retries with its Idempotency-Key, and exactly one event is processed.

The window is made deterministic with the ingest test hook ``TIDINGS_TEST_HOOKS__ANSWER_DELAY_MS``
(docs/ingest.md): the answer is held after the commit, the test waits until the event is
committed on the log (read_committed), and only then kills the process.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.faults import TEAM, report
from tests.support.load import URL, team_body
from tests.support.outcome import figures, on_log
from tests.support.stack import TENANT, Stack, api_client
from tidings.domain.envelope import event_id_for
from tidings.settings import Settings


def wait_committed(settings: Settings, event_id: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if on_log(settings, {event_id})[event_id]:
            return
    raise AssertionError("the event never reached the log")


@pytest.mark.timeout(600)
def test_kill_between_ack_and_answer_then_retry_processes_one_event(
    provisioned: Settings, log_dir: Path, stacks: list[Stack]
) -> None:
    client = api_client(provisioned)
    stack = Stack(provisioned, log_dir, TIDINGS_TEST_HOOKS__ANSWER_DELAY_MS="15000")
    stacks.append(stack.start().wait_ready())
    key = f"crash-{uuid.uuid4().hex[:8]}"
    event_id = event_id_for(TENANT, key)
    auth = {"Authorization": f"Bearer {client.secret}", "Idempotency-Key": key}
    first: list[object] = []

    def post_once() -> None:
        try:
            first.append(httpx.post(stack.url + URL, json=team_body(0), headers=auth, timeout=60))
        except httpx.TransportError as exc:
            first.append(exc)

    poster = threading.Thread(target=post_once)
    poster.start()
    wait_committed(provisioned, event_id)
    assert not first, "the answer came before the kill: the window was missed"
    stack.kill("ingest")
    poster.join(30)
    assert isinstance(first[0], httpx.TransportError), first

    stack.start("ingest", TIDINGS_TEST_HOOKS__ANSWER_DELAY_MS="0").wait_ready()
    retry = httpx.post(stack.url + URL, json=team_body(0), headers=auth, timeout=30)
    assert retry.status_code == 202, retry.text
    assert retry.json()["id"] == event_id
    assert retry.headers.get("idempotent-replayed") == "true"

    result = report(
        figures(
            "ingest_killed_after_ack",
            provisioned,
            {event_id},
            {event_id},
            lambda e: TEAM,
            timeout_s=120,
            log_records=on_log(provisioned, {event_id})[event_id],
        )
    )
    assert result.extra["log_records"] == 1
    assert (result.dispatched, result.lost, result.duplicated) == (1, 0, 0)
