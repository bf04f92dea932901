"""List and stream parameters (``tidings_ingest.listing``): what a page selects, and 422s
that name each bad parameter."""

from __future__ import annotations

import pytest

from tidings.errors import ValidationFailed
from tidings.stores.listing import listing_member
from tidings_ingest.listing import (
    DEFAULT_LIMIT,
    Filters,
    decode_cursor,
    encode_cursor,
    parse_query,
    parse_stream_filters,
)


def test_a_cursor_round_trips_and_anything_else_is_refused() -> None:
    member = listing_member(1_700_000_000_000, "e-1")
    assert decode_cursor(encode_cursor(member)) == member
    for bad in ["", "zzz", encode_cursor("not-a-member"), "djI6eA"]:
        assert decode_cursor(bad) is None


def test_defaults_select_everything_a_page_of_fifty() -> None:
    query = parse_query({})
    assert (query.filters, query.limit, query.after) == (Filters(), DEFAULT_LIMIT, None)


def test_every_bad_parameter_is_named() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_query({"status": "done", "limit": "500", "created_after": "-1", "order": "asc"})
    paths = sorted(e.path for e in raised.value.errors)
    assert paths == ["created_after", "limit", "order", "status"]


def test_the_stream_takes_the_filters_but_no_paging() -> None:
    assert parse_stream_filters({"status": "dispatched"}) == Filters(status="dispatched")
    with pytest.raises(ValidationFailed):
        parse_stream_filters({"cursor": "x"})


def test_filters_compare_stage_type_reference_and_a_half_open_time_range() -> None:
    record = {"stage": "resolved", "type": "t", "source_reference": "r", "accepted_at": 100}
    assert Filters(status="resolved", type="t", source_reference="r").admits(record)
    assert not Filters(status="dispatched").admits(record)
    assert Filters(created_after=100, created_before=101).admits(record)
    assert not Filters(created_before=100).admits(record)
    assert not Filters(created_after=101).admits(record)
