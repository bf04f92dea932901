"""NotificationProducer against the real broker: acknowledged, batch-signed, tenant-partitioned."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from confluent_kafka import Message

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.topics import Topics
from tidings.domain.clients import ClientRegistry
from tidings.domain.origin import verify_origin
from tidings.domain.signing import verify
from tidings.errors import TidingsError
from tidings.kafka.quotas import direct_producer_client_id, producer_byte_rate
from tidings.ops.admin import CreatedClient, create_client
from tidings.producer import Ack, AsyncNotificationProducer, NotificationProducer
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


def written(settings: Settings, topic: str, event_ids: list[str]) -> list[Message]:
    wanted = {event_id.encode() for event_id in event_ids}
    return [
        m for m in read_all(settings, topic) if h.to_dict(m.headers()).get(h.EVENT_ID) in wanted
    ]


def assert_origin_verifies(msg: Message, client: CreatedClient) -> None:
    """Through the resolver's own check (``verify_origin``), with the producer registered."""
    clients = ClientRegistry()
    clients.put(client.client)
    _, event = Codec().decode(msg.value() or b"", expect="event")
    verify_origin(event, msg.key(), h.to_dict(msg.headers()), msg.value() or b"", clients)


def test_the_written_record_decodes_and_its_origin_verifies(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client) as p:
        event_id = p.send(BODY, idempotency_key="verify-me")
        p.flush()
    (msg,) = written(settings, topics.events.name, [event_id])
    _, event = Codec().decode(msg.value() or b"", expect="event")
    assert event["tenant"] == "acme"
    assert msg.key() == b"acme"
    assert_origin_verifies(msg, direct_client)


def test_a_lone_event_is_signed_plainly_over_its_value(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client) as p:
        event_id = p.send(BODY)
        p.flush()
    (msg,) = written(settings, topics.events.name, [event_id])
    headers = h.to_dict(msg.headers())
    assert h.PROOF not in headers
    assert verify(
        direct_client.client.public_key or "",
        msg.value() or b"",
        h.text(headers, h.SIGNATURE) or "",
    )


def test_events_sent_together_share_one_signature_per_batch_and_each_verifies(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client, batch_size=50, batch_linger_ms=10_000) as p:
        ids = [p.send(BODY) for _ in range(120)]
        acks = p.flush()
    assert all(a.acknowledged for a in acks)
    msgs = written(settings, topics.events.name, ids)
    assert len(msgs) == 120
    headers = [h.to_dict(m.headers()) for m in msgs]
    assert len({x[h.SIGNATURE] for x in headers}) == 3  # 50 + 50 + the 20 flush sealed
    assert all(h.PROOF in x for x in headers)
    for msg in msgs:
        assert_origin_verifies(msg, direct_client)


def test_a_send_is_written_after_the_linger_without_poll_or_flush(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client, batch_linger_ms=20) as p:
        event_id = p.send(BODY)
        deadline = time.monotonic() + 20
        while not written(settings, topics.events.name, [event_id]):
            assert time.monotonic() < deadline, "the lingering event was never written"
            time.sleep(0.2)
        (ack,) = p.flush()
    assert ack.acknowledged


def test_schemas_are_read_from_the_schemas_topic_when_none_are_given(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    with producer(settings, direct_client) as p, pytest.raises(TidingsError) as raised:
        p.send({**BODY, "version": 7})
    assert raised.value.code == "unknown_schema_version"


def test_an_unreachable_broker_reports_the_event_unacknowledged(
    settings: Settings, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    # The views it checks requests against read the real broker; its writes go nowhere.
    dead = {"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 1500}
    p = producer(settings, direct_client, schemas=registry.schemas, **dead)
    p.send(BODY)
    (ack,) = p.flush(10)
    assert not ack.acknowledged
    assert ack.error is not None
    assert ack.error.retriable


def test_a_producer_without_a_broker_to_read_its_rules_from_does_not_start(
    settings: Settings, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    dead = settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    with pytest.raises(TidingsError) as raised:
        producer(dead, direct_client, schemas=registry.schemas, ready_timeout_s=2)
    assert (raised.value.code, raised.value.retriable) == ("unavailable", True)


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


def test_async_sends_gathered_within_the_linger_share_a_signature(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    assert direct_client.signing_key is not None
    key = direct_client.signing_key

    async def run() -> list[Ack]:
        async with AsyncNotificationProducer(
            settings, tenant="acme", client_id="c-direct", signing_key=key, schemas=registry.schemas
        ) as p:
            return list(await asyncio.gather(*(p.send(BODY) for _ in range(10))))

    acks = asyncio.run(run())
    assert all(a.acknowledged for a in acks)
    msgs = written(settings, topics.events.name, [a.event_id for a in acks])
    assert len({h.to_dict(m.headers())[h.SIGNATURE] for m in msgs}) == 1
    for msg in msgs:
        assert_origin_verifies(msg, direct_client)


def test_the_async_producer_raises_a_bad_request_at_send(
    settings: Settings, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    assert direct_client.signing_key is not None
    key = direct_client.signing_key

    async def run() -> None:
        async with AsyncNotificationProducer(
            settings, tenant="acme", client_id="c-direct", signing_key=key, schemas=registry.schemas
        ) as p:
            await p.send({**BODY, "version": 7})

    with pytest.raises(TidingsError) as raised:
        asyncio.run(run())
    assert raised.value.code == "unknown_schema_version"


def test_the_broker_throttles_a_producer_over_its_kafka_quota(
    settings: Settings, topics: Topics, registry: SchemaRegistry, direct_client: CreatedClient
) -> None:
    slow = create_client(
        settings, "acme", ["notifications:write"], signing_key=True, producer_byte_rate=10_000
    )
    name = direct_producer_client_id(settings, slow.client.client_id)
    deadline = time.monotonic() + 10
    while producer_byte_rate(settings, name) != 10_000:
        assert time.monotonic() < deadline, "the quota never showed on the broker"
        time.sleep(0.1)
    throttled: list[int] = []  # librdkafka reports each throttle the broker asks for
    hooks = {"throttle_cb": lambda event: throttled.append(event.throttle_time)}

    def big() -> dict[str, object]:  # random, so ~3 KB a record even compressed
        return {**BODY, "payload": {"content_id": secrets.token_urlsafe(3000)}}

    # 60 KB: 6 s of quota. Not more: a throttle longer than the request timeout (10 s) makes
    # librdkafka time the request out and retry, and on a busy machine the retries outlast
    # the flush (the acknowledgements are what this test reads, not the retry policy).
    with producer(settings, slow, **hooks) as p:
        acks = p.send_many([(big(), None) for _ in range(20)], timeout_s=60)
        acks += p.send_many([(big(), None) for _ in range(5)], timeout_s=60)
        deadline = time.monotonic() + 10  # the report may come after the acknowledgements
        while not throttled and time.monotonic() < deadline:
            p.poll(0.5)
    assert all(a.acknowledged for a in acks)
    assert max(throttled, default=0) > 0


def test_the_producer_reads_back_only_its_tenants_events_partition(
    settings: Settings,
    topics: Topics,
    registry: SchemaRegistry,
    direct_client: CreatedClient,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Its key window is its tenant's keys, all in one partition: the other tenants' traffic
    # is neither read at start nor followed (a busy topic once took it past its ready timeout).
    stores = tmp_path_factory.mktemp("producer-stores")
    with producer(settings, direct_client, stores_dir=stores) as p:
        p.send(BODY)
        p.flush()
    kept = {int(path.name) for path in (stores / "events").iterdir()}
    assert kept == {tenant_partition("acme", topics.events.partitions)}
