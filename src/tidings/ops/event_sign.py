"""Sign a hand-written Avro JSON event for re-injection with the stock console producer.

A plain Ed25519 signature (no ``proof`` header: a batch of one) over the canonical binary
encoding, so the line keeps the operator's Avro JSON value (``content-type:
application/avro+json``) and the resolver re-encodes it to verify (docs/trust-model.md).
"""

from __future__ import annotations

from tidings.contracts.codec import Codec
from tidings.contracts.topics import event_key
from tidings.domain.envelope import encode_event
from tidings.domain.signing import Signer
from tidings.ops.records_json import console_format


def sign_avro_json(codec: Codec, avro_json: str, signer_id: str, signing_key: str) -> str:
    """``headers<TAB>key<TAB>value`` for ``kafka-console-producer`` (parse.key, parse.headers)."""
    event = codec.decode_json(avro_json.encode(), "event")
    _, headers = encode_event(codec, event, Signer(signer_id, signing_key))
    return console_format(
        headers, event_key(event["tenant"]), codec.encode_json("event", event).decode()
    )
