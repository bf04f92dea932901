"""Payload schemas: lookup by type and version, validation, and the registration check."""

from __future__ import annotations

import pytest

from tests.support.schemas import INCOMPATIBLE, V1, V2
from tidings.domain.compatibility import Compatibility
from tidings.domain.payload_schemas import PayloadSchema, PayloadSchemas, bundled_payload_schemas
from tidings.errors import (
    SchemaIncompatible,
    SchemaValidationFailed,
    UnknownEventType,
    UnknownSchemaVersion,
)

TYPE = "content.approved"


@pytest.fixture
def schemas() -> PayloadSchemas:
    return PayloadSchemas(bundled_payload_schemas())


def test_bundled_schemas_are_content_approved_v1_and_v2_in_order() -> None:
    assert [(s.type, s.version) for s in bundled_payload_schemas()] == [(TYPE, 1), (TYPE, 2)]


def test_no_version_resolves_to_the_newest(schemas: PayloadSchemas) -> None:
    assert schemas.resolve(TYPE).version == 2


def test_unknown_type_is_rejected(schemas: PayloadSchemas) -> None:
    with pytest.raises(UnknownEventType):
        schemas.resolve("content.deleted")


def test_unknown_version_is_rejected(schemas: PayloadSchemas) -> None:
    with pytest.raises(UnknownSchemaVersion):
        schemas.resolve(TYPE, 9)


def test_a_payload_matching_its_version_validates(schemas: PayloadSchemas) -> None:
    assert schemas.validate(TYPE, 1, {"content_id": "c-1"}).version == 1


def test_a_missing_required_field_is_reported_under_payload(schemas: PayloadSchemas) -> None:
    with pytest.raises(SchemaValidationFailed) as raised:
        schemas.validate(TYPE, 2, {"title": "x"})
    assert "payload.content_id" in [e.path for e in raised.value.errors]


def test_an_unknown_field_is_reported_not_dropped(schemas: PayloadSchemas) -> None:
    with pytest.raises(SchemaValidationFailed) as raised:
        schemas.validate(TYPE, 1, {"content_id": "c-1", "extra": 1})
    assert [(e.path, e.message) for e in raised.value.errors] == [
        ("payload.extra", "unknown field")
    ]


def test_a_payload_that_is_not_an_object_is_rejected(schemas: PayloadSchemas) -> None:
    with pytest.raises(SchemaValidationFailed):
        schemas.validate(TYPE, 1, ["c-1"])


def test_a_backward_compatible_next_version_is_accepted() -> None:
    schemas = PayloadSchemas([PayloadSchema.build(TYPE, 1, V1)])
    assert schemas.check_candidate(TYPE, 2, V2, Compatibility.BACKWARD).version == 2


def test_an_incompatible_candidate_is_refused_with_reasons(schemas: PayloadSchemas) -> None:
    with pytest.raises(SchemaIncompatible) as raised:
        schemas.check_candidate(TYPE, 3, INCOMPATIBLE, Compatibility.BACKWARD)
    assert len(raised.value.errors) == 2


def test_a_registered_version_cannot_change_its_schema(schemas: PayloadSchemas) -> None:
    with pytest.raises(SchemaIncompatible):
        schemas.check_candidate(TYPE, 1, V2, Compatibility.NONE)


def test_the_identical_schema_passes_the_check_again(schemas: PayloadSchemas) -> None:
    assert schemas.check_candidate(TYPE, 2, V2, Compatibility.BACKWARD).schema == V2


def test_a_removed_version_no_longer_resolves(schemas: PayloadSchemas) -> None:
    schemas.remove(TYPE, 2)
    assert schemas.resolve(TYPE).version == 1


def test_withdrawing_every_version_makes_the_type_unknown(schemas: PayloadSchemas) -> None:
    schemas.remove(TYPE, 1)
    schemas.remove(TYPE, 2)
    assert TYPE not in schemas.types()
    with pytest.raises(UnknownEventType):
        schemas.resolve(TYPE)
