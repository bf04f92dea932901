"""``tidings state rebuild`` reproduces the state records of a run from the log."""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka.admin import AdminClient

from tidings.contracts import headers as h
from tidings.contracts.state import public_view
from tidings.contracts.topics import Topics
from tidings.kafka.admin import ensure_topics
from tidings.kafka.producer import durable_producer, produce_sync
from tidings.ops.admin import CreatedClient
from tidings.producer import NotificationProducer
from tidings.settings import Settings

from .harness import BODY, Proc, latest_states, settle, tidings, wait_stage


def views(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        event_id: {k: v for k, v in public_view(rec).items() if k != "updated_at"}
        for event_id, rec in latest_states(settings, "acme").items()
    }


def recreate_state_topic(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    name = Topics(settings).state.name
    admin.delete_topics([name], operation_timeout=30)[name].result()
    deadline = time.monotonic() + 60
    while True:
        try:
            if name not in ensure_topics(settings).created:
                raise RuntimeError("not gone yet")
            return
        except Exception:  # the deletion is still in progress
            assert time.monotonic() < deadline
            time.sleep(1)


def test_state_rebuild_reproduces_the_state_records_of_a_run(
    seeded: Settings, services: dict[str, Proc], direct: CreatedClient
) -> None:
    assert direct.signing_key is not None
    with NotificationProducer(
        seeded, tenant="acme", client_id=direct.client.client_id, signing_key=direct.signing_key
    ) as p:
        ids = [p.send({**BODY, "payload": {"content_id": f"c-{i}"}}) for i in range(3)]
        unsigned = p.prepare(BODY)
        p.flush()
    produce_sync(
        durable_producer(seeded, "unsigned"),
        Topics(seeded).events.name,
        unsigned.key,
        unsigned.value,
        [(k, v) for k, v in unsigned.headers if k != h.SIGNATURE],
    )
    for event_id in [*ids, unsigned.event_id]:
        wait_stage(seeded, "acme", event_id, {"dispatched", "rejected"})
    settle(seeded)
    for proc in services.values():
        proc.stop()
    before = views(seeded)
    recreate_state_topic(seeded)
    done = tidings(seeded, "state", "rebuild", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] == len(before)
    assert views(seeded) == before
