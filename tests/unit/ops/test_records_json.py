"""Record lines: the console format round-trips to the same bytes, so signatures still verify."""

from __future__ import annotations

import pytest

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.domain.signing import Signer, generate_private_key, verify
from tidings.errors import MalformedRequest
from tidings.kafka.records import RawRecord
from tidings.ops.event_sign import sign_avro_json
from tidings.ops.records_json import console_line, json_line, parse_line
from tidings.producer import EventPreparer
from tidings.settings import LimitSettings

CODEC = Codec()
KEY = generate_private_key()
EVENT = EventPreparer(
    tenant="acme",
    signer=Signer("c-1", KEY),
    schemas=lambda: PayloadSchemas(bundled_payload_schemas()),
    limits=LimitSettings(),
    codec=CODEC,
).prepare(
    {"type": "content.approved", "recipients": {"users": ["u"]}, "payload": {"content_id": "c"}}
)
RAW = RawRecord(
    "p.events",
    0,
    7,
    1_700_000_000_000,
    EVENT.key,
    EVENT.value,
    [(k, v if isinstance(v, bytes) else b"") for k, v in EVENT.headers],
)


def test_a_console_line_reads_back_to_the_signed_bytes() -> None:
    back = parse_line(console_line(RAW, CODEC, "event"), CODEC, "event")
    signature = h.text(dict(back.headers), h.SIGNATURE) or ""
    assert back.value == EVENT.value
    assert verify(Signer("c-1", KEY).public_key, back.value, signature)


def test_a_json_line_reads_back_to_the_signed_bytes() -> None:
    assert parse_line(json_line(RAW, CODEC, "event"), CODEC, "event").value == EVENT.value


def test_a_console_line_says_avro_json_and_keeps_the_tenant_key() -> None:
    head, key, _ = console_line(RAW, CODEC, "event").split("\t", 2)
    assert "content-type:application/avro+json" in head.split(",")
    assert key == "acme"


def test_a_line_that_is_not_an_event_is_malformed() -> None:
    with pytest.raises(MalformedRequest):
        parse_line("a:b\tacme\tnot json", CODEC, "event")


def test_signing_hand_written_avro_json_gives_a_verifiable_console_line() -> None:
    avro_json = CODEC.encode_json("event", EVENT.envelope).decode()
    back = parse_line(sign_avro_json(CODEC, avro_json, "c-1", KEY), CODEC, "event")
    assert verify(
        Signer("c-1", KEY).public_key, back.value, h.text(dict(back.headers), h.SIGNATURE) or ""
    )
