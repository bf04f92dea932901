"""Proof of origin for records written by Tidings' own services: a MAC with a shared key ring.

Ingest writes every HTTP-accepted event; a MAC costs about a microsecond where an Ed25519
signature costs tens, and the only verifier is the resolver, which is ours too. The MAC is
keyed BLAKE2b-256 (measured faster than HMAC-SHA256 here, and keyed BLAKE2 is a PRF by
design, with no length-extension), personalised for this use, over the key id, the record
key (the tenant) and the canonical Avro value, each length-delimited.

Headers: ``signer: svc/<key id>`` and ``signature: <base64 MAC>``. The key id picks the key,
so rotation is: add a key to every process's ring, sign with it, and remove the old id once
nothing unprocessed (or to be replayed) carries it. Whoever holds a key can forge events for
every tenant (docs/trust-model.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

from tidings.contracts import headers as h

SIGNER_PREFIX = "svc/"
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_KEY_BYTES, MAX_KEY_BYTES = 32, 64  # BLAKE2b takes keys up to 64 bytes
_PERSON = b"tidings.svc.v1"  # BLAKE2b personalisation: a MAC for nothing else


def generate_service_key() -> str:
    """A new 256-bit service key, base64 (the value of one entry of TIDINGS_SERVICE_KEYS)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def new_key_id() -> str:
    return "k" + secrets.token_hex(4)


def is_service_signer(signer_id: str) -> bool:
    return signer_id.startswith(SIGNER_PREFIX)


def decode_keys(keys: Mapping[str, str]) -> dict[str, bytes]:
    """Key id -> key bytes from key id -> base64; ``ValueError`` names the bad entry only."""
    out = {}
    for key_id, text in keys.items():
        if not KEY_ID_PATTERN.match(key_id):
            raise ValueError(f"service key id {key_id!r} is not [A-Za-z0-9._-], 1-64 chars")
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"service key {key_id!r} is not base64") from None
        if not MIN_KEY_BYTES <= len(raw) <= MAX_KEY_BYTES:
            raise ValueError(f"service key {key_id!r} must be 32 to 64 bytes")
        out[key_id] = raw
    return out


class ServiceKeyRing:
    """Every key that verifies, and the id of the one this process signs with."""

    def __init__(self, keys: Mapping[str, bytes], signing_key_id: str | None = None) -> None:
        if signing_key_id is not None and signing_key_id not in keys:
            raise ValueError(f"the signing key id {signing_key_id!r} is not in the key ring")
        self.signing_key_id = signing_key_id
        self._states = self._prepare(keys)

    @staticmethod
    def _prepare(keys: Mapping[str, bytes]) -> dict[str, hashlib.blake2b]:
        # Keyed state with the key id absorbed, copied per record: the key block is hashed
        # once per key, not once per record.
        states = {}
        for key_id, key in keys.items():
            state = hashlib.blake2b(key=key, digest_size=32, person=_PERSON)
            state.update(len(key_id).to_bytes(1, "big") + key_id.encode())
            states[key_id] = state
        return states

    def _replace(self, keys: Mapping[str, bytes], signing_key_id: str | None) -> None:
        self._states = self._prepare(keys)  # one assignment: readers see old or new ring
        self.signing_key_id = signing_key_id

    def _refresh(self) -> bool:
        """Hook for a ring read from a file: re-read it for an unknown key id (True when it
        changed). A ring from settings changes only with a restart."""
        return False

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._states)

    def _state(self, key_id: str) -> hashlib.blake2b | None:
        state = self._states.get(key_id)
        if state is None and self._refresh():
            state = self._states.get(key_id)
        return state

    def mac(self, key_id: str, record_key: bytes, value: bytes) -> bytes | None:
        """The MAC of one record under ``key_id``, or None for a key id not in the ring."""
        base = self._state(key_id)
        if base is None:
            return None
        state = base.copy()
        state.update(len(record_key).to_bytes(4, "big"))
        state.update(record_key)
        state.update(value)
        return state.digest()

    def verify(self, key_id: str, record_key: bytes, value: bytes, tag_b64: str) -> bool | None:
        """None for an unknown key id; else whether the base64 MAC is this record's."""
        expected = self.mac(key_id, record_key, value)
        if expected is None:
            return None
        try:
            tag = base64.b64decode(tag_b64, validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(tag, expected)

    def signer(self) -> ServiceSigner:
        if self.signing_key_id is None:
            raise ValueError("the key ring has no signing key id")
        return ServiceSigner(self, self.signing_key_id)


class ServiceSigner:
    """A ``RecordSigner`` for our own services: ``signer: svc/<key id>``, ``signature: MAC``."""

    def __init__(self, ring: ServiceKeyRing, key_id: str) -> None:
        if ring.mac(key_id, b"", b"") is None:
            raise ValueError(f"service key id {key_id!r} is not in the key ring")
        self.ring, self.key_id = ring, key_id
        self.client_id = SIGNER_PREFIX + key_id

    def origin_headers(self, record_key: bytes, value: bytes) -> dict[str, str]:
        tag = self.ring.mac(self.key_id, record_key, value)
        if tag is None:  # the key was removed from the ring while this process signs with it
            raise ValueError(f"service key id {self.key_id!r} left the key ring")
        return {h.SIGNER: self.client_id, h.SIGNATURE: base64.b64encode(tag).decode()}
