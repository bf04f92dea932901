"""Schema evolution is judged by Apache Avro's reader/writer compatibility checker."""

from __future__ import annotations

from tests.support.schemas import INCOMPATIBLE, V1, V2
from tidings.domain.compatibility import Compatibility, incompatibilities


def test_v2_is_backward_compatible_with_v1() -> None:
    assert incompatibilities(V2, [V1]) == []


def test_v2_is_fully_compatible_with_v1_because_its_new_fields_are_optional() -> None:
    assert incompatibilities(V2, [V1], Compatibility.FULL) == []


def test_the_candidate_cannot_read_earlier_data_and_every_version_is_named() -> None:
    problems = incompatibilities(INCOMPATIBLE, [V1, V2])
    assert [p.split(":")[0] for p in problems] == ["cannot read v1 data", "cannot read v2 data"]
    assert all("reviewer_email" in p for p in problems)


def test_the_candidate_is_forward_compatible_since_old_readers_ignore_new_fields() -> None:
    assert incompatibilities(INCOMPATIBLE, [V1, V2], Compatibility.FORWARD) == []


def test_removing_a_required_field_breaks_forward_compatibility() -> None:
    without_content_id = {**V1, "fields": []}
    assert incompatibilities(without_content_id, [V1], Compatibility.FORWARD) != []


def test_mode_none_accepts_anything() -> None:
    assert incompatibilities(INCOMPATIBLE, [V1, V2], Compatibility.NONE) == []
