"""How many creates and batches the process takes at once. Beyond it they are answered 503
before any work (by ``front.FrontDoor``, the outermost layer of the app): refusing there costs
a third less than in a route, and a process short of CPU must be able to refuse faster than
requests arrive.

That number (``Admission.limit``) is the in-flight bound (``TIDINGS_INGEST__MAX_IN_FLIGHT``)
lowered while the event loop runs late, in proportion and smoothed over a few ticks (a loop
twice later than the bound halves it), and raised again while it runs on time: additive
increase, multiplicative decrease, as TCP does with its window. A fixed bound caps the work
accepted but not the queue in front of it: when the process is short of CPU, requests wait
in socket buffers unseen by the app while the admitted ones use the CPU that refusing them
would need (B7 before this: creates admitted in a 2x burst waited 2 to 25 s). How late a
timer runs measures that queue directly, and unlike a request's own duration it does not
grow when the broker is slow to acknowledge (a wait the loop spends on other work), so a
slow broker does not lower the limit.
"""

from __future__ import annotations

import asyncio


class Admission:
    TICK_S = 0.02
    INCREASE = 1.0  # per tick on time: 50 a second back towards the bound
    SMOOTHING = 0.25
    MOST_CUT = 0.5  # per tick
    FLOOR = 32  # always taken at once: a burst of a few dozen never meets a 503

    def __init__(self, max_in_flight: int, lag_bound_s: float) -> None:
        self._max = float(max_in_flight)
        self._floor = min(float(self.FLOOR), self._max)  # a bound below the floor stays fixed
        self._bound_s = lag_bound_s
        self._limit = self._max
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due = 0.0
        self.lag_s = 0.0  # smoothed: what the limit follows

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Tick on ``loop`` (once; the app's lifespan calls it). A lag bound of 0 keeps
        the limit at the in-flight bound."""
        if self._loop is not None or self._bound_s <= 0:
            return
        self._loop = loop
        self._due = loop.time() + self.TICK_S
        loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        now = loop.time()
        # How late this tick ran, smoothed over about four ticks: one collection pause or one
        # slice of CPU given to another process is not overload.
        self.lag_s += self.SMOOTHING * (now - self._due - self.lag_s)
        if self.lag_s > self._bound_s:
            # The wait grows with the work taken: twice too late, half of it (at most).
            cut = max(self.MOST_CUT, self._bound_s / self.lag_s)
            self._limit = max(self._floor, self._limit * cut)
        elif self._limit < self._max:
            self._limit = min(self._max, self._limit + self.INCREASE)
        self._due = now + self.TICK_S
        loop.call_at(self._due, self._tick)

    @property
    def limit(self) -> int:
        """Creates and batches taken at once now."""
        return int(self._limit)

    def admits(self, in_flight: int) -> bool:
        return in_flight < self._limit
