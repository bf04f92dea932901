"""The identity that signs forced-redelivery copies (docs/trust-model.md, "Replay").

By default every forced replay gets an identity of its own, ``svc.replay.<replay id>``: a
fresh Ed25519 key registered in the clients topic with tenant ``*`` and no usable secret. The
private key lives only in the replaying process and is gone when it exits, so nobody can sign
with that identity afterwards; revoking it later ends any copy still unprocessed. An operator
may instead bring a long-lived identity registered the same way (``--signer``/``--signing-key``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tidings.contracts.codec import Codec
from tidings.domain.clients import service_identity
from tidings.domain.signing import Signer, generate_private_key
from tidings.settings import Settings
from tidings.stores.clients import put_client


@dataclass(frozen=True)
class ReplaySigner:
    signer: Signer
    registered: bool  # True when this replay registered the identity itself


def replay_signer(
    settings: Settings,
    codec: Codec,
    replay_id: str,
    *,
    signer_id: str | None = None,
    signing_key: str | None = None,
    grace_s: float = 2.0,
) -> ReplaySigner:
    """The given identity, or a new one registered before any copy is written. ``grace_s``
    lets the resolver's clients view (tailing, ~0.2 s) apply the record first."""
    if signing_key is not None:
        return ReplaySigner(Signer(signer_id or "svc.replay.operator", signing_key), False)
    signer = Signer(f"svc.replay.{replay_id}", generate_private_key())
    put_client(settings, service_identity(signer.client_id, signer.public_key), codec)
    time.sleep(grace_s)
    return ReplaySigner(signer, True)
