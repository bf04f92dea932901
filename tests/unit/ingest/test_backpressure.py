"""The backpressure decision and the drain rate it is computed from (pure logic)."""

from __future__ import annotations

from tidings_ingest.backpressure import DrainMeter, Sample, retry_after

BOUND_S, STALLED, DEFAULT_S = 60.0, 1_000, 2


def decide(end: int, committed: int, rate: float | None) -> int | None:
    return retry_after(Sample(end, committed, rate), BOUND_S, STALLED, DEFAULT_S)


def test_no_backlog_is_admitted_even_when_nothing_drains() -> None:
    assert decide(500, 500, 0.0) is None


def test_backlog_that_drains_within_the_bound_is_admitted() -> None:
    assert decide(6_000, 0, 100.0) is None  # 60 s at 100/s: exactly the bound


def test_backlog_over_the_bound_waits_until_it_is_back_within_it() -> None:
    assert decide(9_000, 0, 100.0) == 30  # 90 s to drain, 30 s over the bound


def test_a_fraction_of_a_second_over_the_bound_waits_at_least_one_second() -> None:
    assert decide(6_001, 0, 100.0) == 1


def test_a_stalled_resolver_refuses_only_above_the_stalled_count() -> None:
    assert decide(STALLED, 0, 0.0) is None
    assert decide(STALLED + 1, 0, 0.0) == DEFAULT_S


def test_a_zero_bound_never_refuses() -> None:
    assert retry_after(Sample(10**9, 0, 0.0), 0.0, STALLED, DEFAULT_S) is None


def test_a_resolver_that_keeps_up_is_never_refused() -> None:
    assert decide(10**6, 0, None) is None  # no backlog lasted a whole interval


def test_drain_rate_is_the_committed_offsets_advance_while_there_was_a_backlog() -> None:
    meter = DrainMeter(window_s=10)
    assert meter.observe(0.0, 0, 100, 1_000) is None
    assert meter.observe(1.0, 0, 150, 1_000) == 50.0
    assert meter.observe(2.0, 0, 250, 1_000) == 75.0


def test_intervals_that_drained_the_backlog_say_nothing_of_the_rate() -> None:
    meter = DrainMeter(window_s=10)
    meter.observe(0.0, 0, 0, 10)
    assert meter.observe(1.0, 0, 10, 10) is None  # all drained: it could have done more
    meter.observe(2.0, 0, 10, 500)  # a burst arrives
    assert meter.observe(3.0, 0, 210, 500) == 200.0


def test_a_backlog_that_does_not_move_drains_at_zero() -> None:
    meter = DrainMeter(window_s=10)
    meter.observe(0.0, 0, 0, 10)
    assert meter.observe(1.0, 0, 0, 20) == 0.0


def test_drain_rate_forgets_progress_older_than_the_window() -> None:
    meter = DrainMeter(window_s=2)
    meter.observe(0.0, 0, 0, 5_000)
    meter.observe(1.0, 0, 1_000, 5_000)
    for t in (2.0, 3.0, 4.0):
        rate = meter.observe(t, 0, 1_000, 5_000)
    assert rate == 0.0  # a stopped resolver: nothing moved within the window


def test_partitions_are_measured_apart() -> None:
    meter = DrainMeter(window_s=10)
    meter.observe(0.0, 0, 0, 100)
    meter.observe(0.0, 1, 0, 100)
    assert meter.observe(1.0, 0, 10, 100) == 10.0
    assert meter.observe(1.0, 1, 0, 100) == 0.0


def test_a_reset_group_is_measured_afresh() -> None:
    meter = DrainMeter(window_s=10)
    meter.observe(0.0, 0, 500, 600)
    assert meter.observe(1.0, 0, 0, 600) is None
