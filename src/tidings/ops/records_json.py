"""Records <-> text lines, for people, scripts and the stock console tools.

Two line formats:

* JSON Lines (``tail``, ``dump --format jsonl``): one object per record with topic,
  partition, offset, timestamp, key, headers and the decoded value (bytes as base64).
* console (``dump``'s default): ``headers<TAB>key<TAB>value`` with headers as ``k:v,k:v`` and
  the value in Avro JSON (``content-type: application/avro+json``): exactly what
  ``kafka-console-producer --property parse.key=true --property parse.headers=true`` reads.
  The signature header stays valid: it covers the canonical binary encoding, which the
  Avro JSON value decodes back to byte for byte.

``tidings replay --file`` reads either format.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.contracts import headers as h
from tidings.contracts.codec import CONTENT_TYPE_BINARY, CONTENT_TYPE_JSON, Codec
from tidings.errors import CodecError, MalformedRequest, TidingsError
from tidings.kafka.records import RawRecord

HEADER_SEPARATOR, HEADER_KEY_SEPARATOR, FIELD_SEPARATOR = ",", ":", "\t"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def decode(
    raw: RawRecord, codec: Codec, name: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """(decoded value, error code); a record that does not decode is shown, not hidden."""
    if raw.value is None or name is None:
        return None, None
    content_type = h.text(dict(raw.headers), h.CONTENT_TYPE)
    try:
        return codec.decode_value(raw.value, content_type, name), None
    except TidingsError as exc:
        return None, exc.code


def to_json(raw: RawRecord, codec: Codec, name: str | None) -> dict[str, Any]:
    value, error = decode(raw, codec, name)
    out: dict[str, Any] = {
        "topic": raw.topic,
        "partition": raw.partition,
        "offset": raw.offset,
        "timestamp": raw.timestamp,
        "key": raw.key.decode("utf-8", errors="replace") if raw.key is not None else None,
        "headers": {k: v.decode("utf-8", errors="replace") for k, v in raw.headers},
        "record": name,
        "value": _plain(value),
    }
    if error is not None:
        out["error"] = error
    return out


def json_line(raw: RawRecord, codec: Codec, name: str | None) -> str:
    return orjson.dumps(to_json(raw, codec, name)).decode()


def console_format(
    headers: Iterable[tuple[str, str | bytes | None]], key: bytes | None, avro_json: str
) -> str:
    """``headers<TAB>key<TAB>value`` as ``kafka-console-producer`` (parse.key, parse.headers)
    reads it; ``content-type`` says Avro JSON. A header the format cannot carry is refused."""
    values = {
        **{k: v.decode() if isinstance(v, bytes) else str(v) for k, v in headers},
        h.CONTENT_TYPE: CONTENT_TYPE_JSON,
    }
    for k, v in values.items():
        if any(sep in k + v for sep in (HEADER_SEPARATOR, HEADER_KEY_SEPARATOR, FIELD_SEPARATOR)):
            raise MalformedRequest(f"header {k!r} cannot be written in console format")
    head = HEADER_SEPARATOR.join(f"{k}{HEADER_KEY_SEPARATOR}{v}" for k, v in values.items())
    return FIELD_SEPARATOR.join([head, (key or b"").decode(), avro_json])


def console_line(raw: RawRecord, codec: Codec, name: str) -> str:
    """The record as ``kafka-console-producer`` (parse.key, parse.headers) reads it."""
    value, error = decode(raw, codec, name)
    if value is None:
        raise MalformedRequest(f"offset {raw.offset} does not decode ({error})")
    return console_format(raw.headers, raw.key, codec.encode_json(name, value).decode())


@dataclass(frozen=True)
class LineRecord:
    """A record read back from a line: what to produce, and its decoded value."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    record: dict[str, Any]


def parse_line(line: str, codec: Codec, name: str) -> LineRecord:
    """Either format back to a binary record (Avro single-object, content-type binary)."""
    text = line.rstrip("\r\n")
    try:
        if text.startswith("{"):
            data = orjson.loads(text)
            record = data["value"]
            key = data["key"].encode() if data.get("key") is not None else None
            headers = {k: str(v) for k, v in (data.get("headers") or {}).items()}
        else:
            head, key_text, value_text = text.split(FIELD_SEPARATOR, 2)
            record = codec.decode_json(value_text.encode(), name)
            key = key_text.encode()
            headers = dict(
                part.split(HEADER_KEY_SEPARATOR, 1)
                for part in head.split(HEADER_SEPARATOR)
                if HEADER_KEY_SEPARATOR in part
            )
        value = codec.encode(name, record)
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError, CodecError) as exc:
        raise MalformedRequest(f"not a {name} record line") from exc
    headers[h.CONTENT_TYPE] = CONTENT_TYPE_BINARY
    return LineRecord(key, value, [(k, v.encode()) for k, v in headers.items()], record)
