"""The Avro codec: single-object encoding, Avro JSON, and typed errors for bad bytes."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.avro_strategies import datum
from tidings.contracts.codec import CONTENT_TYPE_JSON, MAGIC, Codec, crc64_fingerprint, parse
from tidings.errors import CodecError, CorruptRecord, RecordMismatch, UnknownFingerprint

CODEC = Codec()
NAMES = CODEC.names()
EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def record_of(name: str) -> st.SearchStrategy[dict[str, Any]]:
    return datum(CODEC.schema(name).parsed)


def fastavro_body(name: str, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, CODEC.schema(name).parsed, record)
    return out.getvalue()


def state_record(**overrides: Any) -> dict[str, Any]:
    return {
        "event_id": "e-1",
        "tenant": "acme",
        "stage": "accepted",
        "seq": 1,
        "at": 1_700_000_000_000,
        **overrides,
    }


def test_every_record_kind_in_schemas_records_is_known() -> None:
    assert {"event", "state", "resolved_chunk", "delivery", "directory_entry", "client"} <= set(
        NAMES
    )


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_single_object_encoding_round_trips(name: str, data: st.DataObject) -> None:
    record = data.draw(record_of(name))
    assert CODEC.decode(CODEC.encode(name, record), expect=name) == (name, record)


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_body_is_byte_identical_to_fastavro(name: str, data: st.DataObject) -> None:
    record = data.draw(record_of(name))
    encoded = CODEC.encode(name, record)
    assert encoded[10:] == fastavro_body(name, record)
    decoded = fastavro.schemaless_reader(io.BytesIO(encoded[10:]), CODEC.schema(name).parsed, None)
    assert decoded == record


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_header_is_magic_then_little_endian_crc64_of_the_writer_schema(
    name: str, data: st.DataObject
) -> None:
    writer = CODEC.schema(name)
    encoded = CODEC.encode(name, data.draw(record_of(name)))
    assert encoded[:2] == MAGIC == b"\xc3\x01"
    assert encoded[2:10] == writer.fingerprint == crc64_fingerprint(writer.parsed)


def test_fingerprint_of_the_null_schema_matches_the_avro_specification() -> None:
    # Avro spec: CRC-64-AVRO("null") = 0x63dd24e7cc258f8a, written little-endian.
    assert crc64_fingerprint(parse("null")) == bytes.fromhex("8a8f25cce724dd63")


@EXAMPLES
@given(record=record_of("state"), cut=st.integers(min_value=1))
def test_truncated_bytes_raise_corrupt_record(record: dict[str, Any], cut: int) -> None:
    encoded = CODEC.encode("state", record)
    truncated = encoded[: len(encoded) - 1 - cut % (len(encoded) - 1)]
    with pytest.raises(CorruptRecord):
        CODEC.decode(truncated)


def test_bytes_without_the_magic_raise_corrupt_record() -> None:
    encoded = CODEC.encode("state", state_record())
    with pytest.raises(CorruptRecord):
        CODEC.decode(b"\x00\x00" + encoded[2:])


def test_trailing_bytes_raise_corrupt_record() -> None:
    with pytest.raises(CorruptRecord):
        CODEC.decode(CODEC.encode("state", state_record()) + b"\x00")


@EXAMPLES
@given(record=record_of("event"), index=st.integers(min_value=10), flip=st.integers(1, 255))
def test_corrupted_body_decodes_to_a_valid_record_or_raises_a_codec_error(
    record: dict[str, Any], index: int, flip: int
) -> None:
    encoded = bytearray(CODEC.encode("event", record))
    position = 10 + index % (len(encoded) - 10)
    encoded[position] ^= flip
    try:
        name, decoded = CODEC.decode(bytes(encoded))
    except CodecError:
        return
    assert name == "event"
    CODEC.encode(name, decoded)  # whatever came out is a well-formed event record


def test_unknown_fingerprint_raises_unknown_fingerprint() -> None:
    encoded = CODEC.encode("state", state_record())
    with pytest.raises(UnknownFingerprint):
        CODEC.decode(MAGIC + b"\x01" * 8 + encoded[10:])


def test_record_of_another_kind_raises_record_mismatch() -> None:
    with pytest.raises(RecordMismatch):
        CODEC.decode(CODEC.encode("state", state_record()), expect="event")


def test_omitted_fields_with_defaults_decode_as_their_defaults() -> None:
    _, record = CODEC.decode(CODEC.encode("state", state_record()))
    assert record["deliveries"] == {}
    assert record["error_class"] is None


def test_encoding_a_record_that_does_not_match_its_schema_names_the_field() -> None:
    with pytest.raises(RecordMismatch) as raised:
        CODEC.encode("state", state_record(seq="one"))
    assert [e.path for e in raised.value.errors] == ["seq"]


@pytest.mark.parametrize("name", NAMES)
@EXAMPLES
@given(data=st.data())
def test_avro_json_encoding_round_trips(name: str, data: st.DataObject) -> None:
    record = data.draw(record_of(name))
    assert CODEC.decode_json(CODEC.encode_json(name, record), name) == record


def test_avro_json_wraps_union_values_as_console_users_write_them() -> None:
    encoded = CODEC.encode_json("state", state_record(type="content.approved"))
    assert b'"type":{"string":"content.approved"}' in encoded.replace(b" ", b"")


def test_avro_json_that_is_not_the_record_raises_record_mismatch() -> None:
    with pytest.raises(RecordMismatch):
        CODEC.decode_json(b'{"event_id": 1}', "state")


def test_decode_value_follows_the_content_type_header() -> None:
    _, record = CODEC.decode(CODEC.encode("state", state_record()))  # defaults filled in
    as_json = CODEC.encode_json("state", record)
    as_binary = CODEC.encode("state", record)
    assert CODEC.decode_value(as_json, CONTENT_TYPE_JSON, "state") == record
    assert CODEC.decode_value(as_binary, None, "state") == record
