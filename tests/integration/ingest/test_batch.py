"""POST /api/v1/notifications/batch: every item checked first, then all appended in one
Kafka transaction, or nothing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.ingest import EXAMPLE, IngestProcess, new_client
from tidings.contracts import headers as h

from .records import read_all

URL = "/api/v1/notifications/batch"


def items(count: int, **extra: Any) -> list[dict[str, Any]]:
    run = uuid.uuid4().hex[:8]
    return [
        {
            **EXAMPLE,
            "payload": {"content_id": f"c-{run}-{i}"},
            "idempotency_key": f"{run}-{i}",
            **extra,
        }
        for i in range(count)
    ]


def event_ids_on_topic(ingest: IngestProcess, *, read_committed: bool = True) -> list[str]:
    topic = f"{ingest.settings.topic_prefix}events"
    msgs = read_all(ingest.settings, topic, read_committed=read_committed)
    return [h.to_dict(m.headers())[h.EVENT_ID].decode() for m in msgs]


def test_batch_answers_one_entry_per_item_in_order_and_appends_them_all(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    batch = items(5)
    r = http.post(URL, json={"notifications": batch})
    assert r.status_code == 202, r.text
    entries = r.json()["notifications"]
    assert [e["status"] for e in entries] == ["accepted"] * 5
    assert not any(e.get("replayed") for e in entries)
    ids = [e["id"] for e in entries]
    on_topic = event_ids_on_topic(ingest)
    assert [i for i in on_topic if i in ids] == ids  # every item, once, in item order
    for event_id in ids:
        assert http.get(f"/api/v1/notifications/{event_id}").json()["status"] == "accepted"


def test_batch_with_one_bad_item_appends_nothing_and_names_the_item(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    batch = items(5)
    batch[3]["payload"] = {"content_id": 42}
    before = event_ids_on_topic(ingest, read_committed=False)
    r = http.post(URL, json={"notifications": batch})
    assert (r.status_code, r.json()["code"]) == (422, "schema_validation_failed")
    assert [e["path"] for e in r.json()["errors"]] == ["/notifications/3/payload/content_id"]
    # Not even an aborted record: nothing was produced.
    assert event_ids_on_topic(ingest, read_committed=False) == before


def test_every_failing_item_is_named(http: httpx.Client) -> None:
    batch = items(4)
    batch[0]["recipients"] = {"users": ["nobody"]}
    batch[2]["extra"] = True
    r = http.post(URL, json={"notifications": batch})
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    paths = [e["path"] for e in r.json()["errors"]]
    assert paths == ["/notifications/0/recipients/users/0", "/notifications/2/extra"]


def test_batch_replayed_with_the_same_keys_gives_the_same_ids_marked_replayed(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    batch = items(3)
    first = http.post(URL, json={"notifications": batch}).json()["notifications"]
    count = len(event_ids_on_topic(ingest))
    again = http.post(URL, json={"notifications": batch})
    assert again.status_code == 202
    entries = again.json()["notifications"]
    assert [e["id"] for e in entries] == [e["id"] for e in first]
    assert all(e["replayed"] is True for e in entries)
    assert len(event_ids_on_topic(ingest)) == count  # nothing appended again


def test_a_batch_mixing_replays_and_new_items_appends_only_the_new(
    http: httpx.Client, ingest: IngestProcess
) -> None:
    batch = items(3)
    first = http.post(URL, json={"notifications": batch[:2]}).json()["notifications"]
    r = http.post(URL, json={"notifications": batch})
    entries = r.json()["notifications"]
    assert [e["id"] for e in entries[:2]] == [e["id"] for e in first]
    assert [e.get("replayed", False) for e in entries] == [True, True, False]
    assert event_ids_on_topic(ingest).count(entries[2]["id"]) == 1


def test_item_key_used_before_for_another_request_is_422_naming_it(http: httpx.Client) -> None:
    batch = items(2)
    http.post(URL, json={"notifications": batch})
    batch[1]["payload"] = {"content_id": "changed"}
    r = http.post(URL, json={"notifications": batch})
    assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
    assert r.json()["errors"][0]["path"] == "/notifications/1"


def test_the_same_key_twice_in_one_batch_is_422(http: httpx.Client) -> None:
    batch = items(2)
    batch[1]["idempotency_key"] = batch[0]["idempotency_key"]
    r = http.post(URL, json={"notifications": batch})
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "/notifications/1/idempotency_key"


def test_more_than_100_items_is_422(http: httpx.Client) -> None:
    r = http.post(URL, json={"notifications": items(101)})
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    assert r.json()["errors"][0]["path"] == "/notifications"


def test_100_items_are_one_batch(http: httpx.Client) -> None:
    r = http.post(URL, json={"notifications": items(100)})
    assert r.status_code == 202, r.text
    assert len(r.json()["notifications"]) == 100


def test_an_empty_or_misshapen_batch_is_422(http: httpx.Client) -> None:
    for body in ({"notifications": []}, {"items": []}, [EXAMPLE]):
        assert http.post(URL, json=body).status_code == 422


def test_an_idempotency_key_header_on_a_batch_is_400(http: httpx.Client) -> None:
    r = http.post(URL, json={"notifications": items(1)}, headers={"Idempotency-Key": "k"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_idempotency_key")


def test_a_batch_costs_one_token_per_item(ingest: IngestProcess) -> None:
    created = new_client(ingest, rate_per_second=0.001, burst=5)  # its visibility probe took 1
    with ingest.client(created.secret) as http:
        too_many = http.post(URL, json={"notifications": items(5)})
        assert (too_many.status_code, too_many.json()["code"]) == (429, "rate_limited")
        # The refused batch took only the request's own token: three are left.
        assert "r=3" in too_many.headers["ratelimit"]
        fits = http.post(URL, json={"notifications": items(3)})
        assert fits.status_code == 202, fits.text
        assert "r=0" in fits.headers["ratelimit"]


def test_a_batch_needs_the_write_scope(ingest: IngestProcess) -> None:
    created = new_client(ingest, scopes=("notifications:read",))
    with ingest.client(created.secret) as http:
        r = http.post(URL, json={"notifications": items(1)})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
