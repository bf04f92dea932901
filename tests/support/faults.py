"""What the fault scenarios share: the small topics of their settings, the tenants of the
store scenarios, the deliveries the team directory of tests/support/stack.py expects, and
the report line each scenario writes."""

from __future__ import annotations

import uuid

from tests.support.report import Figures, record
from tests.support.stack import CHANNELS, USERS
from tidings.settings import Settings, TopicSettings

# The store scenarios provision six tenants with a team each.
TENANTS = tuple(f"t{i}" for i in range(6))

TEAM = {(u, c) for u in USERS for c in CHANNELS}


def small_settings(bootstrap: str, module: str, **topics: int) -> Settings:
    return Settings(
        bootstrap_servers=bootstrap,
        topic_prefix=f"test.{module}.{uuid.uuid4().hex[:8]}.",
        topics=TopicSettings(events_partitions=4, other_partitions=2, **topics),
    )


def report(figures: Figures) -> Figures:
    return record(figures)
