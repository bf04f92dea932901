"""The watchdog acts on a transactional call that outlives its limit, and only then."""

from __future__ import annotations

import threading
import time

from tidings.processing.watchdog import start_watchdog


def test_a_call_past_its_limit_is_acted_on() -> None:
    fired = threading.Event()
    stop = threading.Event()
    begun = time.monotonic()
    start_watchdog(lambda: ("commit_transaction", begun), 0.1, stop, fired.set, interval_s=0.02)
    assert fired.wait(2)
    stop.set()


def test_no_call_in_progress_is_never_acted_on() -> None:
    fired = threading.Event()
    stop = threading.Event()
    start_watchdog(lambda: None, 0.0, stop, fired.set, interval_s=0.02)
    assert not fired.wait(0.3)
    stop.set()


def test_a_call_within_its_limit_is_left_alone() -> None:
    fired = threading.Event()
    stop = threading.Event()
    start_watchdog(
        lambda: ("commit_transaction", time.monotonic()), 5.0, stop, fired.set, interval_s=0.02
    )
    assert not fired.wait(0.3)
    stop.set()
