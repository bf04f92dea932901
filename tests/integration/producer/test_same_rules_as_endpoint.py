"""One rulebook: the library refuses what the endpoint refuses, case for case, same codes.

Each case runs through both ways in with the SAME client (a credential with a secret and a
signing key): a POST to the real ingest process, and ``NotificationProducer.send``.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess, new_client
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE
from tidings.errors import TidingsError
from tidings.ops.admin import CreatedClient, load_directory
from tidings.producer import NotificationProducer
from tidings.settings import Settings
from tidings.stores.clients import put_client

URL = "/api/v1/notifications"
NORTH = '{"tenant": "acme", "id": "n-1", "orgs": ["north"], "roles": ["editor"]}'


@dataclasses.dataclass
class Way:
    """One client, reachable over HTTP and through the library."""

    created: CreatedClient
    http: httpx.Client
    library: NotificationProducer

    def post(self, body: dict[str, Any], key: str | None = None) -> tuple[int, str | None]:
        headers = {} if key is None else {"Idempotency-Key": key}
        answer = self.http.post(URL, json=body, headers=headers)
        return answer.status_code, answer.json().get("code") if answer.status_code >= 400 else None

    def send(self, body: dict[str, Any], key: str | None = None) -> tuple[int, str | None]:
        try:
            self.library.send(body, idempotency_key=key)
        except TidingsError as exc:
            return exc.status, exc.code
        (ack,) = self.library.flush()
        assert ack.acknowledged, ack.error
        return 202, None


@pytest.fixture(scope="module")
def ways(ingest: IngestProcess) -> Iterator[Callable[..., Way]]:
    """Clients by their permissions, one producer each, made once per module."""
    load_directory(ingest.settings, [NORTH])
    made: dict[str, Way] = {}

    def way(scopes: tuple[str, ...] = (SCOPE_WRITE, SCOPE_READ), **kw: Any) -> Way:
        name = repr((scopes, sorted(kw.items())))
        if name not in made:
            created = new_client(ingest, "acme", scopes, signing_key=True, **kw)
            assert created.signing_key is not None
            library = NotificationProducer(
                ingest.settings,
                tenant="acme",
                client_id=created.client.client_id,
                signing_key=created.signing_key,
            )
            made[name] = Way(created, ingest.client(created.secret), library)
        return made[name]

    yield way
    for w in made.values():
        w.http.close()
        w.library.close()


def body(**overrides: Any) -> dict[str, Any]:
    return {**EXAMPLE, **overrides}


# (case, client permissions, body, Idempotency-Key, the endpoint's answer)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], str | None, tuple[int, str | None]]] = [
    ("accepted", {}, body(), None, (202, None)),
    ("unknown field", {}, body(tenant="globex"), None, (422, "validation_failed")),
    ("unregistered type", {}, body(type="content.deleted"), None, (422, "unknown_event_type")),
    ("unregistered version", {}, body(version=9), None, (422, "unknown_schema_version")),
    (
        "payload off schema",
        {},
        body(payload={"content_id": 5}),
        None,
        (422, "schema_validation_failed"),
    ),
    ("no recipients", {}, body(recipients={}), None, (422, "invalid_recipients")),
    (
        "rule outside the language",
        {},
        body(recipients={"rules": [{"attribute": "a", "near": 1}]}),
        None,
        (422, "invalid_recipients"),
    ),
    (
        "payload too large",
        {},
        body(payload={"content_id": "x" * 70_000}),
        None,
        (413, "payload_too_large"),
    ),
    (
        "unknown user",
        {},
        body(recipients={"users": ["u-1", "nobody"]}),
        None,
        (422, "invalid_recipients"),
    ),
    (
        "another tenant's user",
        {},
        body(recipients={"users": ["g-1"]}),
        None,
        (422, "invalid_recipients"),
    ),
    ("unknown role", {}, body(recipients={"roles": ["ghost"]}), None, (422, "invalid_recipients")),
    (
        "unknown group",
        {},
        body(recipients={"groups": ["ghost"]}),
        None,
        (422, "invalid_recipients"),
    ),
    ("empty Idempotency-Key", {}, body(), "", (400, "invalid_idempotency_key")),
    (
        "type outside the allow-list",
        {"event_types": ["invoice.*"]},
        body(),
        None,
        (403, "forbidden"),
    ),
    ("read-only client", {"scopes": (SCOPE_READ,)}, body(), None, (403, "forbidden")),
    (
        "recipient kind outside the targets",
        {"targets": ["users"]},
        body(recipients={"roles": ["editor"]}),
        None,
        (403, "recipients_not_allowed"),
    ),
    (
        "role outside the target pattern",
        {"targets": ["roles:view*"]},
        body(recipients={"roles": ["editor"]}),
        None,
        (403, "recipients_not_allowed"),
    ),
    (
        "user outside the client's organization",
        {"org": "north"},
        body(recipients={"users": ["u-1"]}),
        None,
        (422, "invalid_recipients"),
    ),
    (
        "user inside the client's organization",
        {"org": "north"},
        body(recipients={"users": ["n-1"]}),
        None,
        (202, None),
    ),
]


@pytest.mark.parametrize(
    ("permissions", "request_body", "key", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_library_answers_every_case_with_the_endpoints_code(
    ways: Callable[..., Way],
    permissions: dict[str, Any],
    request_body: dict[str, Any],
    key: str | None,
    expected: tuple[int, str | None],
) -> None:
    way = ways(**permissions)
    assert way.post(request_body, key) == expected
    assert way.send(request_body, key) == expected


def test_a_revoked_client_is_401_on_both_ways(ways: Callable[..., Way], seeded: Settings) -> None:
    way = ways(event_types=["content.*"])  # a client of its own: revoked for good here
    put_client(seeded, dataclasses.replace(way.created.client, revoked=True))
    deadline = time.monotonic() + 30
    while way.post(body()) != (401, "unauthenticated"):
        assert time.monotonic() < deadline, "the ingest never saw the revocation"
        time.sleep(0.2)
    while way.send(body()) != (401, "unauthenticated"):
        assert time.monotonic() < deadline, "the library never saw the revocation"
        time.sleep(0.2)


def test_a_key_reused_with_another_body_is_422_on_each_way(ways: Callable[..., Way]) -> None:
    way = ways()
    other = body(payload={"content_id": "another"})
    http_key, library_key = f"h-{uuid.uuid4()}", f"l-{uuid.uuid4()}"
    assert way.post(body(), http_key) == (202, None)
    assert way.post(other, http_key) == (422, "idempotency_key_reused")
    assert way.send(body(), library_key) == (202, None)
    assert way.send(other, library_key) == (422, "idempotency_key_reused")


def test_a_key_first_used_over_http_is_refused_to_the_library_for_another_body(
    ways: Callable[..., Way],
) -> None:
    way = ways()
    key = f"x-{uuid.uuid4()}"
    assert way.post(body(), key) == (202, None)
    deadline = time.monotonic() + 20  # until the library's events view has read that record
    while way.library.views.recent.first("acme", key) is None:
        assert time.monotonic() < deadline, "the library never saw the first use"
        time.sleep(0.1)
    other = body(payload={"content_id": "another"})
    assert way.send(other, key) == (422, "idempotency_key_reused")
    assert way.send(body(), key) == (202, None)  # the same request is a safe retry


def test_a_key_first_used_by_the_library_is_refused_over_http_for_another_body(
    ways: Callable[..., Way], seeded: Settings
) -> None:
    way = ways()
    key = f"y-{uuid.uuid4()}"
    assert way.send(body(), key) == (202, None)
    # Whether or not the ingest has read the library's record yet, the log orders the two
    # and the first use wins (notifications.py ``_first_in_log``).
    assert way.post(body(payload={"content_id": "another"}), key) == (422, "idempotency_key_reused")
