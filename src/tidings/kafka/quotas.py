"""Kafka client quotas of direct producers: ``producer_byte_rate`` per Kafka ``client.id``.

The broker throttles a producer over its byte rate by delaying its produce responses, so a
direct producer (which no ingest rate limit sees) is held to its share by Kafka itself.
confluent-kafka (librdkafka 2.16) has no AlterClientQuotas/DescribeClientQuotas call, so the
two requests are written here on Kafka's wire protocol (version 0 of both, request header
v1), over a plain connection to one bootstrap broker, which forwards them to the controller:
the ``PLAINTEXT`` listeners Tidings configures. A secured cluster sets the same quota with
``kafka-configs --alter --entity-type clients --entity-name <client id>
--add-config producer_byte_rate=<n>``.

The quota binds the Kafka client id the library uses, ``direct_producer_client_id``: a
hand-written producer choosing another client id escapes it (Kafka authenticates no client id
without SASL); the resolver's checks still apply to what it writes.
"""

from __future__ import annotations

import itertools
import socket
import struct
from typing import Any

from tidings.errors import Unavailable
from tidings.settings import Settings

ALTER_CLIENT_QUOTAS, DESCRIBE_CLIENT_QUOTAS = 49, 48
PRODUCER_BYTE_RATE = "producer_byte_rate"
CLIENT_ID = "client-id"
MATCH_EXACT = 0
_correlation = itertools.count(1)


def direct_producer_suffix(client_id: str) -> str:
    """The ``client.id`` suffix of the library's producer for API client ``client_id``."""
    return f"producer-{client_id}"


def direct_producer_client_id(settings: Settings, client_id: str) -> str:
    """The Kafka ``client.id`` the library's producer uses (``kafka/config.common_config``)."""
    return f"{settings.kafka.client_id}-{direct_producer_suffix(client_id)}"


def set_producer_byte_rate(
    settings: Settings, kafka_client_id: str, byte_rate: int | None, timeout_s: float = 10.0
) -> None:
    """Set (or with None remove) the ``producer_byte_rate`` quota of one Kafka client id."""
    op = _string(PRODUCER_BYTE_RATE) + struct.pack(">d?", float(byte_rate or 0), byte_rate is None)
    entity = _array([_string(CLIENT_ID) + _nullable(kafka_client_id)])
    body = _array([entity + _array([op])]) + struct.pack(">?", False)  # validate_only
    reply = _Reader(_request(settings, ALTER_CLIENT_QUOTAS, body, timeout_s))
    reply.int32()  # throttle_time_ms
    for _ in range(reply.int32()):
        code, message = reply.int16(), reply.nullable()
        for _ in range(reply.int32()):
            reply.string(), reply.nullable()
        if code:
            raise Unavailable(f"the broker refused the client quota ({code}: {message})")


def producer_byte_rate(
    settings: Settings, kafka_client_id: str, timeout_s: float = 10.0
) -> float | None:
    """The ``producer_byte_rate`` quota set for exactly this Kafka client id, or None."""
    component = _string(CLIENT_ID) + struct.pack(">b", MATCH_EXACT) + _nullable(kafka_client_id)
    body = _array([component]) + struct.pack(">?", True)  # strict: this entity only
    reply = _Reader(_request(settings, DESCRIBE_CLIENT_QUOTAS, body, timeout_s))
    reply.int32()  # throttle_time_ms
    code, message = reply.int16(), reply.nullable()
    if code:
        raise Unavailable(f"the broker could not describe client quotas ({code}: {message})")
    found = None
    for _ in range(max(0, reply.int32())):  # -1: null array
        for _ in range(reply.int32()):
            reply.string(), reply.nullable()
        for _ in range(reply.int32()):
            name, value = reply.string(), reply.float64()
            if name == PRODUCER_BYTE_RATE:
                found = value
    return found


def _request(settings: Settings, api_key: int, body: bytes, timeout_s: float) -> bytes:
    """One request/response exchange with the first reachable bootstrap broker."""
    correlation = next(_correlation)
    header = struct.pack(">hhi", api_key, 0, correlation) + _nullable(
        f"{settings.kafka.client_id}-admin-quotas"
    )
    frame = header + body
    last: Exception | None = None
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout_s) as sock:
                sock.sendall(struct.pack(">i", len(frame)) + frame)
                size = struct.unpack(">i", _exactly(sock, 4))[0]
                payload = _exactly(sock, size)
        except OSError as exc:
            last = exc
            continue
        if struct.unpack(">i", payload[:4])[0] != correlation:
            raise Unavailable("the broker answered another request")
        return payload[4:]
    raise Unavailable(f"no broker reachable for client quotas ({type(last).__name__})")


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = sock.recv(left)
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _nullable(value: str | None) -> bytes:
    return struct.pack(">h", -1) if value is None else _string(value)


def _array(items: list[bytes]) -> bytes:
    return struct.pack(">i", len(items)) + b"".join(items)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def _take(self, fmt: str) -> Any:
        (value,) = struct.unpack_from(fmt, self._data, self._at)
        self._at += struct.calcsize(fmt)
        return value

    def int16(self) -> int:
        return int(self._take(">h"))

    def int32(self) -> int:
        return int(self._take(">i"))

    def float64(self) -> float:
        return float(self._take(">d"))

    def nullable(self) -> str | None:
        size = self.int16()
        if size < 0:
            return None
        value = self._data[self._at : self._at + size].decode()
        self._at += size
        return value

    def string(self) -> str:
        return self.nullable() or ""


def limit_direct_producer(settings: Settings, client_id: str, byte_rate: int | None) -> int:
    """The quota of a new direct producer: ``byte_rate``, else the setting's default
    (``TIDINGS_KAFKA__PRODUCER_BYTE_RATE``); 0 sets none. Returns the rate applied."""
    rate = settings.kafka.producer_byte_rate if byte_rate is None else byte_rate
    set_producer_byte_rate(settings, direct_producer_client_id(settings, client_id), rate or None)
    return rate
