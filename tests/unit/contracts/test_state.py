"""Processing state order: no writer, view or compaction can move an event backwards."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tidings.contracts.state import (
    Stage,
    chunks_done,
    newer,
    public_view,
    state_record,
    state_seq,
)


def test_the_happy_path_is_strictly_increasing() -> None:
    path = [
        state_seq(Stage.ACCEPTED),
        state_seq(Stage.RESOLVING, 1),
        state_seq(Stage.RESOLVED),
        state_seq(Stage.RESOLVED, chunks_done=1),
        state_seq(Stage.DISPATCHED),
    ]
    assert path == sorted(path)
    assert len(set(path)) == len(path)


def test_retries_interleave_in_attempt_order() -> None:
    order = [
        state_seq(Stage.RESOLVING, 1),
        state_seq(Stage.RETRYING, 1),
        state_seq(Stage.RESOLVING, 2),
        state_seq(Stage.RETRYING, 2),
        state_seq(Stage.RESOLVED),
    ]
    assert order == sorted(order)


def test_terminal_failures_rank_above_everything() -> None:
    assert state_seq(Stage.FAILED) > state_seq(Stage.DISPATCHED)
    assert state_seq(Stage.REJECTED) > state_seq(Stage.RETRYING, 10_000)


def test_a_late_accepted_record_does_not_replace_resolving() -> None:
    resolving = state_record("e", "acme", Stage.RESOLVING, attempt=1)
    accepted = state_record("e", "acme", Stage.ACCEPTED)
    assert not newer(accepted, resolving)
    assert newer(resolving, accepted)


@given(st.integers(0, 10_000), st.integers(0, 100_000_000))
def test_every_seq_fits_an_avro_int(attempt: int, chunks: int) -> None:
    for stage in Stage:
        assert 0 <= state_seq(stage, attempt, chunks) < 2**31


def test_public_view_exposes_no_internal_offsets() -> None:
    record = state_record("e", "acme", Stage.RESOLVED, directory_offset=42, recipients=3)
    view = public_view(record)
    assert "directory_offset" not in view
    assert view["status"] == "resolved"
    assert view["recipients"] == 3


def test_an_unproven_rejection_ranks_below_accepted() -> None:
    forged = state_record("e", "acme", Stage.REJECTED, unproven=True)
    accepted = state_record("e", "acme", Stage.ACCEPTED)
    assert newer(accepted, forged)
    assert not newer(forged, accepted)


@given(st.integers(min_value=0, max_value=100_000_000))
def test_chunks_done_reads_back_what_a_resolved_record_counted(chunks: int) -> None:
    record = state_record("e", "acme", Stage.RESOLVED, chunks_done=chunks)
    assert chunks_done(record) == chunks


def test_chunks_done_is_zero_outside_resolved() -> None:
    for stage in (Stage.ACCEPTED, Stage.RESOLVING, Stage.RETRYING, Stage.DISPATCHED):
        assert chunks_done(state_record("e", "acme", stage, attempt=1)) == 0
