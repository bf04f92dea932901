"""Ingest harness: the real ``tidings-ingest`` process against the real broker (a pytest
plugin, see tests/conftest.py; used by tests/integration/ingest, security and hostile).

Each module gets its own topic prefix (``settings``), bundled schemas registered, a small
directory of two tenants (``seeded``), and one ingest process on a free port (``ingest``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.ports import free_port
from tidings.contracts.topics import Topics
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.ops.admin import CreatedClient, create_client, load_directory
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry

BIN = Path(sys.executable).parent
DIRECTORY = [
    '{"tenant": "acme", "id": "u-1", "roles": ["editor"], "groups": ["legal"],'
    ' "attributes": {"department": "legal"}, "channels": {"email": "u1@example.com"}}',
    '{"tenant": "acme", "id": "u-2", "roles": ["viewer"], "channels": {"in_app": "u-2"}}',
    '{"tenant": "globex", "id": "g-1", "roles": ["boss"], "groups": ["board"]}',
]
EXAMPLE: dict[str, Any] = {
    "type": "content.approved",
    "recipients": {"users": ["u-1"]},
    "payload": {"content_id": "c-1"},
}


class IngestProcess:
    """``tidings-ingest`` as a new user runs it: configured by environment only."""

    def __init__(self, settings: Settings, log_dir: Path, **env: str) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
            "TIDINGS_INGEST__PORT": str(self.port),
            "TIDINGS_LOG_LEVEL": "INFO",
            **env,
        }
        self.log_path = log_dir / f"ingest-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True, timeout_s: float = 90) -> IngestProcess:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [str(BIN / "tidings-ingest")], env=self.env, stdout=log, stderr=log
            )
        if wait_ready:
            try:
                self.wait_ready(timeout_s)
            except BaseException:  # nobody holds the process yet to stop it: do not leak it
                self.proc.kill()
                self.proc.wait(10)
                raise
        return self

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            assert self.proc.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"ingest not ready; log: {self.log_path.read_text()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout_s)

    def restart(self, **env: str) -> IngestProcess:
        """Stop (SIGTERM) and start again on the same port: a service restart."""
        self.stop()
        self.env.update(env)
        return self.start()

    def in_flight(self) -> float:
        """Create and batch requests the server holds now (``tidings_ingest_in_flight_requests``):
        what a test polls instead of sleeping until its requests have reached the server."""
        metrics = httpx.get(f"{self.url}/metrics", timeout=10).text
        return next(
            float(line.split()[1])
            for line in metrics.splitlines()
            if line.startswith("tidings_ingest_in_flight_requests ")
        )

    def client(self, secret: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def wait_visible(ingest: IngestProcess, secret: str, timeout_s: float = 30) -> None:
    """Until the ingest's clients view has the new client (it answers anything but 401)."""
    deadline = time.monotonic() + timeout_s
    with ingest.client(secret) as http:
        while time.monotonic() < deadline:
            if http.get("/api/v1/notifications/probe").status_code != 401:
                return
            time.sleep(0.1)
    raise TimeoutError("client never became visible to ingest")


@pytest.fixture(scope="module")
def seeded(settings: Settings, topics: Topics) -> Settings:
    registry = SchemaRegistry(settings).start()
    try:
        assert registry.wait_ready(60)
        registry.register_bundled()
    finally:
        registry.stop()
    load_directory(settings, DIRECTORY)
    return settings


@pytest.fixture(scope="module")
def ingest(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    proc = IngestProcess(seeded, tmp_path_factory.mktemp("ingest")).start()
    yield proc
    proc.stop()


def new_client(
    ingest: IngestProcess,
    tenant: str = "acme",
    scopes: tuple[str, ...] = (SCOPE_WRITE, SCOPE_READ),
    **kwargs: Any,
) -> CreatedClient:
    kwargs.setdefault("rate_per_second", 1000.0)
    kwargs.setdefault("burst", 1000)
    created = create_client(ingest.settings, tenant, scopes, **kwargs)
    wait_visible(ingest, created.secret)
    return created


@pytest.fixture(scope="module")
def acme(ingest: IngestProcess) -> CreatedClient:
    return new_client(ingest, "acme")


@pytest.fixture(scope="module")
def http(ingest: IngestProcess, acme: CreatedClient) -> Iterator[httpx.Client]:
    with ingest.client(acme.secret) as client:
        yield client
