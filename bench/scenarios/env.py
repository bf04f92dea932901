"""What every scenario shares: one provisioned topic prefix, credentials, and the processes
the run started (each stopped at the end, by its own pid).

The broker may be shared (KAFKA_BOOTSTRAP_SERVERS set): the run writes only under its own
topic prefix, deletes those topics afterwards, and never touches anything else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient

from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.kafka.admin import ensure_topics
from tidings.ops.admin import create_client, load_directory
from tidings.producer import NotificationProducer
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry

BENCH = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TENANT = "bench"
USERS = 100  # u-1 … u-100, each with an email address (in_app needs none)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def user_line(i: int, tenant: str = TENANT) -> str:
    return (
        f'{{"tenant": "{tenant}", "id": "u-{i}", "roles": ["r"], '
        f'"channels": {{"email": "u{i}@example.test"}}}}'
    )


@dataclass
class Env:
    quick: bool
    commit_interval_ms: int = 100
    prefix: str = field(default_factory=lambda: f"bench.{uuid.uuid4().hex[:6]}.")
    token: str = ""
    signing_client: Any = None
    facts: dict[str, float] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_dir: Path = BENCH.parent / "var" / "bench"

    @property
    def settings(self) -> Settings:
        return Settings(topic_prefix=self.prefix)

    def seconds(self, full: float, quick: float) -> float:
        return quick if self.quick else full

    def provision(self) -> None:
        settings = self.settings
        ensure_topics(settings)
        registry = SchemaRegistry(settings).start()
        registry.wait_ready(60)
        registry.register_bundled()
        registry.stop()
        load_directory(settings, [user_line(i) for i in range(1, USERS + 1)])
        http = create_client(
            settings, TENANT, ["notifications:write"], rate_per_second=1e6, burst=1_000_000
        )
        self.token = http.secret
        self.signing_client = create_client(
            settings, TENANT, ["notifications:write"], signing_key=True
        )

    def producer(self) -> NotificationProducer:
        client = self.signing_client
        return NotificationProducer(
            self.settings,
            tenant=TENANT,
            client_id=client.client.client_id,
            signing_key=client.signing_key,
            schemas=PayloadSchemas(bundled_payload_schemas()),
            # A producer starts once it has read its tenant's key window: after B3 that is
            # hundreds of thousands of events. Stores of the run's own let each later
            # producer resume from the last one's checkpoints, as a long-running one would.
            stores_dir=self.log_dir / f"{self.prefix}producer-stores",
            ready_timeout_s=600,
        )

    def prefill(self, events: int, recipients: int) -> None:
        """Write ``events`` signed events (direct producer), each to u-1 … u-``recipients``."""
        body = {
            "type": "content.approved",
            "recipients": {"users": [f"u-{i}" for i in range(1, recipients + 1)]},
            "payload": {"content_id": "c-1"},
        }
        with self.producer() as producer:
            for _ in range(events):
                producer.send(body)
            acks = producer.flush(120)
        if sum(a.acknowledged for a in acks) != events:
            raise RuntimeError("prefill: not every event was acknowledged")

    def service_env(self, **extra: str) -> dict[str, str]:
        env = {
            **os.environ,
            "TIDINGS_TOPIC_PREFIX": self.prefix,
            "TIDINGS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(BENCH.parent),
        }
        env.update(extra)
        return env

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        with contextlib.suppress(ValueError):
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)
        shutil.rmtree(self.log_dir / f"{self.prefix}producer-stores", ignore_errors=True)
        admin = AdminClient({"bootstrap.servers": self.settings.bootstrap_servers})
        names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(self.prefix)]
        if names:
            for future in admin.delete_topics(names, operation_timeout=30).values():
                with contextlib.suppress(Exception):
                    future.result()


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    """Poll until ``url`` answers 200 (or 405 for a POST-only bare endpoint)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code in (200, 405):
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s}s")
