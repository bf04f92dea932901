"""The ingest service's proof of origin: a MAC by the service key ring (docs/trust-model.md).

Events accepted over HTTP carry ``signer: svc/<key id>`` and the MAC of the service key
named by ``TIDINGS_SERVICE_KEY_ID`` (or the data dir's key ring file); the resolver holds the
same ring and verifies. The MAC vouches for the authenticated client in ``source``, which
the resolver requires to be a client of the event's tenant.

The key id is also announced in the clients topic as a ``*`` record without a key or a
usable secret: ``tidings clients list`` shows which service key ids are signing. It grants
nothing; verification reads the key ring only.
"""

from __future__ import annotations

import time

from tidings.contracts.codec import Codec
from tidings.domain.clients import NO_SECRET, SERVICE_TENANT, ApiClient
from tidings.domain.service_mac import ServiceSigner
from tidings.service_keys import service_key_ring
from tidings.settings import Settings
from tidings.stores.clients import put_client


def service_signer(settings: Settings) -> ServiceSigner:
    """The signer of this process: the key ring's signing key (fails at start without one)."""
    return service_key_ring(settings).signer()


def register_identity(settings: Settings, signer: ServiceSigner, codec: Codec) -> ApiClient:
    """Announce the signing key id in the clients topic (blocking; called before ready)."""
    record = ApiClient(
        client_id=signer.client_id,
        tenant=SERVICE_TENANT,
        secret_hash=NO_SECRET,
        scopes=(),
        created_at=int(time.time() * 1000),
    )
    put_client(settings, record, codec)
    return record
