"""NotificationProducer against the real broker: acknowledged, signed, tenant-partitioned."""

from __future__ import annotations

import asyncio

import pytest

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.domain.signing import verify
from tidings.errors import TidingsError
from tidings.ops.admin import CreatedClient
from tidings.producer import AsyncNotificationProducer, NotificationProducer
from tidings.settings import Settings
from tidings.stores.schemas import SchemaRegistry

from .records import read_all

BODY = {
    "type": "content.approved",
    "recipients": {"users": ["u-1"]},
    "payload": {"content_id": "c-1"},
}


def producer(settings: Settings, client: CreatedClient, **kw: object) -> NotificationProducer:
    assert client.signing_key is not None
    return NotificationProducer(
        settings,
        tenant="acme",
        client_id=client.client.client_id,
        signing_key=client.signing_key,
        **kw,  # type: ignore[arg-type]
    )


def test_every_sent_event_is_acknowledged_once_with_its_offset(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client) as p:
        ids = [p.send(BODY) for _ in range(200)]
        acks = p.flush()
    assert sorted(a.event_id for a in acks) == sorted(ids)
    assert all(a.acknowledged and a.offset is not None for a in acks)


def test_events_land_in_the_tenants_murmur2_partition(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client) as p:
        p.send(BODY)
        (ack,) = p.flush()
    assert ack.partition == tenant_partition("acme", topics.events.partitions)


def test_the_written_record_decodes_and_its_signature_verifies(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client) as p:
        event_id = p.send(BODY, idempotency_key="verify-me")
        p.flush()
    (msg,) = [
        m
        for m in read_all(settings, topics.events.name)
        if h.to_dict(m.headers()).get(h.EVENT_ID) == event_id.encode()
    ]
    headers = h.to_dict(msg.headers())
    _, event = Codec().decode(msg.value() or b"", expect="event")
    assert event["tenant"] == "acme"
    assert msg.key() == b"acme"
    assert verify(
        direct_client.client.public_key or "",
        msg.value() or b"",
        h.text(headers, h.SIGNATURE) or "",
    )


def test_schemas_are_read_from_the_schemas_topic_when_none_are_given(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client) as p, pytest.raises(TidingsError) as raised:
        p.send({**BODY, "version": 7})
    assert raised.value.code == "unknown_schema_version"


def test_an_unreachable_broker_reports_the_event_unacknowledged(
    settings: Settings, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    dead = settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    p = producer(dead, direct_client, schemas=registry.schemas, **{"message.timeout.ms": 1500})
    p.send(BODY)
    (ack,) = p.flush(10)
    assert not ack.acknowledged
    assert ack.error is not None
    assert ack.error.retriable


def test_the_async_producer_acknowledges_concurrent_sends(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    assert direct_client.signing_key is not None
    key = direct_client.signing_key

    async def run() -> list[bool]:
        async with AsyncNotificationProducer(
            settings, tenant="acme", client_id="c-direct", signing_key=key
        ) as p:
            acks = await p.send_many([(BODY, f"async-{i}") for i in range(50)])
        return [a.acknowledged for a in acks]

    assert asyncio.run(run()) == [True] * 50
