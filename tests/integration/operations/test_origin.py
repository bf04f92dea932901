"""Proof of origin on the direct path: forged, unsigned or revoked records end `rejected`."""

from __future__ import annotations

from dataclasses import replace

from tidings.contracts import headers as h
from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.domain.envelope import encode_event
from tidings.domain.signing import Signer
from tidings.kafka.producer import durable_producer, produce_sync
from tidings.ops.admin import CreatedClient, create_client
from tidings.producer import NotificationProducer
from tidings.settings import Settings
from tidings.stores.clients import put_client

from .harness import BODY, Proc, wait_stage


def prepared(settings: Settings, client: CreatedClient) -> NotificationProducer:
    assert client.signing_key is not None
    return NotificationProducer(
        settings,
        tenant="acme",
        client_id=client.client.client_id,
        signing_key=client.signing_key,
    )


def write(settings: Settings, key: bytes, value: bytes, headers: h.Headers) -> None:
    produce_sync(
        durable_producer(settings, "forger"), Topics(settings).events.name, key, value, headers
    )


def test_a_record_forged_for_another_tenant_is_rejected(
    seeded: Settings, services: dict[str, Proc], direct: CreatedClient
) -> None:
    assert direct.signing_key is not None
    with prepared(seeded, direct) as p:
        event = p.prepare(BODY)
    forged = {**event.envelope, "tenant": "globex"}
    value, headers = encode_event(
        Codec(), forged, Signer(direct.client.client_id, direct.signing_key)
    )
    write(seeded, b"globex", value, headers)
    state = wait_stage(seeded, "globex", event.event_id, {"rejected", "dispatched"})
    assert (state["stage"], state["error_class"]) == ("rejected", "origin_rejected")


def test_an_unsigned_record_is_rejected(
    seeded: Settings, services: dict[str, Proc], direct: CreatedClient
) -> None:
    with prepared(seeded, direct) as p:
        event = p.prepare(BODY)
    unsigned = [(k, v) for k, v in event.headers if k not in (h.SIGNATURE, h.SIGNER)]
    write(seeded, event.key, event.value, unsigned)
    state = wait_stage(seeded, "acme", event.event_id, {"rejected", "dispatched"})
    assert state["stage"] == "rejected"


def test_a_record_signed_by_a_revoked_client_is_rejected(
    seeded: Settings, services: dict[str, Proc]
) -> None:
    revoked = create_client(seeded, "acme", ["notifications:write"], signing_key=True)
    with prepared(seeded, revoked) as p:
        event = p.prepare(BODY)  # signed while the client was valid
    put_client(seeded, replace(revoked.client, revoked=True))
    # Written without the library, which would now refuse it (401): the resolver must too.
    write(seeded, event.key, event.value, event.headers)
    state = wait_stage(seeded, "acme", event.event_id, {"rejected", "dispatched"})
    assert state["stage"] == "rejected"


def test_a_forger_who_claims_a_genuine_id_first_does_not_stop_the_genuine_event(
    seeded: Settings, services: dict[str, Proc], direct: CreatedClient
) -> None:
    with prepared(seeded, direct) as p:
        event = p.prepare(BODY)
    unsigned = [(k, v) for k, v in event.headers if k not in (h.SIGNATURE, h.SIGNER)]
    write(seeded, event.key, event.value, unsigned)
    forged = wait_stage(seeded, "acme", event.event_id, {"rejected"})
    assert forged["error_class"] == "origin_rejected"
    write(seeded, event.key, event.value, event.headers)
    state = wait_stage(seeded, "acme", event.event_id, {"dispatched"})
    assert state["deliveries"]
