"""Batch signatures: every record of a batch proves its place under the one signed root."""

from __future__ import annotations

import pytest

from tidings.contracts import headers as h
from tidings.domain import merkle
from tidings.domain.signing import (
    Signer,
    forget_proven_nodes,
    generate_private_key,
    verify_record,
)

SIGNER = Signer("p1", generate_private_key())


@pytest.fixture(autouse=True)
def cold() -> None:
    forget_proven_nodes()  # every test climbs from scratch


def records(n: int, tenant: bytes = b"acme") -> list[tuple[bytes, bytes]]:
    return [(tenant, f"value-{i}".encode()) for i in range(n)]


def check(signer: Signer, record: tuple[bytes, bytes], origin: dict[str, str]) -> bool:
    key, value = record
    return verify_record(signer.public_key, key, value, origin[h.SIGNATURE], origin.get(h.PROOF))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_every_leaf_of_a_batch_leads_to_its_root(size: int) -> None:
    leaves = [merkle.leaf_hash(k, v) for k, v in records(size)]
    root, paths = merkle.tree(leaves)
    for index, (leaf, path) in enumerate(zip(leaves, paths, strict=True)):
        assert merkle.root_of(leaf, merkle.encode_proof(index, size, path)) == root


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_every_record_of_a_signed_batch_verifies(size: int) -> None:
    batch = records(size)
    origins = SIGNER.sign_batch(batch)
    for record, origin in zip(batch, origins, strict=True):
        assert origin[h.SIGNER] == "p1"
        assert (h.PROOF in origin) == (size > 1)  # a batch of one is the plain signature
        assert check(SIGNER, record, origin)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 100])
def test_a_batch_costs_one_signature_check_in_any_order(size: int) -> None:
    leaves = [merkle.leaf_hash(k, v) for k, v in records(size)]
    root, paths = merkle.tree(leaves)
    proven, checked = merkle.ProvenNodes(), []

    def root_signed(candidate: bytes) -> bool:
        checked.append(candidate)
        return candidate == root

    order = [*range(0, size, 3), *range(1, size, 3), *range(2, size, 3)]
    for i in order:
        proof = merkle.encode_proof(i, size, paths[i])
        assert merkle.verify_leaf(leaves[i], proof, "k", root_signed, proven)
    assert checked == [root]


def test_the_root_is_rfc9162s_tree_hash() -> None:
    a, b, c = (merkle.leaf_hash(b"t", bytes([i])) for i in range(3))
    root, _ = merkle.tree([a, b, c])
    assert root == merkle.node_hash(merkle.node_hash(a, b), c)


@pytest.mark.parametrize("warm", [False, True])
def test_a_proof_moved_to_another_record_fails(warm: bool) -> None:
    batch = records(7)
    origins = SIGNER.sign_batch(batch)
    if warm:  # every node of the batch proven already: a moved proof still leads elsewhere
        assert all(check(SIGNER, r, o) for r, o in zip(batch, origins, strict=True))
    for other in (0, 1, 3, 6):
        assert not check(SIGNER, batch[2], origins[other])


def test_a_record_changed_after_signing_fails() -> None:
    batch = records(3)
    origin = SIGNER.sign_batch(batch)[1]
    assert not check(SIGNER, (b"acme", b"value-X"), origin)
    assert not check(SIGNER, (b"globex", b"value-1"), origin)


def test_a_root_signed_by_another_key_fails() -> None:
    batch = records(7)
    forger = Signer("p1", generate_private_key())
    forged = forger.sign_batch(batch)
    assert check(forger, batch[3], forged[3])  # proven for the forger's key only
    assert not check(SIGNER, batch[4], forged[4])
    assert not check(SIGNER, batch[3], forged[3])


def test_a_plain_signature_of_the_root_is_no_batch_signature() -> None:
    batch = records(2)
    origin = SIGNER.sign_batch(batch)[0]
    root = merkle.root_of(merkle.leaf_hash(*batch[0]), origin[h.PROOF])
    assert root is not None
    plain = SIGNER.sign(root)  # as if the root were a value: not the batch context
    assert not check(SIGNER, batch[0], {**origin, h.SIGNATURE: plain})


@pytest.mark.parametrize(
    "proof",
    [
        "",
        "0/1",
        "x/2;AAAA",
        "2/2;" + "A" * 44,  # index outside the batch
        "0/2;" + "A" * 43,  # not base64
        "0/2;AAAA",  # not a whole hash
        "0/2;",  # too short a path
        "0/2;" + "A" * 88,  # too long a path
        "0/99999999;",  # absurd size
        "\u00b2/3;",  # a digit to Python, not to the format
    ],
)
def test_a_malformed_proof_leads_nowhere(proof: str) -> None:
    assert merkle.root_of(merkle.leaf_hash(b"acme", b"v"), proof) is None


def test_a_leaf_cannot_pass_for_an_inner_node() -> None:
    a, b = merkle.leaf_hash(b"t", b"a"), merkle.leaf_hash(b"t", b"b")
    assert merkle.leaf_hash(b"t", a + b) != merkle.node_hash(a, b)


def test_proven_nodes_are_bounded() -> None:
    proven = merkle.ProvenNodes(capacity=4)
    proven.add("k", [(i, i + 1, bytes([i]) * 32) for i in range(10)])
    assert ("k", 9, 10, bytes([9]) * 32) in proven
    assert ("k", 0, 1, bytes(32)) not in proven


def test_the_batch_headers_fit_the_console_format() -> None:
    for origin in SIGNER.sign_batch(records(100)):
        assert not any(sep in value for value in origin.values() for sep in ",:\t")
