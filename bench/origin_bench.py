"""Microseconds per event of proof of origin: sign and verify, before and after in one run.

"Before" is the Ed25519 signature per record that every event carried (still the plain form:
console recipes, a producer's batch of one); "after" is the ingest's service MAC and the
producer's one signature per batch over a Merkle root. Verification is the resolver's own
call, ``verify_origin`` per record, so header parsing and registry lookups count; batch
verification starts with an empty root cache, so each batch pays its one Ed25519 check.
Best of the rounds (the machines are shared and noisy).

    .venv/bin/python -m bench.origin_bench [--rounds 5] [--events 2048] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.domain.clients import ApiClient, ClientRegistry
from tidings.domain.envelope import build_envelope, encode_unsigned, parse_request, validate_request
from tidings.domain.origin import verify_origin
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.domain.service_mac import ServiceKeyRing, decode_keys, generate_service_key
from tidings.domain.signing import Signer, forget_proven_nodes, generate_private_key
from tidings.settings import LimitSettings

Record = tuple[dict[str, Any], bytes, dict[str, bytes]]  # event, value, headers


def events(n: int, client_id: str) -> list[tuple[dict[str, Any], bytes]]:
    codec, schemas = Codec(), PayloadSchemas(bundled_payload_schemas())
    request = parse_request(
        {
            "type": "content.approved",
            "recipients": {"users": ["u-1842", "u-2291"], "roles": ["editor"]},
            "payload": {"content_id": "c-42"},
            "source": {"reference": "order-42"},
        }
    )
    validated = validate_request(request, "acme", schemas, LimitSettings())
    out = []
    for i in range(n):
        env = build_envelope(validated, tenant="acme", client_id=client_id, idempotency_key=f"{i}")
        out.append((env, encode_unsigned(codec, env)[0]))
    return out


def with_headers(
    events: list[tuple[dict[str, Any], bytes]], origins: list[dict[str, str]]
) -> list[Record]:
    return [
        (env, value, {k: v.encode() for k, v in origin.items()})
        for (env, value), origin in zip(events, origins, strict=True)
    ]


def best_us(fn: Callable[[], object], per: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) / per * 1e6)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    n, batch, rounds = args.events, args.batch, args.rounds

    producer = Signer("p1", generate_private_key())
    ring = ServiceKeyRing(decode_keys({"k1": generate_service_key()}), "k1")
    service = ring.signer()
    clients = ClientRegistry()
    clients.put(
        ApiClient("p1", "acme", "h", ("notifications:write",), public_key=producer.public_key)
    )
    clients.put(ApiClient("http1", "acme", "h", ("notifications:write",)))
    direct, http = events(n, "p1"), events(n, "http1")
    key = b"acme"
    chunks = [direct[i : i + batch] for i in range(0, n, batch)]

    def sign_plain() -> None:
        for _, value in direct:
            producer.origin_headers(key, value)

    def sign_mac() -> None:
        for _, value in http:
            service.origin_headers(key, value)

    def sign_batches() -> None:
        for chunk in chunks:
            producer.sign_batch([(key, value) for _, value in chunk])

    plain = with_headers(direct, [producer.origin_headers(key, v) for _, v in direct])
    maced = with_headers(http, [service.origin_headers(key, v) for _, v in http])
    batched = with_headers(
        direct, [o for c in chunks for o in producer.sign_batch([(key, v) for _, v in c])]
    )

    def verifier(records: list[Record], keys: ServiceKeyRing | None = None) -> Callable[[], None]:
        def run() -> None:
            forget_proven_nodes()  # every batch pays its one signature check
            for env, value, headers in records:
                verify_origin(env, key, headers, value, clients, keys)

        return run

    rows = [
        (
            "sign",
            "Ed25519 per record (before: ingest and producer)",
            best_us(sign_plain, n, rounds),
        ),
        ("sign", "ingest service MAC (keyed BLAKE2b)", best_us(sign_mac, n, rounds)),
        (
            "sign",
            f"producer batch of {batch} (Merkle + 1 Ed25519)",
            best_us(sign_batches, n, rounds),
        ),
        (
            "verify",
            "verify_origin, Ed25519 per record (before)",
            best_us(verifier(plain), n, rounds),
        ),
        ("verify", "verify_origin, service MAC", best_us(verifier(maced, ring), n, rounds)),
        ("verify", f"verify_origin, batch of {batch}", best_us(verifier(batched), n, rounds)),
    ]
    proof = statistics.mean(len(headers[h.PROOF]) for _, _, headers in batched)
    print(f"{n} events of {len(direct[0][1])} bytes, best of {rounds} rounds")
    print(f"{'':7}{'what':52}{'us/event':>9}")
    for kind, what, us in rows:
        print(f"{kind:7}{what:52}{us:9.2f}")
    print(f"proof header: {proof:.0f} characters per record on average (batch of {batch})")


if __name__ == "__main__":
    main()
