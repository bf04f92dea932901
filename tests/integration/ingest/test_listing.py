"""GET /api/v1/notifications: the caller's events, newest first, with an opaque cursor."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.ingest import EXAMPLE, IngestProcess, new_client

URL = "/api/v1/notifications"


def post_batch(http: httpx.Client, count: int, reference: str) -> list[str]:
    items = [{**EXAMPLE, "source": {"reference": reference}} for _ in range(count)]
    r = http.post(f"{URL}/batch", json={"notifications": items})
    assert r.status_code == 202, r.text
    return [e["id"] for e in r.json()["notifications"]]


def every_page(http: httpx.Client, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    cursor = params.pop("cursor", None)
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        r = http.get(URL, params=query)
        assert r.status_code == 200, r.text
        pages.append(r.json()["notifications"])
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return pages


def test_pagination_lists_every_event_exactly_once_newest_first(http: httpx.Client) -> None:
    reference = f"ref-{uuid.uuid4().hex[:8]}"
    ids = post_batch(http, 12, reference) + post_batch(http, 11, reference)
    pages = every_page(http, source_reference=reference, limit=5)
    listed = [e for page in pages for e in page]
    assert sorted(e["id"] for e in listed) == sorted(ids)  # each once, none missing
    assert all(len(page) <= 5 for page in pages)
    times = [e["accepted_at"] for e in listed]
    assert times == sorted(times, reverse=True)


def test_an_event_created_while_paging_does_not_shift_later_pages(http: httpx.Client) -> None:
    reference = f"ref-{uuid.uuid4().hex[:8]}"
    ids = post_batch(http, 6, reference)
    first = http.get(URL, params={"source_reference": reference, "limit": 3}).json()
    assert first["next_cursor"] is not None, first
    newer = post_batch(http, 1, reference)
    rest = every_page(http, source_reference=reference, limit=3, cursor=first["next_cursor"])
    listed = [e["id"] for e in first["notifications"]] + [e["id"] for p in rest for e in p]
    assert sorted(listed) == sorted(ids)
    assert newer[0] not in listed
    again = http.get(URL, params={"source_reference": reference, "limit": 1}).json()
    assert [e["id"] for e in again["notifications"]] == newer  # newest first


def test_entries_are_the_status_views_of_get(http: httpx.Client) -> None:
    reference = f"ref-{uuid.uuid4().hex[:8]}"
    (event_id,) = post_batch(http, 1, reference)
    (entry,) = http.get(URL, params={"source_reference": reference}).json()["notifications"]
    status = http.get(f"{URL}/{event_id}").json()
    assert entry == {k: status[k] for k in entry}  # GET adds a waiting event's position
    assert entry["status"] == "accepted"


def test_filters_select_by_status_type_and_creation_time(http: httpx.Client) -> None:
    reference = f"ref-{uuid.uuid4().hex[:8]}"
    post_batch(http, 3, reference)
    listed = http.get(URL, params={"source_reference": reference}).json()["notifications"]
    middle = listed[1]["accepted_at"]
    base = {"source_reference": reference}
    assert len(http.get(URL, params={**base, "status": "accepted"}).json()["notifications"]) == 3
    assert http.get(URL, params={**base, "status": "dispatched"}).json()["notifications"] == []
    assert http.get(URL, params={**base, "type": "other.type"}).json()["notifications"] == []
    after = http.get(URL, params={**base, "created_after": middle}).json()["notifications"]
    assert all(e["accepted_at"] >= middle for e in after)
    before = http.get(URL, params={**base, "created_before": middle}).json()["notifications"]
    assert all(e["accepted_at"] < middle for e in before)
    assert len(after) + len(before) == 3


def test_another_tenant_sees_none_of_the_events(http: httpx.Client, ingest: IngestProcess) -> None:
    reference = f"ref-{uuid.uuid4().hex[:8]}"
    post_batch(http, 2, reference)
    globex = new_client(ingest, "globex")
    with ingest.client(globex.secret) as other:
        r = other.get(URL, params={"source_reference": reference})
    assert (r.status_code, r.json()["notifications"]) == (200, [])


def test_bad_parameters_are_422_naming_each(http: httpx.Client) -> None:
    r = http.get(URL, params={"status": "nope", "limit": "0", "cursor": "zzz", "sort": "asc"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_failed")
    assert sorted(e["path"] for e in r.json()["errors"]) == ["cursor", "limit", "sort", "status"]


def test_listing_needs_the_read_scope(ingest: IngestProcess) -> None:
    writer = new_client(ingest, scopes=("notifications:write",))
    with ingest.client(writer.secret) as http:
        r = http.get(URL)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
