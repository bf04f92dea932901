"""Delivery requests of one resolved chunk: one per recipient and channel, deterministic ids."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from tidings.domain.ids import name_uuid

DELIVERY_NAMESPACE = uuid.UUID("b0d5a6a2-52a4-4d43-9a0e-6a4f4f1e5c11")


def delivery_id(event_id: str, user_id: str, channel: str, replay_id: str | None) -> str:
    """The same event, user and channel always give the same id, so any duplicate that
    slipped through is recognisable downstream; a replay gets ids of its own."""
    return name_uuid(DELIVERY_NAMESPACE, f"{event_id}/{user_id}/{channel}/{replay_id or ''}")


def delivery_requests(chunk: Mapping[str, Any], requested_at: int) -> Iterator[dict[str, Any]]:
    for recipient in chunk["recipients"]:
        for channel, address in sorted(recipient["channels"].items()):
            yield {
                "delivery_id": delivery_id(
                    chunk["event_id"], recipient["user_id"], channel, chunk.get("replay_id")
                ),
                "event_id": chunk["event_id"],
                "tenant": chunk["tenant"],
                "type": chunk["type"],
                "version": chunk["version"],
                "user_id": recipient["user_id"],
                "channel": channel,
                "address": address,
                "payload": chunk["payload"],
                "requested_at": requested_at,
                "replay_id": chunk.get("replay_id"),
            }
