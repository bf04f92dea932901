"""Measurement plumbing shared by every scenario: process sampling, latency percentiles, results.

Speed is reported as ratios against a bare baseline measured in the same run, because these
machines are shared and noisy: absolute numbers move between runs, ratios much less.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil  # type: ignore[import-untyped]


@dataclass
class ProcessStats:
    cpu_s: float = 0.0
    cpu_exact_s: float = 0.0  # unrounded, for per-request figures
    peak_rss_mb: float = 0.0
    samples_rss_mb: list[float] = field(default_factory=list)


class ProcessSampler:
    """Samples CPU time and RSS of named processes (and their children unless
    ``children=False``) on a thread."""

    def __init__(
        self, pids: dict[str, int], interval_s: float = 0.2, *, children: bool = True
    ) -> None:
        self._children = children
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._start_cpu = {name: self._cpu(p) for name, p in self._procs.items()}
        self.stats = {name: ProcessStats() for name in pids}
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _family(self, proc: psutil.Process) -> list[psutil.Process]:
        if not self._children:
            return [proc]
        try:
            return [proc, *proc.children(recursive=True)]
        except psutil.Error:
            return []

    def _cpu(self, proc: psutil.Process) -> float:
        total = 0.0
        for p in self._family(proc):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def _rss_mb(self, proc: psutil.Process) -> float:
        total = 0
        for p in self._family(proc):
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self._procs.items():
                rss = self._rss_mb(proc)
                stats = self.stats[name]
                stats.samples_rss_mb.append(round(rss, 1))
                stats.peak_rss_mb = max(stats.peak_rss_mb, rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for name, proc in self._procs.items():
            used = self._cpu(proc) - self._start_cpu[name]
            self.stats[name].cpu_exact_s = used
            self.stats[name].cpu_s = round(used, 2)


def percentiles(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    if not latencies_ms:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None}
    ordered = sorted(latencies_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99)}


@dataclass
class Result:
    scenario: str
    label: str
    throughput: float
    unit: str
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    errors: int = 0
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def with_processes(self, sampler: ProcessSampler) -> Result:
        self.processes = {
            name: {
                "cpu_s": s.cpu_s,
                "peak_rss_mb": round(s.peak_rss_mb, 1),
                "rss_first_mb": s.samples_rss_mb[0] if s.samples_rss_mb else None,
                "rss_last_mb": s.samples_rss_mb[-1] if s.samples_rss_mb else None,
            }
            for name, s in sampler.stats.items()
        }
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
