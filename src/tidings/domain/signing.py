"""Proof of origin by Ed25519 signatures: direct producers, and the replay tool's identities.

Two forms verify (docs/trust-model.md):

- **plain**: one signature over the event's canonical Avro single-object encoding (what
  ``tidings events sign`` writes for console recipes, and a producer's batch of one);
- **batch**: one signature over the Merkle root of a batch (``tidings.domain.merkle``); each
  record carries its ``proof`` header and the batch's signature.

A record re-injected in Avro JSON decodes to the same event and re-encodes to the same
bytes, so either form still verifies; any change to any field does not.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tidings.contracts import headers as h
from tidings.domain import merkle

OriginHeaders = dict[str, str]


class RecordSigner(Protocol):
    """What ``encode_event`` needs: the ``signer`` header value and the proof-of-origin
    headers of one record (an Ed25519 ``Signer``, or a service's MAC signer)."""

    @property
    def client_id(self) -> str: ...

    def origin_headers(self, record_key: bytes, value: bytes) -> OriginHeaders: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def generate_private_key() -> str:
    """A new signing key as base64 of its 32-byte seed (shown once, kept by its owner)."""
    return _b64(Ed25519PrivateKey.generate().private_bytes_raw())


class Signer:
    """Signs on behalf of one client id (a direct producer, or a replay identity)."""

    def __init__(self, client_id: str, private_key_b64: str) -> None:
        self.client_id = client_id
        self._key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key_b64))

    @property
    def public_key(self) -> str:
        return _b64(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, data: bytes) -> str:
        return _b64(self._key.sign(data))

    def origin_headers(self, record_key: bytes, value: bytes) -> OriginHeaders:
        """The plain form: a signature over exactly the value written."""
        return {h.SIGNER: self.client_id, h.SIGNATURE: self.sign(value)}

    def sign_batch(self, records: Sequence[tuple[bytes, bytes]]) -> list[OriginHeaders]:
        """Origin headers of each (record key, value): one signature for the whole batch.
        A batch of one gets the plain form, which needs no proof."""
        if len(records) == 1:
            return [self.origin_headers(*records[0])]
        root, paths = merkle.tree([merkle.leaf_hash(key, value) for key, value in records])
        signature = self.sign(merkle.signed_message(root))
        size = len(records)
        return [
            {
                h.SIGNER: self.client_id,
                h.SIGNATURE: signature,
                h.PROOF: merkle.encode_proof(index, size, path),
            }
            for index, path in enumerate(paths)
        ]


def public_key_of(private_key_b64: str) -> str:
    return Signer("", private_key_b64).public_key


@lru_cache(maxsize=4_096)
def _public_key(public_key_b64: str) -> Ed25519PublicKey:
    """Parsed once per signer key: every event of a producer is verified with the same one."""
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))


def verify(public_key_b64: str, data: bytes, signature_b64: str) -> bool:
    """True only for a well-formed signature by this key over exactly these bytes."""
    try:
        key = _public_key(public_key_b64)
        key.verify(base64.b64decode(signature_b64, validate=True), data)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


# Nodes proven under signed roots, shared by every verification in this process.
_PROVEN = merkle.ProvenNodes()


def verify_root(public_key_b64: str, root: bytes, signature_b64: str) -> bool:
    """True only for a signature by this key over this batch root."""
    return verify(public_key_b64, merkle.signed_message(root), signature_b64)


def verify_record(
    public_key_b64: str, record_key: bytes, value: bytes, signature_b64: str, proof: str | None
) -> bool:
    """Either form: plain (no ``proof``) over the value, or batch: the record's leaf under a
    root this key signed (one Ed25519 verification per batch, see ``merkle``)."""
    if proof is None:
        return verify(public_key_b64, value, signature_b64)
    return merkle.verify_leaf(
        merkle.leaf_hash(record_key, value),
        proof,
        public_key_b64,
        lambda root: verify_root(public_key_b64, root, signature_b64),
        _PROVEN,
    )


def forget_proven_nodes() -> None:
    """Drop every proven node (benchmarks measuring cold batches; tests)."""
    _PROVEN.clear()
