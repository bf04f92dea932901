"""A broker outage while the loop (re)initialises its transactional producer: the process
waits the outage out instead of dying with it (a resolver that exited during a broker restart
left its events unresolved until someone restarted it)."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import KafkaException

from tidings.processing.loop import TransactionalLoop
from tidings.processing.metrics import ServiceMetrics
from tidings.settings import Settings

# Nothing listens on port 1: every init_transactions times out (retriable), 2 s per attempt.
OUTAGE = Settings(
    bootstrap_servers="127.0.0.1:1",
    kafka={"transaction_timeout_ms": 1000, "request_timeout_ms": 1000, "delivery_timeout_ms": 1000},
)


def start_loop(stop: threading.Event, name: str) -> TransactionalLoop:
    metrics = ServiceMetrics(name)
    return TransactionalLoop(OUTAGE, "resolver", ["in"], None, metrics, 1, stop)  # type: ignore[arg-type]


def test_init_transactions_is_retried_through_an_outage_until_the_service_stops() -> None:
    stop = threading.Event()
    raised: list[BaseException] = []

    def construct() -> None:
        try:
            start_loop(stop, "outage")
        except BaseException as exc:  # what ends the attempt is the finding
            raised.append(exc)

    worker = threading.Thread(target=construct, daemon=True)
    worker.start()
    worker.join(7)  # three attempts
    assert worker.is_alive(), f"gave up during the outage: {raised}"
    stop.set()
    worker.join(10)
    assert not worker.is_alive()
    assert isinstance(raised[0], KafkaException)


def test_a_service_stopped_during_an_outage_stops_within_one_attempt() -> None:
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    with pytest.raises(KafkaException):
        start_loop(stop, "stopped")
    assert time.monotonic() - started < 5
