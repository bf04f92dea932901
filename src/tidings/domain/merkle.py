"""Merkle trees over a batch of records, so one signature proves the origin of every record.

The tree is RFC 9162's (Certificate Transparency v2, section 2.1): SHA-256, leaves hashed
with a 0x00 prefix and inner nodes with 0x01, so no inner node can pass for a record; an
uneven batch splits at the largest power of two below its size. A record carries its leaf
index, the batch size and the sibling hashes from its leaf up (``proof`` header, no ``:``
or ``,``, so ``tidings events dump`` writes it in the console format); the
verifier recomputes the root from the record's own bytes and checks the one signature of
that root.

Once a root's signature holds, every node on the way to it is proven too, each at its place
(the range of leaves it covers). The next record of the same batch stops climbing at the
first proven node: usually its own leaf (a sibling of an earlier record) or its parent, so
a batch costs one Ed25519 verification and about one SHA-256 per record beyond its leaf.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from itertools import islice

HASH_BYTES = 32
MAX_BATCH = 1 << 20
# Prefix of the signed message: a root signature can never be taken for a signature over an
# event value (whose encoding starts with Avro's magic 0xC3 0x01), nor the reverse.
ROOT_CONTEXT = b"tidings.batch-root.v1\x00"

_sha256 = hashlib.sha256
Node = tuple[int, int, bytes]  # leaves [lo, hi) of one batch, and their subtree's hash


def leaf_hash(record_key: bytes, value: bytes) -> bytes:
    """One record: its key (the tenant) and its canonical value, length-delimited."""
    h = _sha256(b"\x00")
    h.update(len(record_key).to_bytes(4, "big"))
    h.update(record_key)
    h.update(value)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def signed_message(root: bytes) -> bytes:
    return ROOT_CONTEXT + root


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def tree(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root and, for each leaf, its audit path (sibling hashes, leaf level first)."""
    if not leaves:
        raise ValueError("a batch has at least one record")
    paths: list[list[bytes]] = [[] for _ in leaves]

    def build(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        mid = lo + _split(hi - lo)
        left, right = build(lo, mid), build(mid, hi)
        for i in range(lo, mid):
            paths[i].append(right)
        for i in range(mid, hi):
            paths[i].append(left)
        return node_hash(left, right)

    return build(0, len(leaves)), paths


def encode_proof(index: int, size: int, path: Sequence[bytes]) -> str:
    """The ``proof`` header: ``<index>/<size>;<base64 of the sibling hashes>``."""
    return f"{index}/{size};{base64.b64encode(b''.join(path)).decode()}"


def _ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges of the nodes from leaf ``index`` up to the root of a batch of ``size``."""
    lo, hi = 0, size
    out = [(lo, hi)]
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        lo, hi = (lo, mid) if index < mid else (mid, hi)
        out.append((lo, hi))
    out.reverse()
    return out


def _count(text: str) -> int | None:
    ok = 0 < len(text) <= 7 and text.isascii() and text.isdigit()
    return int(text) if ok else None


def _siblings(text: str) -> list[bytes] | None:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) % HASH_BYTES:
        return None
    return [raw[i : i + HASH_BYTES] for i in range(0, len(raw), HASH_BYTES)]


class ProvenNodes:
    """Nodes under roots a key signed, at their place: (key, lo, hi, hash). Bounded, oldest
    out first: a batch's records sit together in one partition, so the working set is a few
    batches; an evicted node costs one more climb (or signature check), never a wrong answer."""

    def __init__(self, capacity: int = 16_384) -> None:
        self._nodes: dict[tuple[str, int, int, bytes], None] = {}
        self._capacity = capacity
        self._lock = threading.Lock()

    def __contains__(self, item: tuple[str, int, int, bytes]) -> bool:
        return item in self._nodes

    def add(self, key: str, nodes: Iterable[Node]) -> None:
        with self._lock:
            self._nodes.update(dict.fromkeys((key, lo, hi, digest) for lo, hi, digest in nodes))
            if len(self._nodes) > self._capacity:  # drop the oldest quarter at once
                for old in list(islice(self._nodes, len(self._nodes) - self._capacity * 3 // 4)):
                    del self._nodes[old]

    def clear(self) -> None:
        with self._lock:
            self._nodes.clear()


def verify_leaf(
    leaf: bytes,
    proof: str,
    key: str,
    root_signed: Callable[[bytes], bool],
    proven: ProvenNodes,
) -> bool:
    """Whether a leaf with this ``proof`` header sits under a root ``key`` signed: climb from
    the leaf until a node already proven at its place, else to the root and ask
    ``root_signed``. Everything the climb passed is then proven as well."""
    position, sep, hashes = proof.partition(";")
    first, slash, second = position.partition("/")
    index, size = _count(first), _count(second)
    if not (sep and slash) or index is None or size is None or not index < size <= MAX_BATCH:
        return False
    if (key, index, index + 1, leaf) in proven:
        return True
    ranges, siblings = _ranges(index, size), _siblings(hashes)
    if siblings is None or len(siblings) != len(ranges) - 1:
        return False
    node, passed = leaf, [(index, index + 1, leaf)]
    for (lo, hi), (up_lo, up_hi), sibling in zip(ranges[:-1], ranges[1:], siblings, strict=True):
        if lo == up_lo:  # this node is the left child
            node = node_hash(node, sibling)
            passed.append((hi, up_hi, sibling))
        else:
            node = node_hash(sibling, node)
            passed.append((up_lo, lo, sibling))
        passed.append((up_lo, up_hi, node))
        if (key, up_lo, up_hi, node) in proven:
            break
    else:
        if not root_signed(node):
            return False
    proven.add(key, passed)
    return True


def root_of(leaf: bytes, proof: str) -> bytes | None:
    """The root a leaf and its ``proof`` header lead to, or None for a malformed proof."""
    roots: list[bytes] = []

    def capture(root: bytes) -> bool:
        roots.append(root)
        return False  # nothing is proven: every call climbs to the root

    verify_leaf(leaf, proof, "", capture, ProvenNodes())
    return roots[0] if roots else None
