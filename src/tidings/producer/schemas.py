"""Where a producer's payload schemas come from: the schemas topic, or a given set."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tidings.codec import Codec
from tidings.errors import Unavailable
from tidings.payload_schemas import PayloadSchemas
from tidings.producer.prepare import EventPreparer
from tidings.schema_registry import SchemaRegistry
from tidings.settings import Settings
from tidings.signing import Signer

SchemaSource = PayloadSchemas | SchemaRegistry | None


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


def build_preparer(
    settings: Settings,
    *,
    tenant: str,
    client_id: str,
    signing_key: str,
    schemas: SchemaSource,
    event_types: Iterable[str],
    codec: Codec | None,
    ready_timeout_s: float,
) -> tuple[EventPreparer, SchemaRegistry | None]:
    """What both producer flavours build first: the preparer, and a registry to stop later."""
    codec = codec or Codec(settings.schemas_dir)
    lookup, started = schema_lookup(settings, codec, schemas, ready_timeout_s)
    preparer = EventPreparer(
        tenant=tenant,
        signer=Signer(client_id, signing_key),
        schemas=lookup,
        limits=settings.limits,
        codec=codec,
        event_types=tuple(event_types),
    )
    return preparer, started
