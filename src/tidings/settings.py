"""Settings from the environment, one prefix (``TIDINGS_``), nested with ``__``.

Two names follow the outside contract instead of the prefix: ``KAFKA_BOOTSTRAP_SERVERS``
and ``TIDINGS_TOPIC_PREFIX``. Every field is listed in the README's configuration table.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseModel):
    client_id: str = "tidings"
    request_timeout_ms: int = 10_000
    # A produce that has not been acknowledged by then is answered 503 (outcome unknown).
    delivery_timeout_ms: int = 15_000
    linger_ms: int = 2
    queue_buffering_max_kbytes: int = 65_536
    queue_buffering_max_messages: int = 100_000
    transaction_timeout_ms: int = 15_000
    session_timeout_ms: int = 10_000
    # Kafka quota set for a direct producer's client id when its client is created (bytes/s
    # per broker, the broker throttles above it; 0: none). kafka/quotas.py
    producer_byte_rate: int = Field(default=32 << 20, ge=0)
    # Every service reads every pipeline group's lag from the broker this often and exports
    # it as tidings_group_lag (kafka/grouplag.py), so a stopped stage's lag is still seen
    # (0: not exported by this process).
    group_lag_refresh_s: float = Field(default=5.0, ge=0)


class TopicSettings(BaseModel):
    events_partitions: int = 12
    other_partitions: int = 12
    replication_factor: int = 1
    min_insync_replicas: int = 1
    events_retention_ms: int = -1
    deliveries_retention_ms: int = 7 * 24 * 3600 * 1000
    idempotency_window_ms: int = 24 * 3600 * 1000


class LimitSettings(BaseModel):
    max_body_bytes: int = 256 * 1024
    max_payload_bytes: int = 64 * 1024
    max_recipients_listed: int = 1_000
    max_rule_depth: int = 6
    max_rule_nodes: int = 64
    max_rules: int = 16
    max_json_depth: int = 32
    body_timeout_s: float = 10.0  # the whole body must arrive within this (slow uploads: 408)
    # POST /api/v1/notifications/batch: most items, and the body cap of the whole batch.
    max_batch_items: int = 100
    max_batch_body_bytes: int = 4 * 1024 * 1024


class IngestSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8080
    # Processes serving the one port, each with an instance id of its own.
    workers: int = 1
    # Seconds a worker may leave uvicorn's supervisor unanswered before it is replaced: its
    # default (5) killed workers still importing on a busy host.
    worker_healthcheck_s: int = 30
    # "auto": claim a free slot on this host (tidings/instance_id.py); else this exact name.
    instance_id: str = "auto"
    rate_per_second: float = 50.0
    burst: int = 100
    # How long a keyed create waits to read its own append back (cross-replica agreement).
    produce_timeout_s: float = 10.0
    retry_after_s: int = 2
    # Create requests being worked on at once; more are answered 503 at once (backpressure).
    max_in_flight: int = 256
    # While the event loop runs later than this (ms), requests queue in front of the app: the
    # number of creates taken at once is lowered below max_in_flight (0: never lowered).
    shed_loop_lag_ms: float = 50.0
    shutdown_grace_s: float = 15.0
    # GET /api/v1/notifications/stream: a comment line this often keeps idle streams open;
    # state records held per partition for a resume (Last-Event-ID) without a broker read.
    stream_heartbeat_s: float = 15.0
    stream_buffer: int = 10_000
    # Most list entries examined per page (filters that match rarely end a page early).
    list_scan_max: int = 10_000
    # Creates are answered 503 backlog_exceeded when the resolver's backlog on the caller's
    # partition would take longer than this to drain at the measured rate (0: never).
    backlog_bound_s: float = 60.0
    # With no measured drain (resolver stopped), a backlog above this many events is over.
    backlog_stalled_events: int = 1_000
    # Backlog and drain rate are sampled this often, the rate over the last window.
    backlog_refresh_s: float = 1.0
    backlog_window_s: float = 10.0
    # Most users in one POST /api/v1/directory/users/batch.
    directory_batch_max: int = 100
    # Label tidings_ingest_accepted_events_total by tenant (one series per tenant: unbounded,
    # opt in where tenants are few); off, every event counts under tenant="all".
    tenant_metrics: bool = False


class ProcessingSettings(BaseModel):
    chunk_size: int = 500
    retry_attempts: int = 5
    retry_base_ms: int = 500
    retry_cap_ms: int = 30_000
    channel_policy: dict[str, list[str]] = Field(default_factory=lambda: {"*": ["in_app", "email"]})
    channels: list[str] = Field(default_factory=lambda: ["email", "sms", "push", "in_app"])
    metrics_port: int = 0
    commit_interval_ms: int = 100
    # Resolver and fan-out (docs/processing.md). metrics_port, when non-zero, overrides both.
    resolver_port: int = 9181
    fanout_port: int = 9182
    instance_id: str = "auto"  # as ingest's
    resolver_batch: int = 200
    fanout_batch: int = 100
    max_records_per_transaction: int = 5_000
    # The resolver resolves a larger audience in slices of this many users, each slice its
    # own transaction, so other events of the partition get through in between (fair
    # sharing; docs/processing.md).
    resolve_slice_size: int = Field(default=2_500, ge=1)
    # ... and starts the next slice only when fan-out has at most this many chunks of the
    # partition left to do, so a small event written meanwhile is not queued behind a big
    # backlog at fan-out either (-1: no such wait).
    resolve_slice_backlog: int = Field(default=5, ge=-1)
    restore_timeout_s: float = 120.0


class StoreSettings(BaseModel):
    """Local state stores (RocksDB under ``<data_dir>/stores``; docs/operations.md)."""

    # One block cache per process, shared by every store; memtables are charged to it.
    block_cache_mb: int = 32
    memtables_mb: int = 16
    # Decoded entries kept in memory per view (hot users, hot event states), LRU.
    hot_entries: int = 10_000
    # How often a consumer service reads its state partitions forward and checkpoints them.
    follow_interval_ms: int = 1_000


class TracingSettings(BaseModel):
    """OpenTelemetry (tidings/tracing.py); the exporter itself is ``OTEL_EXPORTER_OTLP_*``."""

    sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)  # of new traces (ParentBased)
    file: Path | None = None  # tests: one JSON line per finished span


class HookSettings(BaseModel):
    """Hooks the fault and retry tests use to make a race deterministic; all off by default
    and kept apart from the production settings (TIDINGS_TEST_HOOKS__…)."""

    # Hold every 202 this long after the commit (a crash lands between ack and answer).
    answer_delay_ms: int = 0
    # Event type -> how many of its attempts fail transiently (docs/processing.md).
    faults: dict[str, int] = Field(default_factory=dict)
    # Milliseconds each record takes, so a frozen instance holds an open transaction.
    slow_ms: int = 0
    # Every Nth transaction of a resolver or fan-out commits, then reports a timeout: the
    # answer to a commit lost in a broker failover (docs/processing.md, Commits of unknown
    # outcome).
    lose_commit_answer_every: int = 0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TIDINGS_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "TIDINGS_BOOTSTRAP_SERVERS"),
    )
    topic_prefix: str = "tidings."
    schemas_dir: Path | None = None
    # Local state of the processes on this host: the instance-id slot locks (ids/), and the
    # service key ring file when service_keys is unset (tidings/service_keys.py), and the
    # local state stores of the views (stores/<prefix><service>.<instance>/<view>/<partition>).
    data_dir: Path = Path("var")
    log_level: str = "INFO"
    # Proof of origin of our services' records: key id -> base64 key (every one verifies),
    # and the id to sign with (docs/trust-model.md).
    service_keys: dict[str, SecretStr] | None = None
    service_key_id: str | None = None
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    processing: ProcessingSettings = Field(default_factory=ProcessingSettings)
    stores: StoreSettings = Field(default_factory=StoreSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    test_hooks: HookSettings = Field(default_factory=HookSettings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; tests build ``Settings(...)`` directly instead."""
    return Settings()
