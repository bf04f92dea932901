"""Avro codec for every record of every topic.

Binary values use Avro single-object encoding (``C3 01``, the writer schema's CRC-64-AVRO
fingerprint little-endian, the body), so any reader holding the ``.avsc`` files decodes a
record without a registry server. The Avro JSON encoding is accepted where an operator
writes records by hand (``content-type: application/avro+json``).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import orjson
from fastavro.schema import fingerprint, to_parsing_canonical_form
from fastavro.validation import validate

from tidings.contracts.avro_codegen import RecordCodec, compile_codec
from tidings.contracts.schema_files import load_json, record_schema_files, schemas_root
from tidings.errors import CorruptRecord, FieldError, RecordMismatch, UnknownFingerprint

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
CONTENT_TYPE_BINARY = "application/avro"
CONTENT_TYPE_JSON = "application/avro+json"

Record = dict[str, Any]


def crc64_fingerprint(parsed_schema: Any) -> bytes:
    """The 8 fingerprint bytes as the single-object header carries them (little-endian).

    fastavro's hex string already lists the bytes in that order (as Apache avro's
    ``Schema.fingerprint()`` does): ``"null"`` gives ``8a8f25cce724dd63``.
    """
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed_schema), "CRC-64-AVRO"))


@dataclass(frozen=True)
class WriterSchema:
    name: str
    version: int
    parsed: Any
    fingerprint: bytes
    # Encoder and decoder generated from this schema at start-up (2-2.5x fastavro's generic
    # writer, byte for byte the same: tests/unit/contracts/test_avro_codegen.py).
    generated: RecordCodec


def without_logical_types(schema: Any) -> Any:
    """Timestamps stay epoch milliseconds in Python; the parsing canonical form (and so the
    fingerprint) ignores ``logicalType``, so stripping it changes no byte on the wire."""
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(v) for v in schema]
    return schema


def parse(schema: Any) -> Any:
    return fastavro.parse_schema(without_logical_types(schema), _write_hint=False)


_HINTED: dict[int, tuple[Any, Any]] = {}


def io_schema(parsed_schema: Any) -> Any:
    """The schema as fastavro's readers, writers and validator take it without re-parsing.

    ``parse`` leaves out fastavro's write hint (so the fingerprint sees the plain schema), and
    fastavro re-parses an unhinted schema on every call: 3-5x the cost of the write itself.
    Parsed once here per schema object, then reused."""
    if not isinstance(parsed_schema, dict) or "__fastavro_parsed" in parsed_schema:
        return parsed_schema
    entry = _HINTED.get(id(parsed_schema))
    if entry is None or entry[0] is not parsed_schema:
        entry = (parsed_schema, fastavro.parse_schema(parsed_schema))
        _HINTED[id(parsed_schema)] = entry
    return entry[1]


def validation_errors(datum: object, parsed_schema: Any) -> list[FieldError]:
    """Per-field reasons a datum does not match a schema; empty when it does."""
    try:
        validate(datum, io_schema(parsed_schema), raise_errors=True)
    except fastavro.validation.ValidationError as exc:
        prefix = str(parsed_schema.get("name", "")) + "." if isinstance(parsed_schema, dict) else ""
        return [_field_error(item, prefix) for item in exc.errors] or [FieldError("", "invalid")]
    return []


def _field_error(item: Any, prefix: str) -> FieldError:
    path = str(getattr(item, "field", "") or "").removeprefix(prefix)
    expected = getattr(item, "schema", "")
    if isinstance(expected, dict):  # without fastavro's parse hints (see io_schema)
        expected = {
            k: v for k, v in expected.items() if k not in ("__fastavro_parsed", "__named_schemas")
        }
    expected_text = expected if isinstance(expected, str) else orjson.dumps(expected).decode()
    return FieldError(path=path, message=f"expected {expected_text[:120]}")


class Codec:
    """Encodes records with the newest version of their schema; decodes any known version."""

    def __init__(self, root: Path | None = None) -> None:
        self._by_fingerprint: dict[bytes, WriterSchema] = {}
        self._newest: dict[str, WriterSchema] = {}
        for name, versions in record_schema_files(schemas_root(root)).items():
            for version in sorted(versions):
                parsed = parse(load_json(versions[version]))
                writer = WriterSchema(
                    name,
                    version,
                    parsed,
                    crc64_fingerprint(parsed),
                    compile_codec(parsed, name=f"{name}.v{version}"),
                )
                self._by_fingerprint[writer.fingerprint] = writer
                self._newest[name] = writer

    def schema(self, name: str) -> WriterSchema:
        return self._newest[name]

    def names(self) -> list[str]:
        return sorted(self._newest)

    def encode(self, name: str, record: Mapping[str, Any], *, validate: bool = True) -> bytes:
        """``validate=False`` is for records the caller built from already validated input
        (validation costs as much as the write): the writer's own type checks remain, and a
        record it refuses is reported with the full per-field validation errors."""
        writer = self._newest[name]
        if validate:
            self._check(name, record, writer)
        try:
            return writer.generated.encode(record, MAGIC + writer.fingerprint)
        except (TypeError, ValueError, KeyError):
            pass  # fastavro's writer decides (it coerces a few values the generated one refuses)
        out = io.BytesIO()
        out.write(MAGIC)
        out.write(writer.fingerprint)
        try:
            fastavro.schemaless_writer(out, io_schema(writer.parsed), dict(record))
        except (TypeError, ValueError, AttributeError, KeyError, OverflowError) as exc:
            self._check(name, record, writer)
            raise RecordMismatch(f"{name} record does not match its schema") from exc
        return out.getvalue()

    @staticmethod
    def _check(name: str, record: Mapping[str, Any], writer: WriterSchema) -> None:
        errors = validation_errors(record, writer.parsed)
        if errors:
            raise RecordMismatch(f"{name} record does not match its schema", errors=errors)

    def decode(self, data: bytes, expect: str | None = None) -> tuple[str, Record]:
        """Decode single-object bytes; ``expect`` names the record the topic carries."""
        if len(data) < HEADER_LEN or data[:2] != MAGIC:
            raise CorruptRecord("not Avro single-object encoded (missing C3 01 header)")
        writer = self._by_fingerprint.get(bytes(data[2:HEADER_LEN]))
        if writer is None:
            raise UnknownFingerprint(f"no schema with fingerprint {data[2:HEADER_LEN].hex()}")
        if expect is not None and writer.name != expect:
            raise RecordMismatch(f"expected a {expect} record, found {writer.name}")
        reader = self._newest[writer.name]
        if reader is writer:  # the common case: written with the newest version
            try:
                return writer.name, writer.generated.decode(data, HEADER_LEN)
            except ValueError as exc:
                raise CorruptRecord(f"{writer.name} body is truncated or corrupt") from exc
        body = io.BytesIO(data[HEADER_LEN:])
        try:
            record = fastavro.schemaless_reader(
                body, io_schema(writer.parsed), io_schema(reader.parsed)
            )
        except (EOFError, StopIteration, ValueError, IndexError, UnicodeDecodeError) as exc:
            raise CorruptRecord(f"{writer.name} body is truncated or corrupt") from exc
        if body.tell() != len(data) - HEADER_LEN:
            raise CorruptRecord(f"{writer.name} body has trailing bytes")
        if not isinstance(record, dict):
            raise CorruptRecord(f"{writer.name} body is not a record")
        return writer.name, record

    def encode_json(self, name: str, record: Mapping[str, Any]) -> bytes:
        """Avro JSON encoding (unions wrapped, as ``kafka-console-producer`` users write it)."""
        writer = self._newest[name]
        errors = validation_errors(record, writer.parsed)
        if errors:
            raise RecordMismatch(f"{name} record does not match its schema", errors=errors)
        out = io.StringIO()
        fastavro.json_writer(out, writer.parsed, [dict(record)])
        return out.getvalue().strip().encode()

    def decode_json(self, data: bytes, name: str) -> Record:
        writer = self._newest[name]
        try:
            text = data.decode("utf-8")
            records = list(fastavro.json_reader(io.StringIO(text), writer.parsed))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RecordMismatch(f"not a {name} record in Avro JSON encoding") from exc
        if len(records) != 1 or not isinstance(records[0], dict):
            raise RecordMismatch(f"expected exactly one {name} record")
        return records[0]

    def decode_value(self, data: bytes, content_type: str | None, name: str) -> Record:
        """Decode by the ``content-type`` header: Avro JSON when it says so, else binary."""
        if content_type == CONTENT_TYPE_JSON:
            return self.decode_json(data, name)
        return self.decode(data, expect=name)[1]
