"""State derivation from processing outputs: the newest provable stage, never a guess."""

from __future__ import annotations

from typing import Any

from tidings.ops.rebuild import Evidence, derive

EVENT = {"event_id": "e-1", "tenant": "acme", "type": "t.x", "accepted_at": 5}
CHANNELS = {"email", "in_app"}


def chunk(index: int, users: list[str]) -> tuple[dict[str, Any], dict[str, Any], int]:
    recipients = [{"user_id": u, "channels": {"in_app": u}} for u in users]
    summary = {"recipients": 3, "skipped": {"muted": 1}, "directory_offset": 9}
    return {"chunk": index, "chunks": 2, "recipients": recipients}, summary, 10


def test_an_event_with_no_outputs_is_accepted() -> None:
    assert derive(Evidence(EVENT, 5), CHANNELS)["stage"] == "accepted"


def test_every_chunk_delivered_is_dispatched_with_the_resolution_summary() -> None:
    e = Evidence(EVENT, 5, chunks={0: chunk(0, ["a", "b"]), 1: chunk(1, ["c"])})
    e.delivered = {("a", "in_app"), ("b", "in_app"), ("c", "in_app")}
    state = derive(e, CHANNELS)
    assert (state["stage"], state["recipients"], state["skipped"]) == (
        "dispatched",
        3,
        {"muted": 1},
    )


def test_a_chunk_without_its_deliveries_leaves_the_event_resolved() -> None:
    e = Evidence(EVENT, 5, chunks={0: chunk(0, ["a", "b"]), 1: chunk(1, ["c"])})
    e.delivered = {("a", "in_app"), ("b", "in_app")}
    assert derive(e, CHANNELS)["stage"] == "resolved"


def test_a_dead_letter_without_chunks_is_rejected_with_its_reason() -> None:
    e = Evidence(
        EVENT,
        5,
        dead={
            "outcome": "rejected",
            "error_class": "origin_rejected",
            "detail": "unsigned",
            "attempts": [],
        },
    )
    state = derive(e, CHANNELS)
    assert (state["stage"], state["error_class"], state["type"]) == (
        "rejected",
        "origin_rejected",
        None,
    )


def test_a_dead_letter_beside_chunks_is_a_refused_duplicate_not_the_events_end() -> None:
    e = Evidence(
        EVENT,
        5,
        chunks={0: chunk(0, ["a"])},
        dead={"outcome": "rejected", "error_class": "x", "detail": "", "attempts": []},
    )
    assert derive(e, CHANNELS)["stage"] != "rejected"


def test_an_audience_resolved_in_slices_is_dispatched_only_after_its_final_chunk() -> None:
    first = ({"chunk": 0, "chunks": 1, "final": False, "recipients": []}, {"recipients": 1}, 10)
    e = Evidence(EVENT, 5, chunks={0: first})
    assert derive(e, CHANNELS)["stage"] == "resolved"  # every chunk so far done, more to come
    last = chunk(1, [])
    e.chunks[1] = ({**last[0], "final": True}, last[1], last[2])
    state = derive(e, CHANNELS)
    assert (state["stage"], state["chunks"], state["recipients"]) == ("dispatched", 2, 3)
