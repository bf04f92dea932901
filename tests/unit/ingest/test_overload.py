"""Admission under overload: the number of creates taken at once follows how late the event
loop runs, and what is beyond it is answered 503 before any work."""

from __future__ import annotations

import asyncio
import time

from tidings_ingest.overload import Admission

BOUND_S = 0.05


def busy(seconds: float) -> None:
    """Hold the loop's thread, as CPU-bound work does in a process short of CPU."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def ticks(n: int, busy_s: float = 0.0) -> None:
    """Let ``n`` ticks run, the loop held ``busy_s`` before each."""
    for _ in range(n):
        busy(busy_s)
        await asyncio.sleep(Admission.TICK_S)


async def test_an_idle_loop_takes_up_to_the_in_flight_bound() -> None:
    admission = Admission(256, BOUND_S)
    admission.start(asyncio.get_running_loop())
    await ticks(5)
    assert admission.limit == 256
    assert admission.admits(255)
    assert not admission.admits(256)


async def test_a_loop_that_keeps_running_late_lowers_the_limit_to_its_floor() -> None:
    admission = Admission(256, BOUND_S)
    admission.start(asyncio.get_running_loop())
    await ticks(12, busy_s=0.2)  # four times the bound, tick after tick
    assert admission.limit == Admission.FLOOR
    assert not admission.admits(Admission.FLOOR)


async def test_the_limit_climbs_back_once_the_loop_is_on_time() -> None:
    admission = Admission(256, BOUND_S)
    admission.start(asyncio.get_running_loop())
    await ticks(12, busy_s=0.2)
    low = admission.limit
    await ticks(20)
    assert admission.limit > low
    assert admission.limit <= 256


async def test_one_late_tick_alone_takes_nothing_away() -> None:
    admission = Admission(256, BOUND_S)
    admission.start(asyncio.get_running_loop())
    await ticks(3)
    await ticks(1, busy_s=0.15)  # one collection pause: three times the bound, once
    await ticks(1)
    assert admission.limit == 256


async def test_an_in_flight_bound_below_the_floor_is_never_raised() -> None:
    admission = Admission(8, BOUND_S)
    admission.start(asyncio.get_running_loop())
    await ticks(6, busy_s=0.2)
    assert admission.limit == 8


async def test_a_lag_bound_of_zero_keeps_the_in_flight_bound() -> None:
    admission = Admission(256, 0)
    admission.start(asyncio.get_running_loop())
    await ticks(5, busy_s=0.2)
    assert admission.limit == 256
