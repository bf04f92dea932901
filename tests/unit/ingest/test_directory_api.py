"""Directory entries over HTTP are parsed as file lines are (one parser), and errors point
into the body by JSON pointer."""

from __future__ import annotations

import orjson
import pytest

from tidings.errors import ValidationFailed
from tidings.ops.admin import parse_directory_lines
from tidings_ingest.directory_api import entry_view, left, parse_batch, parse_entry, pointer

LINE = {
    "roles": ["editor"],
    "groups": ["legal"],
    "orgs": ["north"],
    "attributes": {"plan": "pro"},
    "channels": {"email": "a@x.test"},
    "muted": ["sms"],
}


def paths(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[str]:
    return [e.path for e in exc.value.errors]


def test_an_entry_is_the_user_the_file_loader_reads_from_the_same_line() -> None:
    line = orjson.dumps({"tenant": "acme", "id": "u-1", **LINE})
    [(_, from_file, _)] = list(parse_directory_lines([line]))
    assert parse_entry("acme", "u-1", LINE) == from_file


def test_the_view_is_the_file_format_without_tenant() -> None:
    view = entry_view(parse_entry("acme", "u-1", LINE))
    assert view == {"id": "u-1", "active": True, **LINE}


def test_tenant_in_the_body_is_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_entry("acme", "u-1", {"tenant": "acme"})
    assert paths(exc) == ["/tenant"]


def test_unknown_fields_and_bad_values_are_pointed_at() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_entry("acme", "u-1", {"channels": {"email": 1}, "nickname": "x"})
    assert sorted(paths(exc)) == ["/channels/email", "/nickname"]


def test_a_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_entry("acme", "u-1", ["roles"])
    assert paths(exc) == ["/"]


def test_batch_errors_name_the_item() -> None:
    users = [{"id": "a"}, {"id": "b", "roles": "editor"}, {"roles": []}, {"id": "a"}]
    with pytest.raises(ValidationFailed) as exc:
        parse_batch("acme", {"users": users}, 100)
    assert paths(exc) == ["/users/1/roles", "/users/2/id", "/users/3/id"]


def test_batch_over_the_limit_is_refused_as_a_whole() -> None:
    with pytest.raises(ValidationFailed) as exc:
        parse_batch("acme", {"users": [{"id": str(i)} for i in range(3)]}, 2)
    assert paths(exc) == ["/users"]


def test_a_deleted_user_is_inactive_and_in_no_role_group_or_organization() -> None:
    gone = entry_view(left(parse_entry("acme", "u-1", LINE)))
    assert (gone["active"], gone["roles"], gone["groups"], gone["orgs"]) == (False, [], [], [])
    assert gone["channels"] == LINE["channels"]


def test_pointer_escapes_slashes_and_tildes() -> None:
    assert pointer("channels", "a/b~c", 3) == "/channels/a~1b~0c/3"
