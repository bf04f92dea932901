"""Batch answers that need no broker (``tidings_ingest.batch``): where a failing item's field
is pointed at, and which code a failing batch answers with."""

from __future__ import annotations

import pytest

from tidings.errors import (
    FieldError,
    Forbidden,
    InvalidRecipients,
    RecipientsNotAllowed,
    SchemaValidationFailed,
    ValidationFailed,
)
from tidings_ingest.batch import batch_error, batch_items, pointer


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("payload.content_id", "/notifications/3/payload/content_id"),
        ("recipients.users[0]", "/notifications/3/recipients/users/0"),
        ("body", "/notifications/3"),
        ("payload.a/b~c", "/notifications/3/payload/a~1b~0c"),
    ],
)
def test_a_field_path_becomes_a_json_pointer_into_the_batch(path: str, expected: str) -> None:
    assert pointer(3, path) == expected


def test_items_failing_alike_answer_with_their_own_code() -> None:
    failed = [
        (1, SchemaValidationFailed("x", errors=[FieldError("payload.a", "bad")])),
        (4, SchemaValidationFailed("x", errors=[FieldError("payload.b", "bad")])),
    ]
    error = batch_error(failed)
    assert (error.status, error.code) == (422, "schema_validation_failed")
    assert [e.path for e in error.errors] == [
        "/notifications/1/payload/a",
        "/notifications/4/payload/b",
    ]


def test_items_failing_differently_answer_validation_failed() -> None:
    failed = [(0, InvalidRecipients("x")), (2, ValidationFailed("y"))]
    error = batch_error(failed)
    assert (error.status, error.code) == (422, "validation_failed")
    assert [e.path for e in error.errors] == ["/notifications/0", "/notifications/2"]


def test_a_forbidden_item_makes_the_batch_403() -> None:
    error = batch_error([(0, ValidationFailed("y")), (1, Forbidden("type"))])
    assert isinstance(error, Forbidden)
    assert error.code == "forbidden"


def test_items_refused_by_targets_alone_answer_recipients_not_allowed() -> None:
    failed = [(0, ValidationFailed("y")), (2, RecipientsNotAllowed("roles"))]
    error = batch_error(failed)
    assert (error.status, error.code) == (403, "recipients_not_allowed")
    assert [e.path for e in error.errors] == ["/notifications/0", "/notifications/2"]


def test_items_forbidden_for_different_reasons_answer_forbidden() -> None:
    error = batch_error([(0, RecipientsNotAllowed("roles")), (1, Forbidden("type"))])
    assert (error.status, error.code) == (403, "forbidden")


@pytest.mark.parametrize(
    "body", [[], {}, {"notifications": []}, {"notifications": {}}, {"notifications": [{}], "x": 1}]
)
def test_a_body_of_another_shape_is_422(body: object) -> None:
    with pytest.raises(ValidationFailed):
        batch_items(body, 100)


def test_more_items_than_the_limit_is_422() -> None:
    with pytest.raises(ValidationFailed) as raised:
        batch_items({"notifications": [{}] * 101}, 100)
    assert raised.value.errors[0].path == "/notifications"
    assert len(batch_items({"notifications": [{}] * 100}, 100)) == 100
