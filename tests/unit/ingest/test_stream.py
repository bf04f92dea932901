"""SSE framing and resume ids (``tidings_ingest.stream``): an id names one state record's
place on the state topic, and only ids of the caller's partition resume."""

from __future__ import annotations

import pytest

from tidings.contracts.state import Stage, state_record
from tidings.errors import ValidationFailed
from tidings_ingest.statefeed import Change
from tidings_ingest.stream import resume_after, sse


def test_an_event_carries_its_partition_and_offset_as_id_and_the_get_view_as_data() -> None:
    record = state_record("e-1", "acme", Stage.RESOLVED, accepted_at=1, at=2)
    frame = sse(Change(3, 41, record)).decode()
    lines = frame.split("\n")
    assert lines[:2] == ["id: 3-41", "event: state"]
    assert lines[2].startswith('data: {"id":"e-1","status":"resolved"')
    assert frame.endswith("\n\n")


def test_last_event_id_resumes_after_its_offset() -> None:
    assert resume_after("3-41", 3) == 41
    assert resume_after(None, 3) is None
    assert resume_after("  ", 3) is None


@pytest.mark.parametrize("raw", ["2-41", "3:41", "3-", "x", "3-41-1"])
def test_an_id_this_stream_never_sent_is_422(raw: str) -> None:
    with pytest.raises(ValidationFailed):
        resume_after(raw, 3)
