"""``tidings_group_lag{group, topic, partition}``: every pipeline group's lag as the broker
sees it, exported by every service, members of the group or not.

A consumer's own lag gauge (``tidings_consumer_lag``) disappears with the consumer: a stopped
resolver reports nothing, so an alert on it can never fire for the one failure that matters
most. Here each service (ingest, resolver, fan-out) asks the broker, every
``kafka.group_lag_refresh_s``, for every pipeline group's committed offsets and its input
partitions' last stable offsets (``GroupPositions``: a plain consumer that never subscribes,
never an AdminClient), so the lag of a group with no members is still exported by the other
services. Several processes export the same series: alerts and panels take ``max`` over
them. The lag counts transaction markers (at most one per partition on a caught-up group).

A sample older than a few refreshes (broker away) is not exported: no series rather than a
stale one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from tidings.contracts.topics import Topics
from tidings.kafka.background import Background
from tidings.kafka.groups import GroupPositions, pipeline_groups
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)
NAME = "tidings_group_lag"
HELP = "records a pipeline consumer group has not committed, read from the broker"
LABELS = ["group", "topic", "partition"]
STALE_REFRESHES = 3  # samples older than this many refresh intervals are not exported

Lags = dict[tuple[str, str, int], int]


class GroupLagGauge(Collector):
    """The last sample, rendered at scrape time (nothing to remove when a partition goes)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._lags: Lags = {}
        self._sampled_at = 0.0  # monotonic time of the last sample (0: none)
        self._max_age_s = 0.0
        registry.register(self)

    def update(self, lags: Lags, at: float, max_age_s: float) -> None:
        self._lags, self._sampled_at, self._max_age_s = lags, at, max_age_s  # one swap each

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [GaugeMetricFamily(NAME, HELP, labels=LABELS)]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(NAME, HELP, labels=LABELS)
        fresh = self._sampled_at and time.monotonic() - self._sampled_at <= self._max_age_s
        for (group, topic, partition), lag in sorted(self._lags.items()) if fresh else ():
            family.add_metric([group, topic, str(partition)], lag)
        yield family


class GroupLagSampler(Background):
    """Refreshes a ``GroupLagGauge`` on a daemon thread of its own (off when refresh is 0)."""

    def __init__(self, settings: Settings, gauge: GroupLagGauge) -> None:
        self._settings, self._gauge = settings, gauge
        self._refresh_s = settings.kafka.group_lag_refresh_s
        super().__init__("group-lag", enabled=self._refresh_s > 0)

    def _run(self) -> None:
        topics = Topics(self._settings)
        readers = [
            (g.group, topic, GroupPositions(self._settings, g.group, topic, spec.partitions))
            for g in pipeline_groups(self._settings)
            for topic in g.inputs
            if (spec := topics.by_name(topic)) is not None
        ]
        timeout = max(1.0, self._refresh_s)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    lags: Lags = {}
                    for group, topic, reader in readers:
                        for partition, (committed, end) in reader.read(timeout).items():
                            lags[(group, topic, partition)] = max(0, end - committed)
                    self._gauge.update(lags, time.monotonic(), STALE_REFRESHES * self._refresh_s)
                except Exception as exc:  # broker away: the sample goes stale, then unexported
                    log.warning("group_lag_sample_failed", error=type(exc).__name__)
                self._stop.wait(max(0.0, self._refresh_s - (time.monotonic() - started)))
        finally:
            for _, _, reader in readers:
                reader.close()
