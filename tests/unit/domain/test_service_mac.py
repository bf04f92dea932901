"""The service MAC: only the ring's key, over exactly this record key and value, verifies."""

from __future__ import annotations

import base64

import pytest

from tidings.contracts import headers as h
from tidings.domain.service_mac import (
    ServiceKeyRing,
    ServiceSigner,
    decode_keys,
    generate_service_key,
)

K1, K2 = generate_service_key(), generate_service_key()
RING = ServiceKeyRing(decode_keys({"k1": K1, "k2": K2}), "k1")


def signed(ring: ServiceKeyRing = RING, key: bytes = b"acme", value: bytes = b"v") -> str:
    return ring.signer().origin_headers(key, value)[h.SIGNATURE]


def test_the_signer_header_names_the_key_id() -> None:
    assert RING.signer().origin_headers(b"acme", b"v")[h.SIGNER] == "svc/k1"


def test_a_mac_verifies_for_its_record() -> None:
    assert RING.verify("k1", b"acme", b"v", signed()) is True


def test_a_changed_value_fails() -> None:
    assert RING.verify("k1", b"acme", b"w", signed()) is False


def test_a_changed_record_key_fails() -> None:
    assert RING.verify("k1", b"globex", b"v", signed()) is False


def test_key_and_value_are_delimited() -> None:
    assert RING.verify("k1", b"acm", b"ev", signed(key=b"acme", value=b"v")) is False


def test_another_key_id_of_the_ring_fails() -> None:
    assert RING.verify("k2", b"acme", b"v", signed()) is False


def test_the_same_key_under_another_id_fails() -> None:
    renamed = ServiceKeyRing(decode_keys({"k9": K1}), "k9")
    assert renamed.verify("k9", b"acme", b"v", signed()) is False


def test_another_key_fails() -> None:
    other = ServiceKeyRing(decode_keys({"k1": generate_service_key()}), "k1")
    assert RING.verify("k1", b"acme", b"v", signed(other)) is False


def test_an_unknown_key_id_is_none_not_false() -> None:
    assert RING.verify("k3", b"acme", b"v", signed()) is None


def test_a_key_removed_from_the_ring_no_longer_verifies() -> None:
    rotated = ServiceKeyRing(decode_keys({"k2": K2}), "k2")
    assert rotated.verify("k1", b"acme", b"v", signed()) is None


def test_every_key_of_the_ring_verifies() -> None:
    by_k2 = ServiceSigner(RING, "k2").origin_headers(b"acme", b"v")[h.SIGNATURE]
    assert RING.verify("k2", b"acme", b"v", by_k2) is True


@pytest.mark.parametrize("tag", ["", "not base64!", base64.b64encode(b"\0" * 32).decode()])
def test_a_malformed_or_wrong_tag_fails(tag: str) -> None:
    assert RING.verify("k1", b"acme", b"v", tag) is False


@pytest.mark.parametrize(
    "keys",
    [
        {"k1": "not base64!"},
        {"k1": base64.b64encode(b"short").decode()},
        {"k1": base64.b64encode(b"x" * 65).decode()},
        {"bad id": K1},
        {"": K1},
    ],
)
def test_a_bad_key_ring_is_refused(keys: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="service key"):
        decode_keys(keys)


def test_a_signing_key_id_outside_the_ring_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the key ring"):
        ServiceKeyRing(decode_keys({"k1": K1}), "k2")


def test_the_mac_headers_fit_the_console_format() -> None:
    origin = RING.signer().origin_headers(b"acme", b"v")
    assert not any(sep in value for value in origin.values() for sep in ",:\t")
