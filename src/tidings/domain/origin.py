"""Proof of origin on the direct Kafka path (docs/trust-model.md).

Kafka ACLs stop at the topic, not at the key, so the resolver checks every event: a valid
signature by a registered key, the signer bound to the event's tenant, allowed to create its
type, and the record key equal to the tenant. HTTP-ingested events are signed by the ingest
service's identity (tenant ``*``), which vouches for the authenticated client in ``source``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tidings.contracts import headers as h
from tidings.domain.clients import SERVICE_TENANT, ClientRegistry
from tidings.domain.signing import verify
from tidings.errors import OriginRejected

__all__ = ["OriginRejected", "verify_origin"]


def verify_origin(
    event: Mapping[str, Any],
    record_key: bytes | None,
    headers: Mapping[str, bytes],
    canonical_value: bytes,
    clients: ClientRegistry,
) -> None:
    """Raise ``OriginRejected`` with a stable reason unless the event proves where it came from."""
    tenant = event["tenant"]
    if record_key != tenant.encode():
        raise OriginRejected("key_tenant_mismatch")
    signer_id, signature = h.text(headers, h.SIGNER), h.text(headers, h.SIGNATURE)
    if not signer_id or not signature:
        raise OriginRejected("unsigned")
    signer = clients.get(signer_id)
    if signer is None or not signer.public_key:
        raise OriginRejected("unknown_signer")
    if not verify(signer.public_key, canonical_value, signature):
        raise OriginRejected("bad_signature")
    if signer.revoked:
        raise OriginRejected("signer_revoked")
    source_id = event["source"]["client_id"]
    if signer.tenant == SERVICE_TENANT:
        source = clients.get(source_id)
        if source is None or source.tenant != tenant:
            raise OriginRejected("tenant_mismatch")
        return
    if signer.tenant != tenant or source_id != signer.client_id:
        raise OriginRejected("tenant_mismatch")
    if not signer.allows_type(event["type"]):
        raise OriginRejected("type_not_allowed")
