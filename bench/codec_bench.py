"""Microseconds per Avro body encode and decode: the generated codec beside fastavro.

Realistic records of the hot topics (``event``, ``state``, ``delivery``, ``resolved_chunk``),
schemas parsed once (fastavro through ``io_schema``, as ``Codec`` calls it; the generated
codec compiled once). fastavro's side is exactly what ``Codec.encode``/``Codec.decode`` do for
the body: a ``BytesIO``, ``schemaless_writer`` of ``dict(record)``, ``getvalue``; and
``schemaless_reader`` of a ``BytesIO``. Rounds alternate between the two; best of the rounds.

    .venv/bin/python -m bench.codec_bench [--rounds 7] [--number 20000]
"""

from __future__ import annotations

import argparse
import io
import timeit
from collections.abc import Callable
from typing import Any

import fastavro

from tidings.contracts.avro_codegen import compile_codec
from tidings.contracts.codec import io_schema, parse
from tidings.contracts.schema_files import load_json, record_schema_files, schemas_root

NOW = 1_767_225_600_000
EVENT_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"

RECORDS: dict[str, dict[str, Any]] = {
    "event": {
        "event_id": EVENT_ID,
        "tenant": "acme",
        "type": "content.approved",
        "version": 3,
        "recipients": {
            "users": ["u-1842", "u-2291"],
            "roles": ["editor"],
            "groups": ["legal", "emea-marketing"],
            "rules": ['{"attr":"region","eq":"emea"}'],
        },
        "payload": '{"content_id":"c-99812","title":"Q3 launch plan","approved_by":"u-77",'
        '"url":"https://cms.example.com/c/99812","tags":["launch","q3"]}',
        "source": {"client_id": "cms-prod", "reference": "req-7f3a9c"},
        "idempotency_key": "approve-c-99812-v3",
        "accepted_at": NOW,
        "replay_id": None,
    },
    "state": {
        "event_id": EVENT_ID,
        "tenant": "acme",
        "stage": "dispatched",
        "seq": 4,
        "at": NOW + 180,
        "type": "content.approved",
        "recipients": 57,
        "chunks": 1,
        "deliveries": {"email": 52, "slack": 31, "webhook": 2},
        "skipped": {"muted": 3, "no_address": 2},
        "attempt": 1,
        "next_attempt_at": None,
        "error_class": None,
        "detail": None,
        "directory_offset": 1_284_113,
        "replay_id": None,
    },
    "delivery": {
        "delivery_id": f"{EVENT_ID}:u-1842:email",
        "event_id": EVENT_ID,
        "tenant": "acme",
        "type": "content.approved",
        "version": 3,
        "user_id": "u-1842",
        "channel": "email",
        "address": "dana.kowalski@acme.example",
        "payload": '{"content_id":"c-99812","title":"Q3 launch plan","approved_by":"u-77",'
        '"url":"https://cms.example.com/c/99812","tags":["launch","q3"]}',
        "requested_at": NOW + 150,
        "replay_id": None,
    },
    "resolved_chunk": {
        "event_id": EVENT_ID,
        "tenant": "acme",
        "type": "content.approved",
        "chunk": 0,
        "chunks": 1,
        "recipients": [
            {
                "user_id": f"u-{1000 + i}",
                "matched_by": ["role:editor", "group:legal"] if i % 3 else ["user"],
                "channels": {"email": f"user{i}@acme.example", "slack": f"U0{i:07d}"}
                if i % 2
                else {"email": f"user{i}@acme.example"},
            }
            for i in range(20)
        ],
        "payload": '{"content_id":"c-99812","title":"Q3 launch plan"}',
        "version": 3,
        "replay_id": None,
    },
}


def best_us(fn: Callable[[], object], number: int, rounds: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=rounds)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=20_000, help="calls per round")
    args = parser.parse_args()
    files = record_schema_files(schemas_root())
    rows = []
    for name, record in RECORDS.items():
        versions = files[name]
        parsed = parse(load_json(versions[max(versions)]))
        hinted = io_schema(parsed)
        codec = compile_codec(parsed, name=name)
        assert codec.specialised, codec.reason

        def fa_encode(record: dict[str, Any] = record, hinted: Any = hinted) -> bytes:
            out = io.BytesIO()
            fastavro.schemaless_writer(out, hinted, dict(record))
            return out.getvalue()

        body = fa_encode()
        assert codec.encode(record) == body, name

        def fa_decode(body: bytes = body, hinted: Any = hinted) -> Any:
            return fastavro.schemaless_reader(io.BytesIO(body), hinted, hinted)

        assert codec.decode(body) == fa_decode(), name
        gen_encode, gen_decode = codec.encode, codec.decode
        # a smaller number for the 20-recipient chunk keeps each round near the others' length
        number = max(1000, args.number // (10 if name == "resolved_chunk" else 1))
        timings = [
            best_us(fa_encode, number, args.rounds),
            best_us(lambda r=record, f=gen_encode: f(r), number, args.rounds),
            best_us(fa_decode, number, args.rounds),
            best_us(lambda b=body, f=gen_decode: f(b), number, args.rounds),
        ]
        rows.append((name, len(body), *timings))
    print(
        "| record | body bytes | encode fastavro µs | encode generated µs | speed-up "
        "| decode fastavro µs | decode generated µs | speed-up |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, size, fe, ge, fd, gd in rows:
        print(
            f"| {name} | {size} | {fe:.2f} | {ge:.2f} | {fe / ge:.1f}x "
            f"| {fd:.2f} | {gd:.2f} | {fd / gd:.1f}x |"
        )


if __name__ == "__main__":
    main()
