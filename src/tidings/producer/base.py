"""Where a producer's payload schemas come from: the schemas topic, or a given set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.envelope import NotificationRequest
from tidings.domain.payload_schemas import PayloadSchemas
from tidings.domain.signing import Signer
from tidings.errors import Unavailable
from tidings.kafka.quotas import direct_producer_suffix
from tidings.producer.prepare import EventPreparer, PreparedEvent
from tidings.producer.rulebook import Credential, Rulebook
from tidings.producer.views import LibraryViews
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry

SchemaSource = PayloadSchemas | SchemaRegistry | None
Request = Mapping[str, Any] | NotificationRequest
# One Ed25519 signature per batch: 64 events cost ~1 us each to sign, and each record's proof
# header holds log2(64) = 6 sibling hashes (256 base64 characters).
DEFAULT_BATCH_SIZE = 64
DEFAULT_BATCH_LINGER_MS = 5.0


def schema_lookup(
    settings: Settings, codec: Codec, source: SchemaSource, timeout_s: float
) -> tuple[Callable[[], PayloadSchemas], SchemaRegistry | None]:
    """A getter for the current schemas, and the registry this call started (to stop later).

    With no source the producer follows the schemas topic like the endpoint does, so a version
    registered while it runs is usable without a restart."""
    if isinstance(source, PayloadSchemas):
        return (lambda: source), None
    started = None
    if source is None:
        source = started = SchemaRegistry(settings, codec).start()
    registry = source
    if not registry.wait_ready(timeout_s):
        if started is not None:
            started.stop()
        raise Unavailable("the schemas topic could not be read in time")
    return (lambda: registry.schemas), started


class PreparingProducer:
    """The half both producer flavours share: validation, encoding and signing (the preparer),
    the views its rules read (``LibraryViews``: its client record, the directory, the key
    window's events), the events topic, and the schemas registry this producer may have
    started. Subclasses open their Kafka producer in ``_open`` with the same settings and
    overrides, under the Kafka client id its quota names (kafka/quotas.py).

    Sent events are signed in batches: a batch is sealed (one signature over its Merkle
    root) when it holds ``batch_size`` events or its first has waited ``batch_linger_ms``."""

    def __init__(
        self,
        settings: Settings,
        *,
        tenant: str,
        client_id: str,
        signing_key: str,
        schemas: SchemaSource = None,
        event_types: Iterable[str] = (),
        codec: Codec | None = None,
        ready_timeout_s: float = 30.0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_linger_ms: float = DEFAULT_BATCH_LINGER_MS,
        stores_dir: Path | None = None,
        **overrides: Any,
    ) -> None:
        if batch_size < 1 or batch_linger_ms < 0:
            raise ValueError("batch_size must be at least 1 and batch_linger_ms not negative")
        self.batch_size, self.batch_linger_s = batch_size, batch_linger_ms / 1000
        codec = codec or Codec(settings.schemas_dir)
        lookup, self._registry = schema_lookup(settings, codec, schemas, ready_timeout_s)
        try:
            self.views = LibraryViews(settings, codec, client_id, tenant, stores_dir)
            self.views.start(ready_timeout_s)
        except BaseException:
            self._stop_registry()
            raise
        signer = Signer(client_id, signing_key)
        credential = Credential(client_id, tenant, signer.public_key)
        self.preparer = EventPreparer(
            tenant=tenant,
            signer=signer,
            schemas=lookup,
            limits=settings.limits,
            codec=codec,
            event_types=tuple(event_types),
            rulebook=Rulebook(credential, self.views.clients, self.views.recent),
            directory=self.views.directory,
        )
        self.topic = Topics(settings).events.name
        self._open(settings, direct_producer_suffix(client_id), overrides)

    def _open(self, settings: Settings, client_suffix: str, overrides: dict[str, Any]) -> None:
        raise NotImplementedError

    def prepare(self, request: Request, idempotency_key: str | None = None) -> PreparedEvent:
        return self.preparer.prepare(request, idempotency_key)

    def _stop_registry(self) -> None:
        """Stop what this producer reads (the schemas registry it started, its views)."""
        if self._registry is not None:
            self._registry.stop()
            self._registry = None
        views = getattr(self, "views", None)
        if views is not None:
            views.stop()
