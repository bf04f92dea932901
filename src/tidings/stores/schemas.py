"""The payload schema registry, kept in the compacted schemas topic (no registry server).

Every process that validates payloads materializes the topic into a ``PayloadSchemas`` with
a ``CompactedView``; registering a version appends one ``schema_registration`` record keyed
``type/version`` after the compatibility check, and returns once the view has applied it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tidings.contracts.codec import Codec, parse
from tidings.contracts.headers import CONTENT_TYPE, FINGERPRINT, to_list
from tidings.contracts.topics import Topics, schema_key
from tidings.domain.compatibility import Compatibility
from tidings.domain.payload_schemas import PayloadSchema, PayloadSchemas, bundled_payload_schemas
from tidings.errors import SchemaIncompatible, Unavailable
from tidings.kafka.producer import Producer, durable_producer, produce_sync
from tidings.kafka.view import CompactedView
from tidings.logs import get_logger
from tidings.settings import Settings

log = get_logger(__name__)
RECORD = "schema_registration"


@dataclass(frozen=True)
class Registration:
    schema: PayloadSchema
    created: bool  # False: the identical schema was already registered (a no-op)


def parse_schema_key(key: bytes) -> tuple[str, int]:
    type_, _, version = key.decode().rpartition("/")
    return type_, int(version)


class SchemaRegistry:
    """``start()``, ``wait_ready(timeout)``, then read ``.schemas`` or ``register(...)``."""

    def __init__(self, settings: Settings, codec: Codec | None = None) -> None:
        self._settings = settings
        self._codec = codec or Codec(settings.schemas_dir)
        self._topic = Topics(settings).schemas.name
        # Mutated only on the view's thread; readers see whole entries (dict assignment).
        self.schemas = PayloadSchemas()
        self._view = CompactedView(settings, self._topic, self._apply, name="schemas")
        self._producer: Producer | None = None  # created on first register: no I/O in __init__

    def start(self) -> SchemaRegistry:
        self._view.start()
        return self

    def wait_ready(self, timeout_s: float | None = None) -> bool:
        return self._view.wait_ready(timeout_s)

    @property
    def ready(self) -> bool:
        return self._view.ready

    def wait_applied(self, partition: int, offset: int, timeout_s: float) -> bool:
        """Read-your-writes for a record produced to the schemas topic by someone else."""
        return self._view.wait_for(partition, offset, timeout_s)

    def stop(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)
        self._view.stop()

    def _apply(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        type_, version = parse_schema_key(key)
        if value is None:  # tombstone: an operator withdrew the version
            self.schemas.remove(type_, version)
            return
        _, record = self._codec.decode(value, expect=RECORD)
        schema = orjson.loads(record["schema"])
        self.schemas.put(PayloadSchema.build(type_, version, schema))

    def register(
        self,
        type_: str,
        version: int,
        schema: dict[str, Any],
        mode: Compatibility = Compatibility.BACKWARD,
        timeout_s: float = 30.0,
    ) -> Registration:
        """Check compatibility with the registered versions, append, wait until applied."""
        if not self.wait_ready(timeout_s):
            raise Unavailable("the schemas topic could not be read in time")
        try:
            parse(schema)
        except Exception as exc:  # fastavro raises several types for a malformed schema
            raise SchemaIncompatible(f"{type_} v{version} is not a valid Avro schema") from exc
        if self._registered(type_, version) == schema:
            return Registration(self.schemas.resolve(type_, version), created=False)
        candidate = self.schemas.check_candidate(type_, version, schema, mode)
        value = self._codec.encode(
            RECORD,
            {
                "type": type_,
                "version": version,
                "schema": orjson.dumps(schema).decode(),
                "fingerprint": candidate.fingerprint,
                "compatibility": mode.value,
                "registered_at": int(time.time() * 1000),
            },
        )
        headers = {
            CONTENT_TYPE: "application/avro",
            FINGERPRINT: self._codec.schema(RECORD).fingerprint.hex(),
        }
        msg = produce_sync(
            self._producer_(), self._topic, schema_key(type_, version), value, to_list(headers)
        )
        partition, offset = msg.partition(), msg.offset()
        if (
            partition is None
            or offset is None
            or not self._view.wait_for(partition, offset, timeout_s)
        ):
            raise Unavailable("the registration was written but not read back in time")
        # Two registrars racing for one version: compaction keeps the last, so the loser says so.
        if self._registered(type_, version) != schema:
            raise SchemaIncompatible(f"{type_} v{version} was registered concurrently")
        log.info("schema_registered", type=type_, version=version, mode=mode.value)
        return Registration(candidate, created=True)

    def register_bundled(self, root: Path | None = None) -> list[Registration]:
        """The versions under ``schemas/payloads``, oldest first; identical ones are no-ops."""
        return [
            self.register(s.type, s.version, s.schema)
            for s in bundled_payload_schemas(root or self._settings.schemas_dir)
        ]

    def _registered(self, type_: str, version: int) -> dict[str, Any] | None:
        if version not in self.schemas.types().get(type_, []):
            return None
        return self.schemas.resolve(type_, version).schema

    def _producer_(self) -> Producer:
        if self._producer is None:
            self._producer = durable_producer(self._settings, "schemas")
        return self._producer
