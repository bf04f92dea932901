"""The registered payload schemas: one Avro schema per event type and version."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tidings.contracts.codec import crc64_fingerprint, parse, validation_errors
from tidings.contracts.schema_files import load_json, payload_schema_files, schemas_root
from tidings.domain.compatibility import Compatibility, incompatibilities
from tidings.errors import (
    FieldError,
    SchemaIncompatible,
    SchemaValidationFailed,
    UnknownEventType,
    UnknownSchemaVersion,
)


@dataclass(frozen=True)
class PayloadSchema:
    type: str
    version: int
    schema: dict[str, Any]
    parsed: Any
    fingerprint: str

    @classmethod
    def build(cls, type_: str, version: int, schema: dict[str, Any]) -> PayloadSchema:
        parsed = parse(schema)
        return cls(type_, version, schema, parsed, crc64_fingerprint(parsed).hex())


def bundled_payload_schemas(root: Path | None = None) -> list[PayloadSchema]:
    """The versions shipped in ``schemas/payloads``, in registration order."""
    return [
        PayloadSchema.build(type_, version, load_json(path))
        for type_, versions in sorted(payload_schema_files(schemas_root(root)).items())
        for version, path in sorted(versions.items())
    ]


class PayloadSchemas:
    """Lookup and validation; fed by the schemas topic view (or the bundled files in tests)."""

    def __init__(self, schemas: Iterable[PayloadSchema] = ()) -> None:
        self._types: dict[str, dict[int, PayloadSchema]] = {}
        for schema in schemas:
            self.put(schema)

    def put(self, schema: PayloadSchema) -> None:
        self._types.setdefault(schema.type, {})[schema.version] = schema

    def remove(self, type_: str, version: int) -> None:
        versions = self._types.get(type_, {})
        versions.pop(version, None)
        if not versions:  # the last version withdrawn: the type is unknown again
            self._types.pop(type_, None)

    def types(self) -> dict[str, list[int]]:
        return {t: sorted(v) for t, v in sorted(self._types.items())}

    def resolve(self, type_: str, version: int | None = None) -> PayloadSchema:
        versions = self._types.get(type_)
        if not versions:
            raise UnknownEventType(f"event type {type_!r} is not registered")
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise UnknownSchemaVersion(
                f"{type_!r} has no version {version}; registered: {sorted(versions)}"
            )
        return versions[version]

    def validate(self, type_: str, version: int | None, payload: object) -> PayloadSchema:
        """The schema the payload was validated against; raises with per-field errors."""
        schema = self.resolve(type_, version)
        if not isinstance(payload, dict):
            raise SchemaValidationFailed(
                "payload must be a JSON object", errors=[FieldError("payload", "expected object")]
            )
        errors = validation_errors(payload, schema.parsed)
        errors += _unknown_fields(payload, schema.schema)
        if errors:
            raise SchemaValidationFailed(
                f"payload does not match {type_} v{schema.version}",
                errors=[FieldError(f"payload.{e.path}".rstrip("."), e.message) for e in errors],
            )
        return schema

    def check_candidate(
        self, type_: str, version: int, schema: dict[str, Any], mode: Compatibility
    ) -> PayloadSchema:
        """A new version, checked against every earlier one before it may be registered."""
        existing = self._types.get(type_, {})
        if version in existing and existing[version].schema != schema:
            raise SchemaIncompatible(
                f"{type_} v{version} is already registered with another schema"
            )
        previous = [existing[v].schema for v in sorted(existing) if v < version]
        problems = incompatibilities(schema, list(previous), mode)
        if problems:
            raise SchemaIncompatible(
                f"{type_} v{version} is not {mode.value} compatible",
                errors=[FieldError("schema", p) for p in problems],
            )
        return PayloadSchema.build(type_, version, schema)


def _unknown_fields(payload: dict[str, Any], schema: dict[str, Any]) -> list[FieldError]:
    """Avro ignores extra keys when writing; a client sending them is told, not silently trimmed."""
    known = {f["name"] for f in schema.get("fields", [])}
    return [FieldError(str(key), "unknown field") for key in payload if key not in known]
