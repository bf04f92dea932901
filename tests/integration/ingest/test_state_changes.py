"""What a client sees of its events' state changes, with resolver and fan-out running: the
history of GET, the list by status, and the SSE stream (resumed by id across a restart)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess, new_client
from tests.support.pipeline import ServiceFactory
from tests.support.sse import Stream
from tidings.contracts.codec import Codec
from tidings.ops.admin import CreatedClient
from tidings.settings import Settings

from .records import read_all

URL = "/api/v1/notifications"
STAGES = ["accepted", "resolving", "resolved", "dispatched"]


@pytest.fixture(scope="module")
def ingest(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    proc = IngestProcess(
        seeded, tmp_path_factory.mktemp("ingest"), TIDINGS_INGEST__STREAM_HEARTBEAT_S="1"
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module", autouse=True)
def processing(ingest: IngestProcess, start_service: ServiceFactory) -> None:
    start_service("resolver").wait_healthy()
    start_service("fanout").wait_healthy()


def post(http: httpx.Client, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        r = http.post(URL, json=EXAMPLE)
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
    return ids


def until_dispatched(http: httpx.Client, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = http.get(f"{URL}/{event_id}").json()
        if body["status"] == "dispatched":
            return body
        time.sleep(0.2)
    raise AssertionError(f"not dispatched: {body}")


def dispatched_all(ids: list[str]) -> Any:
    return lambda got: {e.data["id"] for e in got if e.data["status"] == "dispatched"} >= set(ids)


def state_topic_ids(settings: Settings, tenant: str, after: int) -> list[str]:
    """``<partition>-<offset>`` of every original state record of ``tenant`` after ``after``."""
    codec = Codec()
    out = []
    for msg in read_all(settings, f"{settings.topic_prefix}state"):
        _, record = codec.decode(msg.value(), expect="state")
        if record["tenant"] == tenant and not record.get("replay_id") and msg.offset() > after:
            out.append(f"{msg.partition()}-{msg.offset()}")
    return out


def test_history_names_every_stage_with_times_in_stage_order(http: httpx.Client) -> None:
    (event_id,) = post(http, 1)
    state = until_dispatched(http, event_id)
    assert [h["stage"] for h in state["history"]] == STAGES
    times = [h["at"] for h in state["history"]]
    assert times == sorted(times)
    assert state["history"][0]["at"] == state["accepted_at"]
    assert state["history"][-1]["at"] == state["updated_at"]


def test_list_by_status_finds_resolved_events_through_the_state_index(http: httpx.Client) -> None:
    (event_id,) = post(http, 1)
    until_dispatched(http, event_id)
    listed = http.get(URL, params={"status": "dispatched", "limit": 200}).json()
    assert event_id in [e["id"] for e in listed["notifications"]]
    waiting = http.get(URL, params={"status": "accepted"}).json()["notifications"]
    assert event_id not in [e["id"] for e in waiting]
    assert {e["status"] for e in waiting} <= {"accepted"}


def test_stream_sends_each_state_change_once_in_log_order(
    http: httpx.Client, ingest: IngestProcess, acme: CreatedClient
) -> None:
    stream = Stream(ingest, acme.secret).open()
    try:
        assert stream.status == 200
        ids = post(http, 3)
        got = stream.take_until(dispatched_all(ids))
    finally:
        stream.close()
    mine = [e for e in got if e.data["id"] in ids]
    for event_id in ids:
        stages = [e.data["status"] for e in mine if e.data["id"] == event_id]
        assert stages[-1] == "dispatched"
        assert stages == sorted(stages, key=STAGES.index)
    offsets = [e.offset for e in got]
    assert offsets == sorted(set(offsets))  # increasing: none twice, log order
    expected = state_topic_ids(ingest.settings, "acme", got[0].offset - 1)
    assert [e.id for e in got] == expected[: len(got)]


def test_stream_resumed_with_last_event_id_across_a_restart_misses_and_repeats_nothing(
    http: httpx.Client, ingest: IngestProcess, acme: CreatedClient
) -> None:
    stream = Stream(ingest, acme.secret).open()
    try:
        before = post(http, 2)
        got = stream.take_until(dispatched_all(before))
    finally:
        stream.close()
    resume_from = next(e for e in got if e.data["id"] == before[0])  # mid-way: more follow it
    ingest.restart()
    with ingest.client(acme.secret) as again:
        during = post(again, 2)  # while no stream is open
        for event_id in during:
            until_dispatched(again, event_id)
    expected = state_topic_ids(ingest.settings, "acme", resume_from.offset)
    resumed = Stream(ingest, acme.secret, **{"Last-Event-ID": resume_from.id}).open()
    try:
        after = resumed.take_until(lambda got: len(got) >= len(expected))
        later = post(http, 1)  # and live changes continue after the catch-up
        after += resumed.take_until(dispatched_all(later))
    finally:
        resumed.close()
    assert [e.id for e in after[: len(expected)]] == expected
    offsets = [e.offset for e in after]
    assert offsets == sorted(set(offsets))
    seen = {e.data["id"] for e in after}
    assert set(during) <= seen
    assert set(later) <= seen


def test_stream_filters_as_the_list_does(
    http: httpx.Client, ingest: IngestProcess, acme: CreatedClient
) -> None:
    stream = Stream(ingest, acme.secret).open(status="dispatched")
    try:
        ids = post(http, 2)
        got = stream.take_until(dispatched_all(ids))
    finally:
        stream.close()
    assert {e.data["status"] for e in got} == {"dispatched"}


def test_another_tenants_stream_sees_nothing_of_these_events(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    globex = new_client(ingest, "globex")
    stream = Stream(ingest, globex.secret).open()
    try:
        ids = post(http, 1)
        until_dispatched(http, ids[0])
        time.sleep(1.5)  # room for a stray change to arrive, were one sent
        # and a heartbeat passes too (1 s of quiet on the stream): waited for, not assumed
        deadline = time.monotonic() + 30
        while ": heartbeat" not in stream.comments and time.monotonic() < deadline:
            time.sleep(0.1)
        seen = []
        while not stream.events.empty():
            seen.append(stream.events.get_nowait().data["id"])
    finally:
        stream.close()
    assert ids[0] not in seen
    assert ": heartbeat" in stream.comments


def test_a_last_event_id_this_stream_never_sent_is_422(http: httpx.Client) -> None:
    r = http.get(f"{URL}/stream", headers={"Last-Event-ID": f"x-{uuid.uuid4()}"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    assert r.json()["errors"][0]["path"] == "Last-Event-ID"


def test_the_stream_needs_the_read_scope(ingest: IngestProcess) -> None:
    writer = new_client(ingest, scopes=("notifications:write",))
    with ingest.client(writer.secret) as http:
        r = http.get(f"{URL}/stream")
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
