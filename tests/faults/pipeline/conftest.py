"""The pipeline fixtures of tests/integration/pipeline, reused for the fault tests."""

from tests.integration.pipeline.conftest import (  # noqa: F401 - pytest fixtures
    log_dir,
    pipeline,
    settings,
    start_service,
)
