"""Helpers for tests that make topics on a shared broker."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient

from tidings.settings import Settings


def unique_prefix(name: str) -> str:
    return f"test.{name}.{uuid.uuid4().hex[:8]}."


def delete_topics(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(settings.topic_prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result()
