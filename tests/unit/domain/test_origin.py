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
from tidings.domain.service_mac import ServiceKeyRing, decode_keys, generate_service_key
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


def test_a_signer_without_the_write_scope_is_rejected() -> None:
    registry, producer, _ = setup()
    client = registry.get("p1")
    assert client is not None
    registry.put(ApiClient(**{**client.__dict__, "scopes": ("notifications:read",)}))
    with pytest.raises(OriginRejected, match="write_scope_missing"):
        check(envelope("acme", "p1"), producer, registry)


def test_a_record_naming_another_organization_than_its_signers_is_rejected() -> None:
    registry, producer, _ = setup()
    client = registry.get("p1")
    assert client is not None
    registry.put(ApiClient(**{**client.__dict__, "org": "north"}))
    with pytest.raises(OriginRejected, match="org_mismatch"):
        check({**envelope("acme", "p1"), "org": "south"}, producer, registry)
    check({**envelope("acme", "p1"), "org": "north"}, producer, registry)
    check(envelope("acme", "p1"), producer, registry)  # naming none: the signer's applies


def test_a_direct_producer_is_returned_so_its_targets_can_be_checked() -> None:
    registry, producer, _ = setup()
    env = envelope("acme", "p1")
    value, headers = encode_event(CODEC, env, producer)
    signer = verify_origin(env, b"acme", h.to_dict(headers), value, registry)  # type: ignore[arg-type]
    assert signer is not None
    assert signer.client_id == "p1"


RING = ServiceKeyRing(decode_keys({"k1": generate_service_key()}), "k1")


def check_service(
    env: dict[str, Any], registry: ClientRegistry, ring: ServiceKeyRing | None = RING
) -> None:
    value, headers = encode_event(CODEC, env, RING.signer())
    verify_origin(env, env["tenant"].encode(), h.to_dict(headers), value, registry, ring)  # type: ignore[arg-type]


def test_the_ingest_mac_vouches_for_a_client_of_the_tenant() -> None:
    registry, _, _ = setup()
    check_service(envelope("acme", "http1"), registry)


def test_the_ingest_mac_cannot_vouch_for_another_tenants_client() -> None:
    registry, _, _ = setup()
    with pytest.raises(OriginRejected, match="tenant_mismatch"):
        check_service(envelope("globex", "http1"), registry)


def test_a_mac_key_id_removed_from_the_ring_is_an_unknown_signer() -> None:
    registry, _, _ = setup()
    rotated = ServiceKeyRing(decode_keys({"k2": generate_service_key()}), "k2")
    with pytest.raises(OriginRejected, match="unknown_signer"):
        check_service(envelope("acme", "http1"), registry, rotated)


def test_a_tampered_record_fails_its_mac() -> None:
    registry, _, _ = setup()
    env = envelope("acme", "http1")
    _, headers = encode_event(CODEC, env, RING.signer())
    tampered = CODEC.encode("event", {**env, "payload": '{"content_id":"y"}'})
    with pytest.raises(OriginRejected, match="bad_signature"):
        verify_origin(env, b"acme", h.to_dict(headers), tampered, registry, RING)  # type: ignore[arg-type]


def test_a_client_id_cannot_pass_for_a_service_key() -> None:
    registry, producer, _ = setup()
    env = envelope("acme", "http1")
    value = CODEC.encode("event", env)
    headers = {h.SIGNER: b"svc/k1", h.SIGNATURE: producer.sign(value).encode()}
    with pytest.raises(OriginRejected, match="bad_signature"):
        verify_origin(env, b"acme", headers, value, registry, RING)


def test_every_record_of_a_producer_batch_passes() -> None:
    registry, producer, _ = setup()
    envs = [envelope("acme", "p1") for _ in range(5)]
    values = [CODEC.encode("event", e) for e in envs]
    origins = producer.sign_batch([(b"acme", v) for v in values])
    for env, value, origin in zip(envs, values, origins, strict=True):
        headers = {k: v.encode() for k, v in origin.items()}
        verify_origin(env, b"acme", headers, value, registry)


def test_a_batch_proof_moved_to_another_record_is_a_bad_signature() -> None:
    registry, producer, _ = setup()
    envs = [envelope("acme", "p1") for _ in range(3)]
    values = [CODEC.encode("event", e) for e in envs]
    origins = producer.sign_batch([(b"acme", v) for v in values])
    headers = {k: v.encode() for k, v in origins[0].items()}
    with pytest.raises(OriginRejected, match="bad_signature"):
        verify_origin(envs[1], b"acme", headers, values[1], registry)


def test_a_revoked_producer_batch_is_rejected() -> None:
    registry, producer, _ = setup()
    envs = [envelope("acme", "p1") for _ in range(2)]
    values = [CODEC.encode("event", e) for e in envs]
    origins = producer.sign_batch([(b"acme", v) for v in values])
    verify_origin(
        envs[0], b"acme", {k: v.encode() for k, v in origins[0].items()}, values[0], registry
    )
    client = registry.get("p1")
    assert client is not None
    registry.put(ApiClient(**{**client.__dict__, "revoked": True}))
    with pytest.raises(OriginRejected, match="signer_revoked"):  # the cached root grants nothing
        verify_origin(
            envs[1], b"acme", {k: v.encode() for k, v in origins[1].items()}, values[1], registry
        )
