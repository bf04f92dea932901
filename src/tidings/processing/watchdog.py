"""Re-execute a consumer service whose transactional call outlived its own timeout.

A call stuck in librdkafka cannot be interrupted from Python, and a stuck instance holds its
partitions while doing nothing. Re-executing the process image in place (same pid, so any
supervisor or test keeps tracking it) starts a fresh consumer and producer; the producer's
stable transactional id fences the stuck one's open transaction, and processing resumes from
the committed offsets: nothing is lost or duplicated.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

from tidings.logs import get_logger

log = get_logger(__name__)


def reexec() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    # orig_argv keeps "-m module" when started that way; console scripts re-run their script.
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - our own argv


def start_watchdog(
    in_call: Callable[[], tuple[str, float] | None],
    limit_s: float,
    stop: threading.Event,
    on_stuck: Callable[[], None] = reexec,
    interval_s: float = 1.0,
) -> threading.Thread:
    """Watch ``in_call()`` (the call in progress and when it began); past ``limit_s``, act."""

    def watch() -> None:
        while not stop.wait(interval_s):
            current = in_call()
            if current is None:
                continue
            name, since = current
            stuck_for = time.monotonic() - since
            if stuck_for > limit_s:
                log.error("transactional_call_stuck", call=name, seconds=round(stuck_for, 1))
                on_stuck()
                return

    thread = threading.Thread(target=watch, name="watchdog", daemon=True)
    thread.start()
    return thread
