"""Helpers for tests that make topics on a shared broker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
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


def module_settings(
    kafka_bootstrap: str, request: pytest.FixtureRequest, **fields: Any
) -> Settings:
    """The module's settings with its own topic prefix; conftests below override fields."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=unique_prefix(module), **fields)
