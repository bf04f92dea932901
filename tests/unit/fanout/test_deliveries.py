"""Delivery requests of one chunk: one per recipient and channel, deterministic ids."""

from __future__ import annotations

from tidings_fanout.deliveries import delivery_id, delivery_requests

CHUNK = {
    "event_id": "e-1",
    "tenant": "acme",
    "type": "t",
    "version": 1,
    "payload": "{}",
    "chunk": 0,
    "chunks": 1,
    "replay_id": None,
    "recipients": [
        {"user_id": "u1", "matched_by": ["user"], "channels": {"email": "a@x", "sms": "+1"}},
        {"user_id": "u2", "matched_by": ["role:r"], "channels": {"in_app": "u2"}},
    ],
}


def test_one_request_per_recipient_and_channel() -> None:
    pairs = [(r["user_id"], r["channel"], r["address"]) for r in delivery_requests(CHUNK, 1)]
    assert pairs == [("u1", "email", "a@x"), ("u1", "sms", "+1"), ("u2", "in_app", "u2")]


def test_delivery_id_is_deterministic_and_distinct_per_replay() -> None:
    assert delivery_id("e", "u", "email", None) == delivery_id("e", "u", "email", None)
    assert delivery_id("e", "u", "email", None) != delivery_id("e", "u", "sms", None)
    assert delivery_id("e", "u", "email", None) != delivery_id("e", "u", "email", "r-1")
