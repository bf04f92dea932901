"""The stock console tools, through infra/bin wrappers, as docs/operations.md tells them."""

from __future__ import annotations

import time
import uuid

from tidings.contracts.codec import Codec
from tidings.contracts.topics import Topics
from tidings.ops.admin import CreatedClient
from tidings.ops.event_sign import sign_avro_json
from tidings.producer import NotificationProducer
from tidings.settings import Settings

from .harness import BODY, Proc, deliveries, infra, settle, wait_stage


def producer(settings: Settings, client: CreatedClient) -> NotificationProducer:
    assert client.signing_key is not None
    return NotificationProducer(
        settings, tenant="acme", client_id=client.client.client_id, signing_key=client.signing_key
    )


def console_produce(settings: Settings, line: str) -> None:
    done = infra(
        "kafka-console-producer",
        "--bootstrap-server",
        settings.bootstrap_servers,
        "--topic",
        Topics(settings).events.name,
        "--property",
        "parse.key=true",
        "--property",
        "parse.headers=true",
        stdin=line + "\n",
    )
    assert done.returncode == 0, done.stderr


def test_console_consumer_shows_key_and_headers(
    seeded: Settings, services: dict[str, Proc], direct: CreatedClient
) -> None:
    with producer(seeded, direct) as p:
        event_id = p.send(BODY)
        p.flush()
    shown = infra(
        "kafka-console-consumer",
        "--bootstrap-server",
        seeded.bootstrap_servers,
        "--topic",
        Topics(seeded).events.name,
        "--from-beginning",
        "--timeout-ms",
        "8000",
        "--property",
        "print.key=true",
        "--property",
        "print.headers=true",
    )
    line = next(ln for ln in shown.stdout.splitlines() if event_id in ln)
    assert f"event-id:{event_id}" in line
    assert "\tacme\t" in line


def test_a_console_produced_avro_json_event_is_dispatched(
    seeded: Settings, services: dict[str, Proc], direct: CreatedClient
) -> None:
    assert direct.signing_key is not None
    codec = Codec()
    with producer(seeded, direct) as p:
        event = p.prepare(BODY)  # validated here, but written by the console tool
    by_hand = codec.encode_json("event", event.envelope).decode()
    console_produce(
        seeded, sign_avro_json(codec, by_hand, direct.client.client_id, direct.signing_key)
    )
    assert wait_stage(seeded, "acme", event.event_id, {"dispatched", "rejected"})["stage"] == (
        "dispatched"
    )


def test_a_console_produced_malformed_event_is_rejected(
    seeded: Settings, services: dict[str, Proc]
) -> None:
    event_id = str(uuid.uuid4())
    line = (
        f"event-id:{event_id},content-type:application/avro+json\tacme\t"
        '{"event_id": "' + event_id + '", "tenant": "acme"}'
    )
    console_produce(seeded, line)
    assert wait_stage(seeded, "acme", event_id, {"rejected", "dispatched"})["stage"] == "rejected"


def test_resetting_the_resolver_group_to_a_time_gives_no_duplicate_delivery(
    seeded: Settings, services: dict[str, Proc], direct: CreatedClient
) -> None:
    start = time.strftime("%Y-%m-%dT%H:%M:%S.000", time.gmtime(time.time() - 120))
    with producer(seeded, direct) as p:
        ids = [p.send(BODY) for _ in range(3)]
        p.flush()
    for event_id in ids:
        wait_stage(seeded, "acme", event_id, {"dispatched"})
    before = settle(seeded)
    services["resolver"].stop()  # a group can be reset only while it has no member
    group = f"{seeded.topic_prefix}resolver"
    deadline = time.monotonic() + 60
    while True:
        reset = infra(
            "kafka-consumer-groups",
            "--bootstrap-server",
            seeded.bootstrap_servers,
            "--group",
            group,
            "--topic",
            Topics(seeded).events.name,
            "--reset-offsets",
            "--to-datetime",
            start,
            "--execute",
        )
        if reset.returncode == 0 and "Error" not in reset.stdout + reset.stderr:
            break
        assert time.monotonic() < deadline, reset.stdout + reset.stderr
        time.sleep(2)  # the stopped member's session has to expire first
    services["resolver"].start()
    time.sleep(5)
    assert settle(seeded) == before
    assert len({d["delivery_id"] for d in deliveries(seeded)}) == before
