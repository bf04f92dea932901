"""``tidings replay``: exact dry-run counts, deduplicated by default, forced redelivery gives
exactly one extra set marked with its replay id, and every replay leaves an audit record."""

from __future__ import annotations

import json

import pytest

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.ops.admin import CreatedClient
from tidings.ops.scan import Selection, scan
from tidings.producer import Ack, NotificationProducer
from tidings.settings import Settings

from .harness import BODY, Proc, deliveries, settle, tidings, wait_stage

EVENTS = 4


@pytest.fixture(scope="module")
def run(seeded: Settings, services: dict[str, Proc], direct: CreatedClient) -> list[Ack]:
    """EVENTS events of tenant acme, all dispatched, deliveries settled."""
    assert direct.signing_key is not None
    with NotificationProducer(
        seeded, tenant="acme", client_id=direct.client.client_id, signing_key=direct.signing_key
    ) as p:
        for i in range(EVENTS):
            p.send({**BODY, "payload": {"content_id": f"c-{i}"}}, idempotency_key=f"r-{i}")
        acks = p.flush()
    for ack in acks:
        wait_stage(seeded, "acme", ack.event_id, {"dispatched"})
    settle(seeded)
    return sorted(acks, key=lambda a: a.offset or 0)


def replay(settings: Settings, *args: str) -> dict[str, object]:
    done = tidings(settings, "replay", "--json", *args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_dry_run_counts_every_selected_event_exactly(seeded: Settings, run: list[Ack]) -> None:
    report = replay(seeded, "--tenant", "acme", "--dry-run")
    assert (report["selected"], report["would_replay"], report["replayed"]) == (EVENTS, EVENTS, 0)


def test_dry_run_counts_an_offset_range_exactly(seeded: Settings, run: list[Ack]) -> None:
    first, last = run[1], run[2]
    span = f"{first.partition}:{first.offset}-{last.offset}"
    assert replay(seeded, "--all", "--offsets", span, "--dry-run")["selected"] == 2


def test_a_default_replay_gives_no_second_delivery(seeded: Settings, run: list[Ack]) -> None:
    before = settle(seeded)
    report = replay(seeded, "--tenant", "acme")
    assert report["replayed"] == EVENTS
    assert settle(seeded) == before


def test_a_replay_from_a_dump_file_reads_what_dump_wrote(
    seeded: Settings, run: list[Ack], tmp_path_factory: pytest.TempPathFactory
) -> None:
    dump = tmp_path_factory.mktemp("dump") / "events.txt"
    assert tidings(seeded, "events", "dump", "--tenant", "acme", "-o", str(dump)).returncode == 0
    assert (
        replay(seeded, "--tenant", "acme", "--file", str(dump), "--dry-run")["selected"] == EVENTS
    )


def test_forced_redelivery_adds_exactly_one_set_marked_with_its_replay_id(
    seeded: Settings, run: list[Ack]
) -> None:
    target = run[0]
    span = f"{target.partition}:{target.offset}-{target.offset}"
    original = {
        (d["user_id"], d["channel"])
        for d in deliveries(seeded, target.event_id)
        if d["replay_id"] is None
    }
    report = replay(seeded, "--all", "--offsets", span, "--force-redeliver", "--replay-id", "rp-1")
    assert report["replayed"] == 1
    replay(seeded, "--all", "--offsets", span, "--force-redeliver", "--replay-id", "rp-1")
    settle(seeded, idle_s=5)
    found = deliveries(seeded, target.event_id)
    marked = [(d["user_id"], d["channel"]) for d in found if d["replay_id"] == "rp-1"]
    assert sorted(marked) == sorted(original)
    assert len(found) == 2 * len(original)


def test_every_replay_writes_an_audit_record(seeded: Settings, run: list[Ack]) -> None:
    report = replay(seeded, "--tenant", "acme", "--dry-run", "--by", "ops@test")
    codec = Codec()
    audits = [
        codec.decode(r.value or b"", expect="replay_audit")[1]
        for r in scan(seeded, Topics(seeded).replays.name, Selection())
    ]
    mine = next(a for a in audits if a["replay_id"] == report["replay_id"])
    assert (mine["started_by"], mine["selected"], mine["dry_run"]) == ("ops@test", EVENTS, True)


def test_trace_shows_the_event_its_states_in_order_and_its_deliveries(
    seeded: Settings, run: list[Ack]
) -> None:
    event_id = run[-1].event_id
    done = tidings(seeded, "trace", event_id, "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    stages = [s["value"]["stage"] for s in found["states"] if s["value"]["replay_id"] is None]
    assert stages[-1] == "dispatched"
    history = [h["stage"] for h in found["history"]]
    assert (history[0], history[-1]) == ("accepted", "dispatched")
    assert [h["at"] for h in found["history"]] == sorted(h["at"] for h in found["history"])
    assert {d["value"]["event_id"] for d in found["deliveries"]} == {event_id}
    assert len(found["deliveries"]) >= 3


def test_trace_of_an_unknown_event_exits_1(seeded: Settings, run: list[Ack]) -> None:
    assert tidings(seeded, "trace", "00000000-0000-0000-0000-000000000000").returncode == 1
