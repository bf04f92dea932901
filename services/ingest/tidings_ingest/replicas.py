"""How many ingest processes serve this deployment now: the live heartbeats on a small topic.

Each ingest process appends a heartbeat to ``<prefix>ingest.replicas`` every second and reads
everyone's (kafka/membership.py); each enforces 1/N of a client's limit (ratelimit.py), so
the deployment as a whole holds the client to its limit. Why heartbeats on a topic: no
server is added, no request waits for another replica, and no periodic admin request runs
in the ingest process (docs/ingest.md, "Limits per deployment").
"""

from __future__ import annotations

from tidings.contracts.topics import Topics
from tidings.kafka.membership import Heartbeats
from tidings.settings import Settings


def ingest_replicas(settings: Settings) -> Heartbeats:
    """This deployment's live ingest replicas (``start()`` it; ``count`` is at least 1)."""
    return Heartbeats(settings, Topics(settings).ingest_replicas.name)
