"""Prometheus figures of the process's local stores: what RocksDB holds in memory.

Read at scrape time from the shared block caches (``changelog.shared_config``), so stores pay
nothing for them. The cache is the stores' memory bound (data, index and filter blocks and the
memtables charged to it); its usage is what to watch when sizing ``TIDINGS_STORES__BLOCK_CACHE_MB``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tidings.stores.changelog import shared_configs


class StoreMemory(Collector):
    """``tidings_store_block_cache_bytes{kind}``: capacity, usage and pinned usage."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "tidings_store_block_cache_bytes",
            "RocksDB block cache shared by this process's stores (memtables charged to it).",
            labels=["kind"],
        )
        configs = shared_configs()
        family.add_metric(["capacity"], sum(c.block_cache_bytes for c in configs))
        family.add_metric(["usage"], sum(c.cache.get_usage() for c in configs))
        family.add_metric(["pinned"], sum(c.cache.get_pinned_usage() for c in configs))
        yield family


def register_store_metrics(registry: CollectorRegistry) -> None:
    registry.register(StoreMemory())
