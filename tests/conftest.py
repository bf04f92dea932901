"""The test harness: markers by directory, and the shared fixtures of tests/support loaded
as plugins (a real broker and a topic prefix per module, the pipeline's service processes,
the ingest process)."""

from __future__ import annotations

from pathlib import Path

import pytest

# Dependencies first: a plugin imported by another must be registered (and so marked for
# assertion rewriting) before that one imports it.
pytest_plugins = [
    "tests.support.kafka",
    "tests.support.pipeline",
    "tests.support.ingest",
    "tests.support.report",
]

TESTS = Path(__file__).resolve().parent

# tests/<dir>/… gets these markers, so `-m unit` or `-m "not slow"` select by kind.
MARKERS_BY_DIR = {
    "unit": ("unit",),
    "integration": ("integration",),
    "faults": ("faults", "slow"),
}


# Modules that start the whole pipeline as processes take longest: they go first, so that
# under pytest-xdist (`--dist loadfile --no-loadscope-reorder`, see the Makefile) the short
# unit modules fill the workers' time at the end instead of one long module finishing alone.
FIRST = (("integration", "operations"), ("integration", "pipeline"), ("integration", "cli"))


def _rank(item: pytest.Item) -> int:
    parts = item.path.relative_to(TESTS).parts
    if parts[:2] in FIRST:
        return 0
    return 2 if parts[0] == "unit" else 1


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(TESTS).parts
        for marker in MARKERS_BY_DIR.get(parts[0], ()) if len(parts) > 1 else ():
            item.add_marker(getattr(pytest.mark, marker))
    items.sort(key=_rank)  # stable: a module's tests stay together and in order
