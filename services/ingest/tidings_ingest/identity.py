"""The ingest service's signing identity (docs/trust-model.md).

Events written by ingest are signed with the service's Ed25519 key; its public key is a
client record with tenant ``*`` that vouches for the authenticated client in ``source``.
The client id carries a fingerprint of the public key, so a restart with a freshly generated
key adds a record instead of overwriting the old one: events signed before the restart (not
yet resolved, or replayed later) still verify. Set ``TIDINGS_INGEST__SIGNING_KEY`` for a
stable identity.
"""

from __future__ import annotations

import hashlib

from tidings.contracts.codec import Codec
from tidings.domain.clients import ApiClient, service_identity
from tidings.domain.signing import Signer, generate_private_key
from tidings.settings import Settings
from tidings.stores.clients import put_client


def service_signer(settings: Settings) -> Signer:
    key = settings.ingest.signing_key
    private = key.get_secret_value() if key is not None else generate_private_key()
    public = Signer("", private).public_key
    fingerprint = hashlib.sha256(public.encode()).hexdigest()[:12]
    return Signer(f"svc.ingest.{settings.ingest.instance_id}.{fingerprint}", private)


def register_identity(settings: Settings, signer: Signer, codec: Codec) -> ApiClient:
    """Write the public key to the clients topic (blocking; called before ready)."""
    record = service_identity(signer.client_id, signer.public_key)
    put_client(settings, record, codec)
    return record
