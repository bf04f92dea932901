"""A broker poller on a daemon thread of its own: started once, told to stop, joined.

The samplers that ask the broker in the background (ingest's backpressure, every service's
group lag) differ in what they ask, not in how their thread lives.
"""

from __future__ import annotations

import threading
from typing import Self


class Background:
    """Runs ``_run`` on a daemon thread when ``enabled``; ``_run`` ends once ``_stop`` is set."""

    def __init__(self, name: str, enabled: bool = True) -> None:
        self._enabled = enabled
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        if self._enabled:
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        raise NotImplementedError
