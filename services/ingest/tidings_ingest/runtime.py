"""Start-up and shutdown of everything the routes read: views, producer, signing identity.

``start()`` returns at once; a bootstrap thread waits for the views (directory, clients,
schemas, state, and the events of the key window) to replay to their high watermarks,
registers the signing identity, and reads it back before the service reports ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.clients import ClientRegistry
from tidings.domain.origin import proven_by
from tidings.kafka.consumer import PartitionReader
from tidings.kafka.grouplag import GroupLagSampler
from tidings.kafka.producer import AsyncProducer
from tidings.logs import get_logger
from tidings.settings import Settings
from tidings.stores.clients import clients_view
from tidings.stores.directory import store_directory
from tidings.stores.events import RecentEvents, events_view
from tidings.stores.listing import ListedStateStore
from tidings.stores.schemas import SchemaRegistry
from tidings.stores.state import state_view
from tidings_ingest.backpressure import Backpressure
from tidings_ingest.idempotency import KeysInFlight
from tidings_ingest.identity import register_identity, service_signer
from tidings_ingest.metrics import Metrics
from tidings_ingest.overload import Admission
from tidings_ingest.ratelimit import RateLimiter
from tidings_ingest.replicas import ingest_replicas
from tidings_ingest.statefeed import StateFeed
from tidings_ingest.transactions import TransactionalAppender

log = get_logger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codec = Codec(settings.schemas_dir)
        self.topics = Topics(settings)
        self.metrics = Metrics(settings.ingest.tenant_metrics)
        # Directory and states in this instance's local stores (bounded memory, resumed from
        # their checkpoints at start; tidings/stores/changelog.py).
        self.directory, directory_view = store_directory(settings, self.codec, "ingest")
        self.directory_view = directory_view  # directory API writes wait for it (read-your-writes)
        self.clients = ClientRegistry()
        # Both also index by accepted time per tenant (the list; tidings/stores/listing.py).
        self.states = ListedStateStore(self.codec, settings.stores.hot_entries)
        self.events = RecentEvents(
            settings.topics.idempotency_window_ms, self.codec, proven_by(self.clients)
        )
        self.keys_in_flight = KeysInFlight()
        # Every client's limit is shared by the live ingest replicas (a consumer group's
        # members): each enforces 1/N of it, the deployment the whole.
        self.replicas = ingest_replicas(settings)
        self.limiter = RateLimiter(settings.ingest, replicas=lambda: self.replicas.count)
        self.registry = SchemaRegistry(settings, self.codec)
        self.signer = service_signer(settings)  # the service key ring's MAC signer
        self.clients_view = clients_view(settings, self.codec, self.clients)
        self.views = [
            directory_view,
            self.clients_view,
            state_view(settings, self.codec, self.states),
        ]
        # The key window of the events log, in stores too; an event leaves it only once the
        # state view holds a state for it.
        self.events_view = events_view(
            settings, self.events, has_state=lambda t, e: self.states.get(t, e) is not None
        )
        self.views.append(self.events_view)
        # Where a tenant's partition ends now (read-your-writes for GET on every replica);
        # a consumer of its own: the view's consumer is busy on the view's thread.
        self.events_barrier = PartitionReader(settings, "ingest-barrier", self.topics.events.name)
        self.directory_barrier = PartitionReader(
            settings, "ingest-directory-barrier", self.topics.directory.name
        )
        # The resolver's backlog per events partition, sampled in the background (503s).
        self.backpressure = Backpressure(settings)
        # Every pipeline group's lag for /metrics (tidings_group_lag), resolver stopped or not.
        self.group_lag = GroupLagSampler(settings, self.metrics.group_lag)
        # One idempotent acks=all append per event: the 202 waits for nothing else.
        self.producer = AsyncProducer(settings, "ingest")
        # Batches: all items in one transaction (made on the first batch).
        self.transactions = TransactionalAppender(settings)
        # SSE streams: one consumer of the state topic for all of them (statefeed.py).
        self.state_feed = StateFeed(settings, self.codec, settings.ingest.stream_buffer)
        self.in_flight = 0  # create requests being worked on (event loop only)
        # What of the in-flight bound the process takes now: lowered while its event loop
        # runs late (overload.py).
        ingest = settings.ingest
        self.admission = Admission(ingest.max_in_flight, ingest.shed_loop_lag_ms / 1000)
        self.metrics.loop_lag.set_function(lambda: self.admission.lag_s)
        self.metrics.admission_limit.set_function(lambda: self.admission.limit)
        self.metrics.in_flight.set_function(lambda: self.in_flight)
        self._identity_ready = threading.Event()
        self._stop = threading.Event()
        self._boot = threading.Thread(target=self._bootstrap, name="bootstrap", daemon=True)

    def start(self) -> Runtime:
        for view in self.views:
            if view is not self.events_view:
                view.start()
        self.registry.start()
        self.state_feed.start()
        self.backpressure.start()
        self.group_lag.start()
        self.replicas.start()
        self._boot.start()
        return self

    def _bootstrap(self) -> None:
        # The events view verifies each record's origin against the clients it names: it
        # starts once the clients view has caught up, or early events would look unproven.
        while not self._stop.is_set() and not self.clients_view.wait_ready(0.5):
            pass
        if not self._stop.is_set():
            self.events_view.start()
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

    def _unready(self) -> Iterator[str]:
        """What is not ready yet, one at a time: ``ready`` stops at the first."""
        for view in self.views:
            if not view.ready:
                yield view.name
        if not self.registry.ready:
            yield "schemas"
        if not self._identity_ready.is_set():
            yield "identity"

    def pending(self) -> list[str]:
        """What is not ready yet (empty when ready)."""
        return list(self._unready())

    @property
    def ready(self) -> bool:
        """``pending()`` is empty (asked by every request: no list built)."""
        return next(self._unready(), None) is None

    def wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Finish queued appends first, then stop reading."""
        self._stop.set()
        self.producer.close(self.settings.ingest.shutdown_grace_s)
        self.transactions.close()
        self.state_feed.stop()
        for view in self.views:
            view.stop()
        self.events_barrier.close()
        self.directory_barrier.close()
        self.backpressure.stop()
        self.group_lag.stop()
        self.replicas.stop()
        self.registry.stop()
