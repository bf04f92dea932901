"""The fault report: one line per scenario (sent, acknowledged, dispatched, lost, duplicated)
appended to ``var/reports/faults.jsonl`` and summed up at the end of the pytest session (a
pytest plugin, see tests/conftest.py).

Fault modules run on pytest-xdist workers: each worker hands the figures it recorded to the
controller when it finishes, so the summary covers every scenario of the run."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPORT = Path(os.environ.get("TIDINGS_FAULT_REPORT", ROOT / "var" / "reports" / "faults.jsonl"))
RECORDED: list[Figures] = []


@dataclass
class Figures:
    scenario: str
    sent: int
    acknowledged: int
    dispatched: int
    lost: int
    duplicated: int
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.extra.items())
        return (
            f"{self.scenario:<34} sent={self.sent:<6} acked={self.acknowledged:<6} "
            f"dispatched={self.dispatched:<6} lost={self.lost} duplicated={self.duplicated} {extra}"
        )


def record(figures: Figures) -> Figures:
    """Write the line now (a later assertion failure still leaves the figures behind)."""
    RECORDED.append(figures)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as out:
        out.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **asdict(figures)}) + "\n")
    print(figures.line())
    return figures


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand this worker's figures to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fault_figures"] = [asdict(f) for f in RECORDED]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On the xdist controller: collect a finished worker's figures."""
    for figures in getattr(node, "workeroutput", {}).get("fault_figures", []):
        RECORDED.append(Figures(**figures))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RECORDED:
        return
    terminalreporter.write_sep("=", "fault report (lost and duplicated must be 0)")
    for figures in RECORDED:
        terminalreporter.write_line(figures.line())
    terminalreporter.write_line(f"written to {REPORT}")
