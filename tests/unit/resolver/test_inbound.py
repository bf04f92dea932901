"""The resolver's checks of a record read straight off the events topic (no broker)."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.contracts import headers as h
from tidings.contracts.codec import CONTENT_TYPE_JSON, Codec
from tidings.domain.clients import ApiClient, ClientRegistry
from tidings.domain.envelope import build_envelope, encode_event, parse_request, validate_request
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.domain.service_mac import ServiceKeyRing, decode_keys, generate_service_key
from tidings.domain.signing import Signer, generate_private_key
from tidings.domain.targets import parse_targets
from tidings.settings import LimitSettings
from tidings_resolver.inbound import Invalid, _header_event_id, read_event

CODEC = Codec()
SCHEMAS = PayloadSchemas(bundled_payload_schemas())
SIGNER = Signer("p1", generate_private_key())


def clients(**fields: Any) -> ClientRegistry:
    registry = ClientRegistry()
    base: dict[str, Any] = {"scopes": ("notifications:write",), "public_key": SIGNER.public_key}
    registry.put(ApiClient("p1", "acme", "h", **{**base, **fields}))
    return registry


def envelope(**override: Any) -> dict[str, Any]:
    request = parse_request(
        {"type": "content.approved", "recipients": {"users": ["u"]}, "payload": {"content_id": "x"}}
    )
    validated = validate_request(request, "acme", SCHEMAS, LimitSettings())
    built = build_envelope(validated, tenant="acme", client_id="p1", idempotency_key=None)
    return {**built, **override}


def read(key: bytes, value: bytes, headers: dict[str, bytes], **client: Any) -> Any:
    return read_event(key, value, headers, CODEC, clients(**client), SCHEMAS)


def signed(env: dict[str, Any]) -> tuple[bytes, dict[str, bytes]]:
    value, headers = encode_event(CODEC, env, SIGNER)
    return value, {k: v if isinstance(v, bytes) else str(v).encode() for k, v in headers}


def test_signed_event_is_accepted() -> None:
    env = envelope()
    assert read(b"acme", *signed(env)).event_id == env["event_id"]


def test_avro_json_event_is_verified_against_its_canonical_binary() -> None:
    env = envelope()
    _, headers = signed(env)
    headers[h.CONTENT_TYPE] = CONTENT_TYPE_JSON.encode()
    assert read(b"acme", CODEC.encode_json("event", env), headers).tenant == "acme"


@pytest.mark.parametrize(
    ("header", "read_as"),
    [
        ("0b7c9a3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c", "0b7c9a3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c"),
        ("0B7C9A3E-1D2F-4E5A-8B6C-7D8E9F0A1B2C", "0b7c9a3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c"),
        ("{0b7c9a3e1d2f4e5a8b6c7d8e9f0a1b2c}", "0b7c9a3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c"),
        ("0b7c9a3e-1d2f-4e5a-8b6c-7d8e9f0a1b2", None),
        ("", None),
    ],
)
def test_an_event_id_header_is_read_in_its_canonical_form(header: str, read_as: str | None) -> None:
    assert _header_event_id({h.EVENT_ID: header.encode()}) == read_as


def test_garbage_is_refused_with_the_header_event_id() -> None:
    event_id = "0b7c9a3e-1d2f-4e5a-8b6c-7d8e9f0a1b2c"
    with pytest.raises(Invalid) as exc:
        read(b"acme", b"\x00junk", {h.EVENT_ID: event_id.encode()})
    assert (exc.value.error_class, exc.value.event_id, exc.value.proven) == (
        "corrupt_record",
        event_id,
        False,
    )


def test_wrong_tenant_key_fails_origin() -> None:
    with pytest.raises(Invalid) as exc:
        read(b"globex", *signed(envelope()))
    assert exc.value.error_class == "origin_rejected"
    assert exc.value.tenant == "globex"


def test_payload_failing_its_schema_is_refused_after_origin_is_proven() -> None:
    with pytest.raises(Invalid) as exc:
        read(b"acme", *signed(envelope(payload='{"nope": 1}')))
    assert exc.value.error_class == "schema_validation_failed"
    assert exc.value.proven


def test_the_payload_of_an_event_under_the_ingests_mac_is_not_validated_again() -> None:
    # The ingest validated it against the version it names, and versions never change: only
    # a holder of the service key, who may forge any event, can write one it never checked.
    ring = ServiceKeyRing(decode_keys({"k1": generate_service_key()}), "k1")
    registry = clients()
    registry.put(ApiClient("http1", "acme", "h", scopes=("notifications:write",)))
    env = envelope(payload='{"nope": 1}')
    env["source"] = {**env["source"], "client_id": "http1"}  # an HTTP client the MAC vouches for
    value, headers = encode_event(CODEC, env, ring.signer())
    as_bytes = {k: v if isinstance(v, bytes) else str(v).encode() for k, v in headers}
    event = read_event(b"acme", value, as_bytes, CODEC, registry, SCHEMAS, service_keys=ring)
    assert event.event_id == env["event_id"]


def test_a_direct_producers_recipients_outside_its_targets_are_refused_after_origin() -> None:
    env = envelope(recipients={"users": [], "roles": ["admin"], "groups": [], "rules": []})
    with pytest.raises(Invalid) as exc:
        read(b"acme", *signed(env), targets=parse_targets(["roles:ops-*"]))
    assert exc.value.error_class == "recipients_not_allowed"
    assert "recipients.roles[0]" in exc.value.detail
    assert (exc.value.proven, exc.value.client_id) == (True, "p1")


def test_a_direct_producers_event_resolves_inside_its_credentials_organization() -> None:
    assert read(b"acme", *signed(envelope()), org="north").org == "north"


def test_a_read_only_signing_client_is_refused_with_the_apis_code() -> None:
    with pytest.raises(Invalid) as exc:
        read(b"acme", *signed(envelope()), scopes=("notifications:read",))
    assert (exc.value.error_class, exc.value.detail) == ("forbidden", "write_scope_missing")
    assert exc.value.proven
