"""The fault report: every scenario's figures, summed up after the session (see
tests/support/report.py; the same lines are in var/reports/faults.jsonl)."""

from __future__ import annotations

import pytest

from tests.support.report import RECORDED, REPORT


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RECORDED:
        return
    terminalreporter.write_sep("=", "fault report (lost and duplicated must be 0)")
    for figures in RECORDED:
        terminalreporter.write_line(figures.line())
    terminalreporter.write_line(f"written to {REPORT}")
