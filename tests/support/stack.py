"""The whole pipeline as real processes (ingest, resolver, fan-out) on one topic prefix.

Reuses ``Service`` of tests/support/pipeline.py (one process, its log file, its
health port); adds the provisioning a fault scenario needs (topics, schemas, a directory,
an API client) and restarts that keep each service's port and instance id.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import KafkaError, KafkaException

from tests.support.pipeline import Service, load_users, register_schemas
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.kafka.admin import ensure_topics
from tidings.ops.admin import CreatedClient, create_client
from tidings.settings import Settings

TENANT = "acme"
USERS = ("u0", "u1")
CHANNELS = ("in_app", "email")  # the harness policy also names sms: nobody has an address


def team_directory(tenant: str = TENANT) -> list[dict[str, Any]]:
    return [
        {
            "tenant": tenant,
            "id": uid,
            "roles": ["team"],
            "channels": {"in_app": uid, "email": f"{uid}@x.test"},
        }
        for uid in USERS
    ]


def provision(settings: Settings, tenants: tuple[str, ...] = (TENANT,)) -> None:
    _ensure_topics_once_a_controller_answers(settings)
    register_schemas(settings)
    for tenant in tenants:
        load_users(settings, team_directory(tenant))


def _ensure_topics_once_a_controller_answers(settings: Settings, attempts: int = 4) -> None:
    """A cluster a fault module has just started (three JVMs on a busy CI machine) can answer
    metadata before its controller takes requests: a create then times out. Try again."""
    for attempt in range(1, attempts + 1):
        try:
            ensure_topics(settings)
            return
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._TIMED_OUT or attempt == attempts:
                raise
            time.sleep(2)


def api_client(settings: Settings, tenant: str = TENANT) -> CreatedClient:
    return create_client(
        settings, tenant, [SCOPE_WRITE, SCOPE_READ], rate_per_second=100_000.0, burst=100_000
    )


class Stack:
    """ingest + resolver + fan-out; ``env`` goes to every process."""

    def __init__(self, settings: Settings, log_dir: Path, **env: str) -> None:
        self.settings, self.log_dir, self.env = settings, log_dir, env
        self.services: dict[str, Service] = {}
        self.extra: list[Service] = []

    def start(self, *names: str, **env: str) -> Stack:
        for name in names or ("ingest", "resolver", "fanout"):
            old = self.services.get(name)
            service = Service(name, self.settings, self.log_dir, "0", **{**self.env, **env})
            if old is not None:  # same port: clients keep their base URL across restarts
                service.port = old.port
                service.env.update(
                    TIDINGS_PROCESSING__METRICS_PORT=str(old.port),
                    TIDINGS_INGEST__PORT=str(old.port),
                )
            self.services[name] = service.start()
        return self

    def add(self, name: str, instance: str, **env: str) -> Service:
        """One more group member (e.g. a second resolver joining mid-run)."""
        service = Service(name, self.settings, self.log_dir, instance, **{**self.env, **env})
        self.extra.append(service.start())
        return service

    def wait_ready(self, timeout_s: float = 120) -> Stack:
        for name, service in self.services.items():
            if name == "ingest":
                wait_ingest_ready(service, timeout_s)
            else:
                service.wait_healthy(timeout_s)
        return self

    @property
    def ingest(self) -> Service:
        return self.services["ingest"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ingest.port}"

    def kill(self, *names: str) -> None:
        for name in names or tuple(self.services):
            self.services[name].kill()

    def stop(self) -> None:
        for service in [*self.extra, *self.services.values()]:
            service.stop()

    def dump(self) -> str:
        """Python stacks of the live services (py-spy), for the message of a failed check."""
        spy_bin = Path(sys.executable).parent / "py-spy"
        if not spy_bin.exists():
            return "(py-spy not installed: pip install '.[bench]' for stacks)"
        out = []
        for name, service in self.services.items():
            if service.proc is None or service.proc.poll() is not None:
                continue
            spy = subprocess.run(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "dump",
                    "--pid",
                    str(service.proc.pid),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            out.append(f"--- {name}\n{spy.stdout[:3000]}{spy.stderr[:500]}")
        return "\n".join(out)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))


def wait_ingest_ready(ingest: Service, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert ingest.proc is not None
        assert ingest.proc.poll() is None, ingest.tail()
        try:
            if httpx.get(f"http://127.0.0.1:{ingest.port}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"ingest not ready: {ingest.tail()}")
