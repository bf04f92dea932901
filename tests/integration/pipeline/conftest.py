"""Pipeline fixtures: small topics (4 event partitions), schemas registered, service factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.pipeline.harness import Service, register_schemas
from tests.kafka_support import module_settings
from tidings.contracts.topics import Topics
from tidings.settings import Settings, TopicSettings


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    topics = TopicSettings(events_partitions=4, other_partitions=2)
    return module_settings(kafka_bootstrap, request, topics=topics)


@pytest.fixture(scope="module")
def pipeline(topics: Topics, settings: Settings) -> Topics:
    """Topics provisioned and the bundled payload schemas registered."""
    register_schemas(settings)
    return topics


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


class ServiceFactory:
    """Starts service processes; every one started is stopped at the end of the module."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings, self.log_dir = settings, log_dir
        self.started: list[Service] = []

    def __call__(self, name: str, instance: str = "0", **env: str) -> Service:
        service = Service(name, self.settings, self.log_dir, instance, **env).start()
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()


@pytest.fixture(scope="module")
def start_service(settings: Settings, log_dir: Path) -> Iterator[ServiceFactory]:
    factory = ServiceFactory(settings, log_dir)
    yield factory
    factory.stop_all()
