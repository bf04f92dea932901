"""Pipeline fixtures: small topics (4 event partitions); ``pipeline`` and ``start_service``
come from tests/support/pipeline.py."""

from __future__ import annotations

import pytest

from tests.support.pipeline import pipeline_settings
from tidings.settings import Settings


@pytest.fixture(scope="module")
def settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    return pipeline_settings(kafka_bootstrap, request)
