"""The library prepares events exactly as the endpoint does: same checks, codes, encoding."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.contracts import headers as h
from tidings.contracts.codec import CONTENT_TYPE_BINARY, Codec
from tidings.domain.envelope import event_id_for
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.domain.signing import Signer, generate_private_key, verify, verify_record
from tidings.errors import TidingsError
from tidings.producer import EventPreparer
from tidings.settings import LimitSettings

CODEC = Codec()
SCHEMAS = PayloadSchemas(bundled_payload_schemas())
KEY = generate_private_key()


def preparer(
    limits: LimitSettings | None = None, event_types: tuple[str, ...] = ()
) -> EventPreparer:
    return EventPreparer(
        tenant="acme",
        signer=Signer("c-direct", KEY),
        schemas=lambda: SCHEMAS,
        limits=limits or LimitSettings(),
        codec=CODEC,
        event_types=event_types,
    )


def body(**overrides: Any) -> dict[str, Any]:
    base = {
        "type": "content.approved",
        "recipients": {"users": ["u-1"]},
        "payload": {"content_id": "c"},
    }
    return {**base, **overrides}


REJECTED = [
    ("unknown field", body(tenant="globex"), "validation_failed"),
    (
        "missing payload",
        {"type": "content.approved", "recipients": {"users": ["u"]}},
        "validation_failed",
    ),
    ("bad type syntax", body(type="Content Approved"), "validation_failed"),
    ("unregistered type", body(type="content.deleted"), "unknown_event_type"),
    ("unregistered version", body(version=9), "unknown_schema_version"),
    ("payload off schema", body(payload={"content_id": 5}), "schema_validation_failed"),
    ("payload extra field", body(payload={"content_id": "c", "x": 1}), "schema_validation_failed"),
    ("no recipients", body(recipients={}), "invalid_recipients"),
    ("bad rule", body(recipients={"rules": [{"attribute": "a", "near": 1}]}), "invalid_recipients"),
    ("payload too large", body(payload={"content_id": "x" * 70_000}), "payload_too_large"),
]


@pytest.mark.parametrize(
    ("raw", "code"), [(r, c) for _, r, c in REJECTED], ids=[n for n, *_ in REJECTED]
)
def test_a_request_the_endpoint_refuses_raises_the_same_code(
    raw: dict[str, Any], code: str
) -> None:
    with pytest.raises(TidingsError) as raised:
        preparer().prepare(raw)
    assert raised.value.code == code


def test_a_type_outside_the_clients_allow_list_is_forbidden() -> None:
    with pytest.raises(TidingsError) as raised:
        preparer(event_types=("invoice.*",)).prepare(body())
    assert (raised.value.code, raised.value.status) == ("forbidden", 403)


def test_an_invalid_idempotency_key_is_refused_like_the_header() -> None:
    with pytest.raises(TidingsError) as raised:
        preparer().prepare(body(), "tab\there")
    assert raised.value.code == "invalid_idempotency_key"


def test_the_event_id_is_deterministic_from_tenant_and_idempotency_key() -> None:
    event = preparer().prepare(body(), "order-42")
    assert event.event_id == event_id_for("acme", "order-42")


def test_the_record_is_keyed_by_tenant_and_carries_the_operator_headers() -> None:
    event = preparer().prepare(body())
    headers = h.to_dict(event.headers)
    assert event.key == b"acme"
    assert h.text(headers, h.EVENT_ID) == event.event_id
    assert h.text(headers, h.TENANT) == "acme"
    assert h.text(headers, h.EVENT_TYPE) == "content.approved"
    assert h.text(headers, h.CONTENT_TYPE) == CONTENT_TYPE_BINARY
    assert h.text(headers, h.SIGNER) == "c-direct"


def test_the_signature_covers_exactly_the_written_value() -> None:
    event = preparer().prepare(body())
    signature = h.text(h.to_dict(event.headers), h.SIGNATURE) or ""
    assert verify(Signer("c-direct", KEY).public_key, event.value, signature)


def test_the_envelope_records_the_client_as_source_and_the_newest_version() -> None:
    _, decoded = CODEC.decode(preparer().prepare(body()).value, expect="event")
    assert decoded["source"]["client_id"] == "c-direct"
    assert decoded["version"] == 2
    assert decoded["replay_id"] is None


def test_a_batch_shares_one_signature_and_every_record_verifies() -> None:
    p = preparer()
    batch = p.sign([p.encode(body(), f"batch-{i}") for i in range(5)])
    signatures = {h.text(h.to_dict(e.headers), h.SIGNATURE) for e in batch}
    assert len(signatures) == 1
    for event in batch:
        headers = h.to_dict(event.headers)
        assert verify_record(
            Signer("c-direct", KEY).public_key,
            event.key,
            event.value,
            h.text(headers, h.SIGNATURE) or "",
            h.text(headers, h.PROOF),
        )


def test_an_encoded_event_is_not_signed_until_its_batch_is() -> None:
    event = preparer().encode(body())
    assert not event.signed
    assert h.SIGNATURE not in h.to_dict(event.headers)
