"""The test harness: a real broker, a unique topic prefix per module, markers by directory.

Broker order (README "Make targets"): ``KAFKA_BOOTSTRAP_SERVERS`` if set, else testcontainers
if a Docker engine answers, else the local broker from ``infra/kafka.sh`` (stopped at the end
only if this session started it).
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.kafka_support import delete_topics, module_settings
from tidings.contracts.topics import Topics
from tidings.kafka.admin import ensure_topics
from tidings.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = ROOT / "infra" / "kafka.sh"
LOCAL_BOOTSTRAP = "127.0.0.1:9092"

# tests/<dir>/… gets these markers, so `-m unit` or `-m "not slow"` select by kind.
MARKERS_BY_DIR = {
    "unit": ("unit",),
    "integration": ("integration",),
    "faults": ("faults", "slow"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests_dir = ROOT / "tests"
    for item in items:
        parts = item.path.relative_to(tests_dir).parts
        for marker in MARKERS_BY_DIR.get(parts[0], ()) if len(parts) > 1 else ():
            item.add_marker(getattr(pytest.mark, marker))


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _docker_kafka() -> AbstractContextManager[Any] | None:
    """A testcontainers Kafka when the optional docker extra is installed and an engine answers."""
    try:
        import docker
        from testcontainers.kafka import KafkaContainer
    except ImportError:
        return None
    try:
        docker.from_env(timeout=3).ping()
    except Exception:  # no engine, no socket, no permission: all mean "not here"
        return None
    image = os.environ.get("TIDINGS_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.9.0")
    container: AbstractContextManager[Any] = KafkaContainer(image).with_kraft()
    return container


def _local_broker() -> Iterator[str]:
    if _port_open("127.0.0.1", 9092):  # someone else's broker (make kafka-up): leave it running
        yield LOCAL_BOOTSTRAP
        return
    subprocess.run([str(KAFKA_SH), "start"], check=True)
    try:
        yield LOCAL_BOOTSTRAP
    finally:
        subprocess.run([str(KAFKA_SH), "stop-node", "single", "1"], check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    container = _docker_kafka()
    if container is not None:
        with container as kafka:
            yield kafka.get_bootstrap_server()
        return
    yield from _local_broker()


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    """Settings of one test module: its own topic prefix, so modules never share a topic."""
    return module_settings(kafka_bootstrap, request)


@pytest.fixture(scope="module")
def topics(settings: Settings) -> Iterator[Topics]:
    """Every topic of the module's prefix, provisioned; deleted afterwards (a shared broker)."""
    ensure_topics(settings)
    yield Topics(settings)
    delete_topics(settings)
