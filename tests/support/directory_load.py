"""Large directories for the fault suites: a member entry, and a writer that produces entries
straight to the directory topic, as bench/scenarios/b9_stores.py does."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, user_key
from tidings.kafka.config import producer_config
from tidings.settings import Settings


def member(tenant: str, user_id: str, roles: list[str]) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "id": user_id,
        "active": True,
        "roles": roles,
        "groups": [],
        "attributes": {},
        "channels": {"in_app": user_id},
        "muted": [],
    }


def write_directory(settings: Settings, users: list[dict[str, Any]]) -> None:
    """Straight to the directory topic (the admin loader validates every line first: slow)."""
    codec, topic = Codec(), Topics(settings).directory.name
    conf = producer_config(settings, "test-fair-directory")
    producer = Producer({**conf, "linger.ms": 50, "batch.size": 1 << 20})
    for user in users:
        value = codec.encode("directory_entry", user, validate=False)
        while True:
            try:
                producer.produce(topic, value, user_key(user["tenant"], user["id"]))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(300) == 0
