"""The generated Avro codec writes fastavro's bytes and reads fastavro's records, for every
record schema in schemas/records, and refuses what it cannot encode or decode."""

from __future__ import annotations

import io
import math
import struct
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.avro_strategies import datum
from tidings.contracts.avro_codegen import (
    AvroDecodeError,
    RecordCodec,
    UnsupportedSchema,
    compile_codec,
    generate_source,
)
from tidings.contracts.codec import io_schema, parse
from tidings.contracts.schema_files import load_json, record_schema_files, schemas_root

SCHEMAS: dict[str, Any] = {
    name: parse(load_json(versions[version]))
    for name, versions in record_schema_files(schemas_root()).items()
    for version in [max(versions)]
}
NAMES = sorted(SCHEMAS)
CODECS: dict[str, RecordCodec] = {name: compile_codec(SCHEMAS[name]) for name in NAMES}
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Beyond avro_strategies' defaults: any Unicode text (no surrogates: not UTF-8 encodable),
# the extremes of int/long, NaN and infinities, longer arrays and maps.
_WIDE: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(max_size=40),
    "int": st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([-(2**31), 2**31 - 1])),
    "long": st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.sampled_from([-(2**63), 2**63 - 1, -1, 0, 63, -64, 64, -65, 8191, 8192]),
    ),
    "float": st.floats(width=32),
    "double": st.floats(),
    "bytes": st.binary(max_size=40),
}


def wide(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Like ``avro_strategies.datum``, with the wider primitives above."""
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in _WIDE:
            return _WIDE[schema]
        return datum(schema, named) if schema in ("null", "boolean") else wide(named[schema], named)
    if isinstance(schema, list):
        return st.one_of([wide(branch, named) for branch in schema])
    kind = schema["type"]
    if "name" in schema:
        named[schema["name"]] = schema
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: wide(f["type"], named) for f in schema["fields"]})
    if kind == "array":
        return st.lists(wide(schema["items"], named), max_size=6)
    if kind == "map":
        return st.dictionaries(st.text(max_size=12), wide(schema["values"], named), max_size=6)
    if isinstance(kind, (dict, list)) or kind in _WIDE:
        return wide(kind, named)
    return datum(schema, named)


def fastavro_write(name: str, record: Any) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, io_schema(SCHEMAS[name]), record)
    return out.getvalue()


def fastavro_read(name: str, body: bytes) -> Any:
    schema = io_schema(SCHEMAS[name])
    return fastavro.schemaless_reader(io.BytesIO(body), schema, schema)


def same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (and -0.0 differs from 0.0, as on the wire)."""
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def test_every_record_schema_is_specialised() -> None:
    assert {"event", "state", "delivery", "resolved_chunk"} <= set(NAMES)
    for name, codec in CODECS.items():
        assert codec.specialised, (name, codec.reason)


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_encode_is_byte_identical_to_fastavro(name: str, data: st.DataObject) -> None:
    record = data.draw(wide(SCHEMAS[name]), label="record")
    body = CODECS[name].encode(record)
    assert body == fastavro_write(name, record)
    assert same(CODECS[name].decode(body), fastavro_read(name, body))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_shared_strategy_agrees_too(name: str, data: st.DataObject) -> None:
    record = data.draw(datum(SCHEMAS[name]), label="record")
    body = CODECS[name].encode(record)
    assert body == fastavro_write(name, record)
    assert CODECS[name].decode(body) == fastavro_read(name, body) == record


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_truncated_or_extended_body_raises(name: str, data: st.DataObject) -> None:
    body = CODECS[name].encode(data.draw(wide(SCHEMAS[name]), label="record"))
    cut = data.draw(st.integers(0, len(body) - 1), label="cut")
    with pytest.raises((AvroDecodeError, UnicodeDecodeError)):  # a cut inside a character
        CODECS[name].decode(body[:cut])
    with pytest.raises(AvroDecodeError):
        CODECS[name].decode(body + b"\x00")


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decode_honours_start_and_prefix(name: str, data: st.DataObject) -> None:
    record = data.draw(wide(SCHEMAS[name]), label="record")
    header = b"\xc3\x01" + bytes(8)
    framed = CODECS[name].encode(record, header)
    assert framed == header + fastavro_write(name, record)
    assert same(CODECS[name].decode(framed, len(header)), CODECS[name].decode(framed[10:]))
    assert same(CODECS[name].decode(memoryview(framed[10:])), CODECS[name].decode(framed[10:]))


# A value of the wrong type per Avro type; each must make the encoder raise.
_WRONG: dict[str, list[Any]] = {
    "null": [0, "", False],
    "boolean": [None, 1, "true"],
    "int": [None, "1", 1.5, b"1"],
    "long": [None, "1", 1.5, 2**63, -(2**63) - 1],
    "float": [None, "x", b"x"],
    "double": [None, "x", b"x"],
    "string": [None, 1, b"x", ["x"]],
    "bytes": [None, "x", 1],
}


def _wrong_values(schema: Any, named: dict[str, Any]) -> list[Any]:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if (
        isinstance(schema, dict)
        and isinstance(schema["type"], (str, list))
        and schema["type"] in _WRONG
    ):
        schema = schema["type"]
    if isinstance(schema, str):
        return _WRONG[schema]
    if isinstance(schema, list):  # a value no branch accepts
        return [v for v in [object(), 1.5, "x", 7, b"x"] if not _any_branch(v, schema, named)]
    kind = schema["type"]
    if kind == "enum":
        return ["not-a-symbol", None, 1]
    if kind == "array":
        return [None, "abc", 5, {"a": 1}]
    if kind == "map":
        return [None, ["a"], 5, {1: None}]
    if kind == "record":
        return [None, "x", 5, []]
    if kind == "fixed":
        return [None, b"", "x"]
    raise AssertionError(schema)


def _any_branch(value: Any, branches: list[Any], named: dict[str, Any]) -> bool:
    return any(fastavro.validate(value, b, raise_errors=False) for b in branches if b != "null")


def _named(schema: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            out[schema["name"]] = schema
        for f in schema.get("fields", ()):
            _named(f["type"], out)
        for key in ("items", "values", "type"):
            if isinstance(schema.get(key), (dict, list)):
                _named(schema[key], out)
    elif isinstance(schema, list):
        for branch in schema:
            _named(branch, out)
    return out


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_wrong_type_or_a_missing_field_raises(name: str, data: st.DataObject) -> None:
    schema = SCHEMAS[name]
    named = _named(schema, {})
    record = data.draw(wide(schema), label="record")
    for field in schema["fields"]:
        for bad in _wrong_values(field["type"], named):
            with pytest.raises((TypeError, ValueError, KeyError)):
                CODECS[name].encode({**record, field["name"]: bad})
        if "default" not in field:
            missing = {k: v for k, v in record.items() if k != field["name"]}
            with pytest.raises((TypeError, ValueError, KeyError)):
                CODECS[name].encode(missing)
    with pytest.raises(TypeError):
        CODECS[name].encode(["not", "a", "record"])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_missing_fields_with_defaults_are_written_as_fastavro_writes_them(
    name: str, data: st.DataObject
) -> None:
    schema = SCHEMAS[name]
    record = data.draw(wide(schema), label="record")
    sparse = {f["name"]: record[f["name"]] for f in schema["fields"] if "default" not in f}
    assert CODECS[name].encode(sparse) == fastavro_write(name, sparse)


def test_nested_wrong_types_raise() -> None:
    event = CODECS["event"]
    good = {
        "event_id": "e",
        "tenant": "t",
        "type": "x",
        "version": 1,
        "recipients": {"users": ["u"], "roles": [], "groups": [], "rules": []},
        "payload": "{}",
        "source": {"client_id": "c", "reference": None},
        "idempotency_key": None,
        "accepted_at": 1,
        "replay_id": None,
    }
    assert event.encode(good) == fastavro_write("event", good)
    for bad in (
        {**good, "recipients": {**good["recipients"], "users": [1]}},
        {**good, "recipients": {**good["recipients"], "users": "u"}},
        {**good, "source": {"reference": None}},
        {**good, "source": {"client_id": "c", "reference": 5}},
    ):
        with pytest.raises((TypeError, ValueError, KeyError)):
            event.encode(bad)


def test_corrupt_bodies_raise() -> None:
    state = CODECS["state"]
    body = state.encode({"event_id": "e", "tenant": "t", "stage": "failed", "seq": 1, "at": 2})
    assert state.decode(body)["stage"] == "failed"
    # event_id length -1, an enum index past the symbols, a union index 2, an endless varint
    for corrupt in (
        b"\x01" + body[1:],
        body[:4] + b"\x0e" + body[5:],
        body[:7] + b"\x04" + body[8:],
        body[:5] + b"\xff" * 11,
    ):
        with pytest.raises(AvroDecodeError):
            state.decode(corrupt)


def test_a_block_count_the_body_cannot_hold_raises_fast() -> None:
    chunk = CODECS["resolved_chunk"]
    body = chunk.encode(
        {
            "event_id": "e",
            "tenant": "t",
            "type": "x",
            "chunk": 0,
            "chunks": 1,
            "recipients": [],
            "payload": "{}",
            "version": 1,
            "replay_id": None,
        }
    )
    huge = body[:8] + b"\xfe\xff\xff\xff\x0f" + body[9:]  # 2**31 - 1 recipients
    with pytest.raises(AvroDecodeError):
        chunk.decode(huge)


def test_negative_block_counts_from_other_writers_are_read() -> None:
    # A map<int> of one entry written as count -1 and a block size, as Java may write it.
    schema = {
        "type": "record",
        "name": "M",
        "fields": [{"name": "m", "type": {"type": "map", "values": "int"}}],
    }
    body = b"\x01\x06\x02a\x04\x00"
    assert (
        compile_codec(schema).decode(body)
        == fastavro.schemaless_reader(io.BytesIO(body), fastavro.parse_schema(schema), None)
        == {"m": {"a": 2}}
    )


GENERIC = {
    "type": "record",
    "name": "Everything",
    "namespace": "x",
    "fields": [
        {"name": "n", "type": "null"},
        {"name": "b", "type": "boolean"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "fx", "type": {"type": "fixed", "name": "Id", "size": 4}},
        {"name": "fx2", "type": "Id"},
        {"name": "by", "type": "bytes"},
        {
            "name": "e",
            "type": {"type": "enum", "name": "E", "symbols": [f"s{i}" for i in range(70)]},
        },
        {
            "name": "u",
            "type": ["null", "boolean", "int", "long", "float", "double", "string", "bytes"],
        },
        {"name": "u2", "type": ["float", "double", "Id", "E", {"type": "array", "items": "long"}]},
        {"name": "u3", "type": ["null", {"type": "map", "values": "E"}, "string"]},
        {
            "name": "u4",
            "type": [
                {"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]},
                "null",
                {"type": "array", "items": "R"},
            ],
        },
        {"name": "aa", "type": {"type": "array", "items": {"type": "array", "items": "double"}}},
        {"name": "mr", "type": {"type": "map", "values": "R"}},
        {"name": "dflt", "type": "double", "default": 1.5},
    ],
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_avro_type_matches_fastavro(data: st.DataObject) -> None:
    codec = compile_codec(GENERIC)
    assert codec.specialised, codec.reason
    parsed = fastavro.parse_schema(GENERIC)
    record = data.draw(wide(parsed))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    assert codec.encode(record) == out.getvalue()
    assert same(
        codec.decode(out.getvalue()),
        fastavro.schemaless_reader(io.BytesIO(out.getvalue()), parsed, None),
    )


def test_ambiguous_and_recursive_schemas_fall_back_to_fastavro() -> None:
    two_records = {
        "type": "record",
        "name": "Two",
        "fields": [
            {
                "name": "u",
                "type": [
                    {"type": "record", "name": "A", "fields": [{"name": "a", "type": "int"}]},
                    {"type": "record", "name": "B", "fields": [{"name": "b", "type": "int"}]},
                ],
            }
        ],
    }
    linked = {
        "type": "record",
        "name": "Node",
        "fields": [{"name": "next", "type": ["null", "Node"], "default": None}],
    }
    for schema, record in ((two_records, {"u": {"b": 3}}), (linked, {"next": {"next": None}})):
        with pytest.raises(UnsupportedSchema):
            generate_source(schema)
        codec = compile_codec(schema)
        assert not codec.specialised
        parsed = fastavro.parse_schema(schema)
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, record)
        assert codec.encode(record) == out.getvalue()
        assert codec.decode(out.getvalue()) == record
        with pytest.raises(AvroDecodeError):
            codec.decode(out.getvalue() + b"\x00")
