"""Start-up and shutdown of everything the routes read: views, publisher, signing identity.

``start()`` returns at once; a bootstrap thread waits for the views (directory, clients,
schemas, state, idempotency) to replay to their high watermarks, registers the signing
identity, and reads it back before the service reports ready.
"""

from __future__ import annotations

import threading
import time

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.clients import ClientRegistry
from tidings.domain.directory import Directory
from tidings.domain.signing import Signer
from tidings.kafka.group_commit import GroupCommitPublisher
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.stores.clients import clients_view
from tidings.stores.directory import directory_view
from tidings.stores.schemas import SchemaRegistry
from tidings.stores.state import StateStore, state_view
from tidings_ingest.idempotency import IdempotencyStore
from tidings_ingest.identity import register_identity, service_signer
from tidings_ingest.metrics import Metrics
from tidings_ingest.ratelimit import RateLimiter

log = get_logger(__name__)


def idempotency_view(settings: Settings, codec: Codec, store: IdempotencyStore) -> CompactedView:
    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        if value is None:
            tenant, _, idem = key.decode().partition("/")
            store.delete(tenant, idem)
            return
        store.apply(codec.decode(value, expect="idempotency")[1])

    return CompactedView(settings, Topics(settings).idempotency.name, apply, name="idempotency")


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codec = Codec(settings.schemas_dir)
        self.topics = Topics(settings)
        self.metrics = Metrics()
        self.directory = Directory()
        self.clients = ClientRegistry()
        self.states = StateStore()
        self.idempotency = IdempotencyStore()
        self.limiter = RateLimiter(settings.ingest)
        self.registry = SchemaRegistry(settings, self.codec)
        self.signer: Signer = service_signer(settings)
        self.views = [
            directory_view(settings, self.codec, self.directory),
            clients_view(settings, self.codec, self.clients),
            state_view(settings, self.codec, self.states),
            idempotency_view(settings, self.codec, self.idempotency),
        ]
        self.publisher = GroupCommitPublisher(settings, self._observe_batch)
        self.in_flight = 0  # create requests being worked on (event loop only)
        self._identity_ready = threading.Event()
        self._stop = threading.Event()
        self._boot = threading.Thread(target=self._bootstrap, name="bootstrap", daemon=True)

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.batch.observe(size)

    def start(self) -> Runtime:
        for view in self.views:
            view.start()
        self.registry.start()
        self.publisher.start()
        self._boot.start()
        return self

    def _bootstrap(self) -> None:
        while not self._stop.is_set():
            try:
                register_identity(self.settings, self.signer, self.codec)
                break
            except Exception as exc:  # broker not reachable yet: keep trying, stay unready
                log.warning("identity_registration_failed", error=type(exc).__name__)
                self._stop.wait(2.0)
        while not self._stop.is_set():
            if self.clients.get(self.signer.client_id) is not None:
                self._identity_ready.set()
                log.info("identity_registered", signer=self.signer.client_id)
                break
            self._stop.wait(0.05)
        # Keys past their window are dropped from memory; the topic's retention drops them there.
        while not self._stop.wait(60.0):
            purged = self.idempotency.purge_expired()
            if purged:
                log.info("idempotency_keys_expired", count=purged)

    def pending(self) -> list[str]:
        """What is not ready yet (empty when ready)."""
        waiting = [view.name for view in self.views if not view.ready]
        if not self.registry.ready:
            waiting.append("schemas")
        if not self._identity_ready.is_set():
            waiting.append("identity")
        if not self.publisher.initialized.is_set():
            waiting.append("publisher")
        return waiting

    @property
    def ready(self) -> bool:
        return not self.pending()

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Finish queued commits first, then stop reading."""
        self._stop.set()
        self.publisher.stop(self.settings.ingest.shutdown_grace_s)
        for view in self.views:
            view.stop()
        self.registry.stop()
