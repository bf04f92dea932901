"""Pipeline test harness: the services as real subprocesses, a signed direct producer, and
read_committed readers of the output topics. Shared by tests/integration and tests/faults.

A pytest plugin (tests/conftest.py): the fixtures ``pipeline`` (topics and schemas),
``log_dir`` and ``start_service``; a directory's conftest gives them its ``settings``
(``pipeline_settings`` for small topics)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from tests.support.kafka import module_settings
from tests.support.ports import free_port
from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, event_key
from tidings.domain.envelope import (
    build_envelope,
    encode_event,
    parse_request,
    request_fingerprint,
    validate_request,
)
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.domain.signing import RecordSigner, Signer
from tidings.kafka.config import consumer_config
from tidings.kafka.producer import durable_producer
from tidings.ops.admin import create_client, load_directory
from tidings.service_keys import service_key_ring
from tidings.settings import Settings, TopicSettings
from tidings.stores.schemas import SchemaRegistry

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
POLICY = {"content.approved": ["in_app", "email", "sms"], "*": ["in_app"]}


def service_env(settings: Settings, instance: str, **extra: str) -> dict[str, str]:
    t = settings.topics
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
        "TIDINGS_TOPICS__EVENTS_PARTITIONS": str(t.events_partitions),
        "TIDINGS_TOPICS__OTHER_PARTITIONS": str(t.other_partitions),
        "TIDINGS_PROCESSING__INSTANCE_ID": instance,
        "TIDINGS_PROCESSING__CHANNEL_POLICY": orjson.dumps(POLICY).decode(),
        "TIDINGS_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "TIDINGS_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


class Service:
    """One service process (console script), its log in a file, its /healthz on a free port."""

    def __init__(
        self, name: str, settings: Settings, log_dir: Path, instance: str = "0", **env: str
    ) -> None:
        self.name, self.instance = name, instance
        self.port = free_port()
        # One free port per process: the health/metrics port, or ingest's HTTP port.
        ports = {
            "TIDINGS_PROCESSING__METRICS_PORT": str(self.port),
            "TIDINGS_INGEST__PORT": str(self.port),
        }
        self.env = service_env(settings, instance, **{**ports, **env})
        self.log_path = log_dir / f"{name}-{instance}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [str(BIN / f"tidings-{self.name}")], env=self.env, stdout=log, stderr=log
            )
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def wait_healthy(self, timeout_s: float = 90) -> Service:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.healthy():
                return self
            assert self.proc is not None
            assert self.proc.poll() is None, self.tail()
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not healthy: {self.tail()}")

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def signal(self, signum: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory (VmHWM) so far."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def register_schemas(settings: Settings, extra: Mapping[str, dict[str, Any]] = {}) -> None:
    registry = SchemaRegistry(settings).start()
    assert registry.wait_ready(30)
    registry.register_bundled()
    for type_, schema in extra.items():
        registry.register(type_, 1, schema)
    registry.stop()


def directory_lines(users: Iterable[Mapping[str, Any]]) -> list[bytes]:
    return [orjson.dumps(u) for u in users]


def load_users(settings: Settings, users: Iterable[Mapping[str, Any]]) -> None:
    load_directory(settings, directory_lines(users))


class DirectProducer:
    """A direct producer of one tenant: the shared envelope functions and its signing key."""

    def __init__(
        self,
        settings: Settings,
        tenant: str,
        schemas: PayloadSchemas | None = None,
        *,
        scopes: Iterable[str] = ("notifications:write",),
        as_ingest: bool = False,
        **client: Any,
    ):
        """``client``: more of ``create_client``'s options (``org``, ``targets``, …).
        ``as_ingest``: records under the services' MAC, as the ingest writes what it accepted
        (the resolver checks their recipients no more: a listed user may have left since)."""
        created = create_client(settings, tenant, list(scopes), signing_key=True, **client)
        assert created.signing_key is not None
        self.settings, self.tenant = settings, tenant
        self.org: str | None = client.get("org")
        self.signer: RecordSigner = (
            service_key_ring(settings).signer()
            if as_ingest
            else Signer(created.client.client_id, created.signing_key)
        )
        self.client_id = created.client.client_id
        self.codec = Codec()
        self.schemas = schemas or PayloadSchemas(bundled_payload_schemas())
        self.topic = Topics(settings).events.name
        self.producer: Producer = durable_producer(settings, f"test-{tenant}")

    def envelope(self, body: Mapping[str, Any], key: str | None = None) -> dict[str, Any]:
        """What the producer library would write, without its checks; a keyed one carries its
        key's event id and the request's fingerprint, as the library's does."""
        request = parse_request(body)
        validated = validate_request(request, self.tenant, self.schemas, self.settings.limits)
        return build_envelope(
            validated,
            tenant=self.tenant,
            client_id=self.client_id,
            idempotency_key=key,
            fingerprint=None if key is None else request_fingerprint(request),
            org=self.org,
        )

    def send_envelope(self, envelope: Mapping[str, Any], record_key: bytes | None = None) -> None:
        value, headers = encode_event(self.codec, envelope, self.signer)
        self.send_raw(record_key or event_key(self.tenant), value, headers)

    def send(self, body: Mapping[str, Any], key: str | None = None) -> str:
        envelope = self.envelope(body, key)
        self.send_envelope(envelope)
        return str(envelope["event_id"])

    def send_raw(self, key: bytes, value: bytes, headers: Any) -> None:
        self.producer.produce(self.topic, key=key, value=value, headers=headers)
        self.producer.poll(0)

    def flush(self) -> None:
        assert self.producer.flush(30) == 0


def read_topic(
    settings: Settings, topic: str, record: str | None = "auto", timeout_s: float = 60
) -> list[tuple[bytes | None, Any]]:
    """Everything committed on ``topic`` (read_committed), decoded; stops once every partition
    reported its end (the last stable offset: no open transaction is waited for)."""
    codec = Codec()
    conf = consumer_config(settings, f"reader-{time.monotonic_ns()}", None)
    consumer = Consumer({**conf, "enable.partition.eof": True})
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
    out: list[tuple[bytes | None, Any]] = []
    pending, deadline = set(meta.partitions), time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for msg in consumer.consume(1000, timeout=0.2):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(msg.partition())
                continue
            value = msg.value()
            out.append((msg.key(), codec.decode(value)[1] if value and record else value))
    consumer.close()
    return out


def latest_states(settings: Settings) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for _, rec in read_topic(settings, Topics(settings).state.name):
        if rec is not None and (
            rec["event_id"] not in states or rec["seq"] >= states[rec["event_id"]]["seq"]
        ):
            states[rec["event_id"]] = rec
    return states


def wait_states(
    settings: Settings, event_ids: Iterable[str], stages: set[str], timeout_s: float = 90
) -> dict[str, dict[str, Any]]:
    wanted = set(event_ids)
    deadline = time.monotonic() + timeout_s
    states: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        states = latest_states(settings)
        if all(states.get(e, {}).get("stage") in stages for e in wanted):
            return states
        time.sleep(0.5)
    missing = {
        e: states.get(e, {}).get("stage")
        for e in wanted
        if states.get(e, {}).get("stage") not in stages
    }
    raise AssertionError(f"not in {stages}: {dict(list(missing.items())[:10])}")


def deliveries(
    settings: Settings,
    predicate: Callable[[dict[str, Any]], bool] = lambda d: True,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in Topics(settings).deliveries.values():
        out += [rec for _, rec in read_topic(settings, spec.name) if predicate(rec)]
    return out


def pipeline_settings(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Settings:
    """The module's settings with small topics (4 event partitions)."""
    topics = TopicSettings(events_partitions=4, other_partitions=2)
    return module_settings(kafka_bootstrap, request, topics=topics)


@pytest.fixture(scope="module")
def pipeline(topics: Topics, settings: Settings) -> Topics:
    """Topics provisioned and the bundled payload schemas registered."""
    register_schemas(settings)
    return topics


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


class ServiceFactory:
    """Starts service processes; every one started is stopped at the end of the module."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings, self.log_dir = settings, log_dir
        self.started: list[Service] = []

    def __call__(self, name: str, instance: str = "0", **env: str) -> Service:
        service = Service(name, self.settings, self.log_dir, instance, **env).start()
        self.started.append(service)
        return service

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()


@pytest.fixture(scope="module")
def start_service(settings: Settings, log_dir: Path) -> Iterator[ServiceFactory]:
    factory = ServiceFactory(settings, log_dir)
    yield factory
    factory.stop_all()


@contextmanager
def ingest_client(ingest: Service, secret: str) -> Iterator[httpx.Client]:
    """An HTTP client of ``ingest`` with the credential, once the ingest answers ready."""
    with httpx.Client(
        base_url=f"http://127.0.0.1:{ingest.port}",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    ) as client:
        deadline = time.monotonic() + 90
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(ingest.tail())
            time.sleep(0.5)
        yield client


def until_dispatched(api: httpx.Client, event_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/notifications/{event_id}")
        body = response.json() if response.status_code == 200 else {}
        if body.get("status") in {"dispatched", "failed", "rejected"}:
            return body
        time.sleep(0.5)
    raise AssertionError(f"not dispatched: {body}")
