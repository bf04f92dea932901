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


# Fault modules, longest first (seconds on two cores, four at a time): the three-broker
# cluster ~300, a broker restarted ~155, SIGKILLs under a 10,000-event flow ~150, stores
# damaged ~140, the soak ~135, fair sharing ~120; the others under 100 each.
LONGEST_FAULTS = (
    "test_multi_broker",
    "test_crash_recovery",
    "test_broker_restart",
    "test_store_recovery",
    "test_soak",
    "test_fair_sharing",
    "test_slow_reader",
    "test_zombie",
    "test_rebalance",
    "test_large_audience",
)


def _rank(item: pytest.Item) -> tuple[int, int]:
    parts = item.path.relative_to(TESTS).parts
    if parts[0] == "faults":
        name = item.path.stem
        return 1, LONGEST_FAULTS.index(name) if name in LONGEST_FAULTS else len(LONGEST_FAULTS)
    if parts[:2] in FIRST:
        return 0, 0
    return (2, 0) if parts[0] == "unit" else (1, 0)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = item.path.relative_to(TESTS).parts
        for marker in MARKERS_BY_DIR.get(parts[0], ()) if len(parts) > 1 else ():
            item.add_marker(getattr(pytest.mark, marker))
    items.sort(key=_rank)  # stable: a module's tests stay together and in order
