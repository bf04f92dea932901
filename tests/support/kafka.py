"""The broker of a test session and a topic prefix per module (a pytest plugin, see
tests/conftest.py).

Broker order: ``KAFKA_BOOTSTRAP_SERVERS`` if set, else testcontainers if a Docker engine
answers, else a broker already answering on 127.0.0.1:9092 (left running), else the local
broker from ``infra/kafka.sh`` (stopped at the end only if this session started it).

Under pytest-xdist the controller settles the broker once, before the workers start, and
hands it to them in ``KAFKA_BOOTSTRAP_SERVERS``: workers never race to start or stop one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from tidings.contracts.topics import Topics
from tidings.kafka.admin import ensure_topics
from tidings.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "infra" / "kafka.sh"
LOCAL_BOOTSTRAP = "127.0.0.1:9092"
_started_for_workers = False


def unique_prefix(name: str) -> str:
    return f"test.{name}.{uuid.uuid4().hex[:8]}."


def delete_topics(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(settings.topic_prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            try:
                future.result()
            except KafkaException as exc:  # listed, then gone (a test deleted it itself)
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise
    delete_stores(settings)


def delete_stores(settings: Settings) -> None:
    """The local stores the module's services left under the data directory (rebuilt from
    topics that are gone now); a store still open (``<partition>.open``) is left alone."""
    stores = settings.data_dir / "stores"
    for root in stores.glob(f"{settings.topic_prefix}*") if stores.is_dir() else []:
        if not any(root.glob("*/*.open")):
            shutil.rmtree(root, ignore_errors=True)


def module_settings(
    kafka_bootstrap: str, request: pytest.FixtureRequest, **fields: Any
) -> Settings:
    """The module's settings with its own topic prefix; conftests below override fields."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return Settings(bootstrap_servers=kafka_bootstrap, topic_prefix=unique_prefix(module), **fields)


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


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config) -> None:
    """xdist controller, before the workers exist: one broker for all of them."""
    global _started_for_workers
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return
    if not _port_open("127.0.0.1", 9092):
        subprocess.run([str(KAFKA_SH), "start"], check=True)
        _started_for_workers = True
    os.environ["KAFKA_BOOTSTRAP_SERVERS"] = LOCAL_BOOTSTRAP  # inherited by the workers


def pytest_unconfigure(config: pytest.Config) -> None:
    if _started_for_workers:
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
