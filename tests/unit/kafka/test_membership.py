"""Which heartbeating instances are live: within a session of the newest heartbeat."""

from __future__ import annotations

from tidings.kafka.membership import heard, live


def test_instances_within_a_session_of_the_newest_heartbeat_are_live() -> None:
    assert live({"a": 100_000, "b": 90_000, "c": 89_999}, 10_000) == {"a", "b"}


def test_no_heartbeat_no_instance() -> None:
    assert live({}, 10_000) == set()


def test_a_heartbeat_refreshes_only_its_own_instance() -> None:
    seen = {"a": 100_000, "b": 95_000}
    heard(seen, "a", 101_000, 10_000, live_log=True)
    assert seen == {"a": 101_000, "b": 95_000}


def test_after_a_silence_longer_than_a_session_every_session_restarts() -> None:
    """The broker was away: nobody could append, so nobody is presumed dead for it."""
    seen = {"a": 100_000, "b": 100_500}
    heard(seen, "a", 130_000, 10_000, live_log=True)
    assert live(seen, 10_000) == {"a", "b"}


def test_old_history_read_at_start_is_not_revived() -> None:
    seen = {"gone": 100_000}
    heard(seen, "me", 700_000, 10_000, live_log=False)
    assert live(seen, 10_000) == {"me"}
