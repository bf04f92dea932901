"""Proof of origin: only the tenant's own signed records, or the ingest service's, pass."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.domain.clients import SERVICE_TENANT, ApiClient, ClientRegistry
from tidings.domain.envelope import build_envelope, encode_event, parse_request, validate_request
from tidings.domain.origin import OriginRejected, verify_origin
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.domain.signing import Signer, generate_private_key, verify
from tidings.settings import LimitSettings

CODEC = Codec()
SCHEMAS = PayloadSchemas(bundled_payload_schemas())


def envelope(tenant: str, client_id: str) -> dict[str, Any]:
    request = parse_request(
        {
            "type": "content.approved",
            "recipients": {"users": ["u-1"]},
            "payload": {"content_id": "x"},
        }
    )
    validated = validate_request(request, tenant, SCHEMAS, LimitSettings())
    return build_envelope(validated, tenant=tenant, client_id=client_id, idempotency_key=None)


def setup() -> tuple[ClientRegistry, Signer, Signer]:
    producer = Signer("p1", generate_private_key())
    service = Signer("svc.ingest.0", generate_private_key())
    registry = ClientRegistry()
    registry.put(
        ApiClient("p1", "acme", "h", ("notifications:write",), public_key=producer.public_key)
    )
    registry.put(ApiClient("http1", "acme", "h", ("notifications:write",)))
    registry.put(
        ApiClient(service.client_id, SERVICE_TENANT, "h", (), public_key=service.public_key)
    )
    return registry, producer, service


def check(
    env: dict[str, Any], signer: Signer, registry: ClientRegistry, key: bytes | None = None
) -> None:
    value, headers = encode_event(CODEC, env, signer)
    verify_origin(env, key or env["tenant"].encode(), h.to_dict(headers), value, registry)  # type: ignore[arg-type]


def test_a_signature_verifies_only_for_the_exact_bytes() -> None:
    signer = Signer("x", generate_private_key())
    signature = signer.sign(b"abc")
    assert verify(signer.public_key, b"abc", signature)
    assert not verify(signer.public_key, b"abd", signature)
    assert not verify(signer.public_key, b"abc", "not base64!")


def test_a_direct_producer_signing_for_its_tenant_passes() -> None:
    registry, producer, _ = setup()
    check(envelope("acme", "p1"), producer, registry)


def test_the_ingest_service_vouches_for_a_client_of_the_tenant() -> None:
    registry, _, service = setup()
    check(envelope("acme", "http1"), service, registry)


@pytest.mark.parametrize(
    ("tenant", "client", "key", "reason"),
    [
        ("globex", "p1", None, "tenant_mismatch"),
        ("acme", "p1", b"globex", "key_tenant_mismatch"),
        ("acme", "http1", None, "tenant_mismatch"),
    ],
)
def test_forged_records_are_rejected(
    tenant: str, client: str, key: bytes | None, reason: str
) -> None:
    registry, producer, _ = setup()
    with pytest.raises(OriginRejected) as caught:
        check(envelope(tenant, client), producer, registry, key)
    assert caught.value.reason == reason


def test_the_service_cannot_vouch_for_another_tenants_client() -> None:
    registry, _, service = setup()
    with pytest.raises(OriginRejected, match="tenant_mismatch"):
        check(envelope("globex", "http1"), service, registry)


def test_an_unsigned_record_is_rejected() -> None:
    registry, _, _ = setup()
    env = envelope("acme", "p1")
    with pytest.raises(OriginRejected, match="unsigned"):
        verify_origin(env, b"acme", {}, CODEC.encode("event", env), registry)


def test_a_tampered_record_fails_its_signature() -> None:
    registry, producer, _ = setup()
    env = envelope("acme", "p1")
    _, headers = encode_event(CODEC, env, producer)
    tampered = CODEC.encode("event", {**env, "payload": '{"content_id":"y"}'})
    with pytest.raises(OriginRejected, match="bad_signature"):
        verify_origin(env, b"acme", h.to_dict(headers), tampered, registry)  # type: ignore[arg-type]


def test_a_revoked_signer_is_rejected() -> None:
    registry, producer, _ = setup()
    client = registry.get("p1")
    assert client is not None
    registry.put(ApiClient(**{**client.__dict__, "revoked": True}))
    with pytest.raises(OriginRejected, match="signer_revoked"):
        check(envelope("acme", "p1"), producer, registry)


def test_a_signer_limited_to_other_types_is_rejected() -> None:
    registry, producer, _ = setup()
    client = registry.get("p1")
    assert client is not None
    registry.put(ApiClient(**{**client.__dict__, "event_types": ("billing.*",)}))
    with pytest.raises(OriginRejected, match="type_not_allowed"):
        check(envelope("acme", "p1"), producer, registry)
