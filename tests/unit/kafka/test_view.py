"""``replayed``: a tool's one read of a compacted topic starts the view, waits, and stops it."""

from __future__ import annotations

import pytest

from tidings.errors import Unavailable
from tidings.kafka.view import replayed


class FakeView:
    def __init__(self, ready: bool) -> None:
        self._ready = ready
        self.calls: list[str] = []

    def start(self) -> FakeView:
        self.calls.append("start")
        return self

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        self.calls.append(f"wait {timeout_s}")
        return self._ready

    def stop(self) -> None:
        self.calls.append("stop")


def test_a_ready_view_is_used_and_then_stopped() -> None:
    view = FakeView(ready=True)
    with replayed(view, "t.clients", 5.0) as inside:
        assert inside is view
        assert view.calls == ["start", "wait 5.0"]
    assert view.calls == ["start", "wait 5.0", "stop"]


def test_a_view_not_ready_in_time_is_unavailable_and_stopped() -> None:
    view = FakeView(ready=False)
    with (
        pytest.raises(Unavailable, match=r"could not read t.clients in 5.0s"),
        replayed(view, "t.clients", 5.0),
    ):
        pytest.fail("the body runs only once the view is ready")
    assert view.calls[-1] == "stop"
