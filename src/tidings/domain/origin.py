"""Proof of origin on the events topic (docs/trust-model.md).

Kafka ACLs stop at the topic, not at the key, so the resolver checks every event: the record
key equal to the tenant, then either

- a MAC by a key of the service key ring (``signer: svc/<key id>``): written by our ingest,
  which vouches for the authenticated client in ``source``, a client of the event's tenant;
- or an Ed25519 signature, plain or over a batch's Merkle root (``proof`` header), by a
  registered client: bound to the event's tenant (and organization, when the record names
  one), named in ``source``, holding ``notifications:write``, allowed its type; or by a
  ``*`` identity (the replay tool's), which vouches for ``source`` as the ingest does.

The reasons are stable: they end up on the dead letter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tidings.contracts import headers as h
from tidings.domain.clients import SCOPE_WRITE, SERVICE_TENANT, ApiClient, ClientRegistry
from tidings.domain.service_mac import SIGNER_PREFIX, ServiceKeyRing, is_service_signer
from tidings.domain.signing import verify_record
from tidings.errors import OriginRejected

__all__ = ["OriginRejected", "Proven", "proven_by", "verify_origin"]


def verify_origin(
    event: Mapping[str, Any],
    record_key: bytes | None,
    headers: Mapping[str, bytes],
    canonical_value: bytes,
    clients: ClientRegistry,
    service_keys: ServiceKeyRing | None = None,
) -> ApiClient | None:
    """Raise ``OriginRejected`` with a stable reason unless the event proves where it came from.

    Returns the direct producer that signed it (whose targets and organization the caller
    applies next), or None when one of our services vouches for it.
    ``service_keys`` verifies our services' MACs; None means this process's own ring
    (``tidings.service_keys``), loaded only when a service's record is first seen."""
    tenant = event["tenant"]
    key = tenant.encode()
    if record_key != key:
        raise OriginRejected("key_tenant_mismatch")
    signer_id, signature = h.text(headers, h.SIGNER), h.text(headers, h.SIGNATURE)
    if not signer_id or not signature:
        raise OriginRejected("unsigned")
    if is_service_signer(signer_id):
        ring = service_keys if service_keys is not None else _process_ring()
        valid = ring.verify(signer_id[len(SIGNER_PREFIX) :], key, canonical_value, signature)
        if valid is None:
            raise OriginRejected("unknown_signer")
        if not valid:
            raise OriginRejected("bad_signature")
        _require_vouched(event, clients)
        return None
    signer = clients.get(signer_id)
    if signer is None or not signer.public_key:
        raise OriginRejected("unknown_signer")
    proof = h.text(headers, h.PROOF)
    if not verify_record(signer.public_key, key, canonical_value, signature, proof):
        raise OriginRejected("bad_signature")
    if signer.revoked:
        raise OriginRejected("signer_revoked")
    if signer.tenant == SERVICE_TENANT:
        _require_vouched(event, clients)
        return None
    if signer.tenant != tenant or event["source"]["client_id"] != signer.client_id:
        raise OriginRejected("tenant_mismatch")
    if event.get("org") is not None and event["org"] != signer.org:
        raise OriginRejected("org_mismatch")  # absent: the signer's own organization applies
    if SCOPE_WRITE not in signer.scopes:
        raise OriginRejected("write_scope_missing")  # e.g. a read-only client's signing key
    if not signer.allows_type(event["type"]):
        raise OriginRejected("type_not_allowed")
    return signer


@dataclass(frozen=True, slots=True)
class Proven:
    """A record whose origin verified, and the organization it acts for: the record's, or,
    when it names none, its direct producer's (whose keys are that organization's)."""

    org: str | None


def proven_by(
    clients: ClientRegistry,
) -> Callable[[Mapping[str, Any], bytes | None, Mapping[str, bytes], bytes], Proven | None]:
    """``verify_origin`` for views that index only proven records (the recent events of the
    ingest and of the producer library): a forgery is None, skipped, not an error."""

    def proven(
        event: Mapping[str, Any], key: bytes | None, headers: Mapping[str, bytes], canonical: bytes
    ) -> Proven | None:
        try:
            signer = verify_origin(event, key, headers, canonical, clients)
        except OriginRejected:
            return None
        org = event.get("org")
        return Proven(signer.org if org is None and signer is not None else org)

    return proven


def _require_vouched(event: Mapping[str, Any], clients: ClientRegistry) -> None:
    """A service vouches only for a client of the event's own tenant."""
    source = clients.get(event["source"]["client_id"])
    if source is None or source.tenant != event["tenant"]:
        raise OriginRejected("tenant_mismatch")


def _process_ring() -> ServiceKeyRing:
    # Imported here: the ring's loader reads settings and files, which the domain does not;
    # callers that hold a ring (the resolver, tests) pass it and never get here.
    from tidings.service_keys import default_service_key_ring

    return default_service_key_ring()
