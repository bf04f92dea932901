"""The clients topic: its view (every service authenticates and verifies against it) and the
one way a client record is written."""

from __future__ import annotations

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics, client_key
from tidings.domain.clients import ApiClient, ClientRegistry
from tidings.kafka.producer import durable_producer, produce_sync
from tidings.kafka.view import CompactedView
from tidings.settings import Settings


def clients_view(settings: Settings, codec: Codec, registry: ClientRegistry) -> CompactedView:
    def apply(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        if key is None:
            return
        if value is None:
            registry.delete(key.decode())
            return
        registry.put(ApiClient.from_record(codec.decode(value, expect="client")[1]))

    return CompactedView(settings, Topics(settings).clients.name, apply, name="clients")


def put_client(settings: Settings, client: ApiClient, codec: Codec | None = None) -> None:
    """Write one client record and wait for its acknowledgement (acks=all)."""
    codec = codec or Codec()
    producer = durable_producer(settings, "admin-clients")
    produce_sync(
        producer,
        Topics(settings).clients.name,
        client_key(client.client_id),
        codec.encode("client", client.to_record()),
    )
