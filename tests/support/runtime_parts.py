"""The parts of a runtime the route wrapper and the front door use, real and in-process:
settings, a client registry holding one client, the rate limiter, metrics, admission and
backpressure (never started: no broker)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tidings.domain.clients import ApiClient, ClientRegistry, hash_secret
from tidings.settings import Settings
from tidings_ingest.backpressure import Backpressure
from tidings_ingest.metrics import Metrics
from tidings_ingest.overload import Admission
from tidings_ingest.ratelimit import RateLimiter

SECRET = "tds_c1.secret"
AUTH = {"Authorization": f"Bearer {SECRET}"}


def runtime(ready: bool = True, in_flight: int = 0, admission: Any = None) -> SimpleNamespace:
    settings = Settings()
    clients = ClientRegistry()
    clients.put(ApiClient("c1", "acme", hash_secret(SECRET), ("notifications:write",)))
    return SimpleNamespace(
        ready=ready,
        settings=settings,
        clients=clients,
        limiter=RateLimiter(settings.ingest),
        metrics=Metrics(),
        in_flight=in_flight,
        admission=admission or Admission(settings.ingest.max_in_flight, 0.05),  # not started
        backpressure=Backpressure(settings),  # never started: no sample, every create admitted
    )
