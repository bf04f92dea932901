"""Client configurations, every guarantee-bearing setting explicit (never a library default).

Both Python clients default to idempotence off; we set it, and ``assert_durable`` refuses to
start a producer whose configuration could lose an acknowledged event.
"""

from __future__ import annotations

from typing import Any

from tidings.settings import Settings

# librdkafka's default partitioner is consistent_random (CRC32); the Java client, and so the
# console tools, use murmur2. murmur2_random makes every client agree on key -> partition.
PARTITIONER = "murmur2_random"


def common_config(settings: Settings, client_suffix: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        "client.id": f"{settings.kafka.client_id}-{client_suffix}",
        "socket.timeout.ms": settings.kafka.request_timeout_ms,
    }


def producer_config(
    settings: Settings, client_suffix: str, *, transactional_id: str | None = None
) -> dict[str, Any]:
    k = settings.kafka
    conf = {
        **common_config(settings, client_suffix),
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "partitioner": PARTITIONER,
        "linger.ms": k.linger_ms,
        "compression.type": "lz4",
        "request.timeout.ms": k.request_timeout_ms,
        "message.timeout.ms": k.delivery_timeout_ms,
        "queue.buffering.max.kbytes": k.queue_buffering_max_kbytes,
        "queue.buffering.max.messages": k.queue_buffering_max_messages,
    }
    if transactional_id is not None:
        conf["transactional.id"] = transactional_id
        conf["transaction.timeout.ms"] = k.transaction_timeout_ms
    return conf


def consumer_config(
    settings: Settings, client_suffix: str, group_id: str | None, *, read_committed: bool = True
) -> dict[str, Any]:
    conf = {
        **common_config(settings, client_suffix),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        # Downstream of transactional writers we only ever see committed records.
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
        "session.timeout.ms": settings.kafka.session_timeout_ms,
        "enable.partition.eof": False,
    }
    if group_id is not None:
        conf["group.id"] = group_id
    else:
        # confluent-kafka wants a group id even for assign()-only readers; it is never joined.
        conf["group.id"] = f"{settings.topic_prefix}unjoined-{client_suffix}"
    return conf


class UnsafeProducerConfig(RuntimeError):
    pass


def assert_durable(conf: dict[str, Any]) -> None:
    """Start-up check of "durable before acknowledged" (docs/guarantees.md): acks=all and
    idempotence, or refuse to run."""
    if str(conf.get("acks")) not in {"all", "-1"}:
        raise UnsafeProducerConfig("producer must use acks=all")
    if conf.get("enable.idempotence") not in (True, "true"):
        raise UnsafeProducerConfig("producer must enable idempotence")
    if conf.get("partitioner") != PARTITIONER:
        raise UnsafeProducerConfig(f"producer must partition with {PARTITIONER}")
