"""``GET /api/v1/notifications``: the caller's events, newest first, a page at a time. No HTTP.

The order is one total order (accepted time, newest first, then id: ``listing_member``), and
the cursor is the position of the last entry a page examined, so every event is listed
exactly once across pages: an event accepted while a client pages is newer than its cursor
and shows on a new first page, never between two pages. Filters read each candidate's state;
a page examines at most ``TIDINGS_INGEST__LIST_SCAN_MAX`` entries, so a rare filter answers
a short (even empty) page with a cursor instead of scanning a tenant's whole history.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tidings.contracts.partitioning import tenant_partition
from tidings.contracts.state import Stage, public_view
from tidings.domain.clients import ApiClient
from tidings.errors import FieldError, ValidationFailed
from tidings.stores.listing import accepted_before, member_parts
from tidings_ingest.admission import newest_state
from tidings_ingest.runtime import Runtime

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
FILTERS = ("status", "type", "source_reference", "created_after", "created_before")
Visible = Callable[[ApiClient, str | None], bool]  # reader, creator client id -> may see


@dataclass(frozen=True)
class Filters:
    """What a list page and a stream select; the same parameters for both."""

    status: str | None = None
    type: str | None = None
    source_reference: str | None = None
    created_after: int | None = None  # accepted_at >= this (epoch ms)
    created_before: int | None = None  # accepted_at < this

    def admits(self, record: Mapping[str, Any]) -> bool:
        """``record``: a state record (or the accepted one derived from the events log)."""
        accepted = record.get("accepted_at")
        return (
            (self.status is None or record.get("stage") == self.status)
            and (self.type is None or record.get("type") == self.type)
            and (
                self.source_reference is None
                or record.get("source_reference") == self.source_reference
            )
            and (
                self.created_after is None
                or (accepted is not None and accepted >= self.created_after)
            )
            and (
                self.created_before is None
                or (accepted is not None and accepted < self.created_before)
            )
        )


def _epoch_ms(name: str, raw: str | None, errors: list[FieldError]) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 13:
        errors.append(FieldError(name, "epoch milliseconds expected"))
        return None
    return int(raw)


def parse_filters(params: Mapping[str, str], errors: list[FieldError]) -> Filters:
    status = params.get("status")
    if status is not None and status not in {s.value for s in Stage}:
        errors.append(FieldError("status", f"one of {', '.join(s.value for s in Stage)}"))
    return Filters(
        status=status,
        type=params.get("type"),
        source_reference=params.get("source_reference"),
        created_after=_epoch_ms("created_after", params.get("created_after"), errors),
        created_before=_epoch_ms("created_before", params.get("created_before"), errors),
    )


def parse_stream_filters(params: Mapping[str, str]) -> Filters:
    """The stream's query parameters (the list's filters), or 422 naming each bad one."""
    errors = [FieldError(name, "unknown parameter") for name in sorted(set(params) - set(FILTERS))]
    filters = parse_filters(params, errors)
    if errors:
        raise ValidationFailed("invalid stream parameters", errors=errors)
    return filters


@dataclass(frozen=True)
class Query:
    filters: Filters
    limit: int
    after: str | None  # the member the previous page ended at


def parse_query(params: Mapping[str, str]) -> Query:
    """The list's query parameters, or 422 naming each bad one."""
    errors: list[FieldError] = []
    unknown = sorted(set(params) - {*FILTERS, "limit", "cursor"})
    errors.extend(FieldError(name, "unknown parameter") for name in unknown)
    filters = parse_filters(params, errors)
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit")
    if raw_limit is not None:
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
            errors.append(FieldError("limit", f"an integer from 1 to {MAX_LIMIT}"))
    after = None
    if params.get("cursor") is not None:
        after = decode_cursor(params["cursor"])
        if after is None:
            errors.append(FieldError("cursor", "not a cursor of this list"))
    if errors:
        raise ValidationFailed("invalid list parameters", errors=errors)
    return Query(filters, limit, after)


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{member}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, member = raw.partition(":")
        member_parts(member)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return member if version == "v1" else None


class Listing:
    def __init__(self, runtime: Runtime, visible: Visible) -> None:
        self._rt = runtime
        self._visible = visible  # the one read-scoping rule, shared with GET and the stream

    async def page(self, client: ApiClient, query: Query) -> dict[str, Any]:
        return await asyncio.to_thread(self._page, client, query)

    def _catch_up(self, tenant: str) -> None:
        """Read-your-writes on every replica, as GET: the tenant's events partition is read
        to its end first, so a page right after a 202 lists that event."""
        rt = self._rt
        partition = tenant_partition(tenant, rt.topics.events.partitions)
        high = rt.events_barrier.high_watermarks([partition])[partition]
        if high > 0:
            rt.events_view.wait_for(partition, high - 1, rt.settings.ingest.produce_timeout_s)

    def _page(self, client: ApiClient, query: Query) -> dict[str, Any]:
        self._catch_up(client.tenant)
        found: list[dict[str, Any]] = []
        last: str | None = None
        budget = self._rt.settings.ingest.list_scan_max
        f = query.filters
        start = query.after
        if f.created_before is not None:  # seek past the newer ones instead of reading them
            start = max(start or "", accepted_before(f.created_before))
        members = self._members(client.tenant, start)
        for examined, member in enumerate(members, start=1):
            accepted_at, event_id = member_parts(member)
            if f.created_after is not None and accepted_at < f.created_after:
                return {"notifications": found, "next_cursor": None}  # older ones follow
            last = member
            record = self._record(client, event_id)
            if record is not None and f.admits(record):
                found.append(public_view(record))
                if len(found) == query.limit:
                    break
            if examined >= budget:
                break
        else:
            return {"notifications": found, "next_cursor": None}
        assert last is not None
        return {"notifications": found, "next_cursor": encode_cursor(last)}

    def _members(self, tenant: str, after: str | None) -> Iterator[str]:
        """Both sources merged in list order, each event once."""
        indexed = self._rt.states.newest(tenant, after)
        pending = self._rt.events.newest(tenant, after)
        previous = None
        for member in heapq.merge(indexed, pending):
            if member != previous:
                yield member
            previous = member

    def _record(self, client: ApiClient, event_id: str) -> dict[str, Any] | None:
        """The event's newest state, or its derived ``accepted`` one; None if not visible."""
        record = newest_state(self._rt, client.tenant, event_id)
        if record is None or not self._visible(client, record.get("client_id")):
            return None
        return record
