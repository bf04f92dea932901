"""Proof of origin for records on the events topic: Ed25519 over the canonical encoding.

The signature covers the event's Avro single-object binary encoding. A record re-injected in
Avro JSON decodes to the same event and re-encodes to the same bytes, so its signature still
verifies; any change to any field does not. docs/trust-model.md says who holds which key.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def generate_private_key() -> str:
    """A new signing key as base64 of its 32-byte seed (shown once, kept by its owner)."""
    return _b64(Ed25519PrivateKey.generate().private_bytes_raw())


class Signer:
    """Signs on behalf of one client id (a direct producer, or the ingest service)."""

    def __init__(self, client_id: str, private_key_b64: str) -> None:
        self.client_id = client_id
        self._key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_key_b64))

    @property
    def public_key(self) -> str:
        return _b64(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, data: bytes) -> str:
        return _b64(self._key.sign(data))


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
