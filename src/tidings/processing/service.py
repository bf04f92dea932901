"""Start-up and shutdown shared by the consumer services: logging, signals, the health and
metrics endpoint, and the loop on the main thread."""

from __future__ import annotations

import signal
import threading
import time

from tidings.kafka.grouplag import GroupLagSampler
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.processing.loop import Handler, TransactionalLoop
from tidings.processing.metrics import ServiceMetrics, serve
from tidings.processing.watchdog import start_watchdog
from tidings.settings import Settings
from tidings.tracing import configure_tracing

log = get_logger(__name__)
STALL_S = 60.0  # a loop that has not come round for this long is reported unhealthy


def port_of(settings: Settings, service: str) -> int:
    p = settings.processing
    if p.metrics_port:
        return p.metrics_port
    return p.resolver_port if service == "resolver" else p.fanout_port


def wait_views(views: list[CompactedView], timeout_s: float) -> None:
    for view in views:
        view.start()
    deadline = time.monotonic() + timeout_s
    for view in views:
        while not view.wait_ready(1.0):
            log.info("waiting_for_view", view=view.name)
            if time.monotonic() > deadline:
                raise SystemExit(f"view {view.name} not ready after {timeout_s}s")


def run_service(
    settings: Settings,
    service: str,
    handler: Handler,
    inputs: list[str],
    batch: int,
) -> None:
    """Serve /healthz and /metrics and run the loop until SIGTERM/SIGINT."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping", signal=signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    configure_tracing(settings, service)
    metrics = ServiceMetrics(service)
    loop = TransactionalLoop(settings, service, inputs, handler, metrics, batch, stop)

    def healthy() -> tuple[bool, str]:
        if not loop.ready:
            return False, "waiting for partitions"
        if time.monotonic() - loop.last_loop > STALL_S:
            return False, "processing loop stalled"
        return True, f"ok partitions={loop.assigned}"

    # A call that ignores its own timeout (2x, plus slack) is stuck in librdkafka: re-exec.
    limit_s = 2 * settings.kafka.transaction_timeout_ms / 1000 + 30
    start_watchdog(lambda: loop.in_call, limit_s, stop)
    port = port_of(settings, service)
    server = serve(port, metrics, healthy)
    group_lag = GroupLagSampler(settings, metrics.group_lag).start()
    log.info(
        "service_started",
        service=service,
        port=server.server_address[1],
        instance_id=settings.processing.instance_id,
    )
    try:
        loop.run(stop)
    finally:
        group_lag.stop()
        server.shutdown()
        log.info("service_stopped", service=service)
