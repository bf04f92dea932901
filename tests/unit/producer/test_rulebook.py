"""The library's rulebook: the endpoint's credential, scope, type, target, key-reuse and
recipient rules, in the endpoint's order (no broker: registry, directory and log in memory)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from tests.support.recent import recent_events
from tidings.contracts.codec import Codec
from tidings.domain.clients import SCOPE_READ, SCOPE_WRITE, ApiClient, ClientRegistry
from tidings.domain.directory import Directory, DirectoryLine, User
from tidings.domain.envelope import event_id_for, parse_request, request_fingerprint
from tidings.domain.payload_schemas import PayloadSchemas, bundled_payload_schemas
from tidings.domain.signing import Signer, generate_private_key
from tidings.domain.targets import parse_targets
from tidings.errors import TidingsError
from tidings.producer import EventPreparer
from tidings.producer.rulebook import Credential, Rulebook
from tidings.settings import LimitSettings
from tidings.stores.events import Appended, RecentEvents

KEY = generate_private_key()
PUBLIC = Signer("c-direct", KEY).public_key
SCHEMAS = PayloadSchemas(bundled_payload_schemas())
BODY: dict[str, Any] = {
    "type": "content.approved",
    "recipients": {"users": ["u-1"]},
    "payload": {"content_id": "c"},
}
CLIENT = ApiClient("c-direct", "acme", "h", (SCOPE_WRITE,), public_key=PUBLIC)


def directory() -> Directory:
    found = Directory()
    found.put(
        User.from_line(DirectoryLine(tenant="acme", id="u-1", roles=["editor"], orgs=["north"]))
    )
    return found


def preparer(
    client: ApiClient | None = CLIENT, recent: RecentEvents | None = None
) -> EventPreparer:
    clients = ClientRegistry()
    if client is not None:
        clients.put(client)
    rules = Rulebook(
        Credential("c-direct", "acme", PUBLIC), clients, recent or RecentEvents(60_000)
    )
    return EventPreparer(
        tenant="acme",
        signer=Signer("c-direct", KEY),
        schemas=lambda: SCHEMAS,
        limits=LimitSettings(),
        codec=Codec(),
        rulebook=rules,
        directory=directory(),
    )


def refused(p: EventPreparer, body: dict[str, Any], key: str | None = None) -> tuple[int, str]:
    with pytest.raises(TidingsError) as raised:
        p.encode(body, key)
    return raised.value.status, raised.value.code


@pytest.mark.parametrize(
    "client",
    [
        None,
        replace(CLIENT, revoked=True),
        replace(CLIENT, tenant="globex"),
        replace(CLIENT, public_key=Signer("c-direct", generate_private_key()).public_key),
    ],
    ids=["missing", "revoked", "other tenant", "other key"],
)
def test_a_credential_the_endpoint_would_not_authenticate_is_401(client: ApiClient | None) -> None:
    assert refused(preparer(client), BODY) == (401, "unauthenticated")


def test_a_client_without_the_write_scope_is_403_before_its_key_is_looked_at() -> None:
    read_only = replace(CLIENT, scopes=(SCOPE_READ,))
    assert refused(preparer(read_only), BODY, "tab\there") == (403, "forbidden")


def test_the_client_records_type_allow_list_applies() -> None:
    narrowed = replace(CLIENT, event_types=("invoice.*",))
    assert refused(preparer(narrowed), BODY) == (403, "forbidden")


def test_the_client_records_targets_apply() -> None:
    users_only = replace(CLIENT, targets=parse_targets(["users"]))
    body = {**BODY, "recipients": {"roles": ["editor"]}}
    assert refused(preparer(users_only), body) == (403, "recipients_not_allowed")


def test_an_unknown_user_is_422_invalid_recipients_not_skipped_later() -> None:
    body = {**BODY, "recipients": {"users": ["u-1", "nobody"]}}
    assert refused(preparer(), body) == (422, "invalid_recipients")


@contextmanager
def first_use(body: dict[str, Any], key: str, org: str | None = None) -> Iterator[RecentEvents]:
    with recent_events(60_000) as recent:
        fingerprint = request_fingerprint(parse_request(body))
        now = int(time.time() * 1000)
        appended = Appended("e", "acme", "content.approved", 2, fingerprint, now, "c", None, 0, 0)
        recent.add(appended, key, org)
        yield recent


def test_a_key_first_used_in_the_log_for_another_body_is_422() -> None:
    with first_use({**BODY, "payload": {"content_id": "first"}}, "k-1") as recent:
        assert refused(preparer(recent=recent), BODY, "k-1") == (422, "idempotency_key_reused")


def test_a_key_first_used_in_the_log_for_the_same_body_is_a_safe_retry() -> None:
    with first_use(BODY, "k-1") as recent:
        event = preparer(recent=recent).encode(BODY, "k-1")
    assert event.envelope["idempotency_key"] == "k-1"


def test_a_key_this_producer_used_for_another_body_is_422_before_the_log_shows_it() -> None:
    p = preparer()
    p.encode(BODY, "k-2")
    other = {**BODY, "payload": {"content_id": "other"}}
    assert refused(p, other, "k-2") == (422, "idempotency_key_reused")
    p.encode(BODY, "k-2")  # the same request again is still a retry


def test_a_key_another_organization_used_is_free_for_this_one() -> None:
    north = replace(CLIENT, org="north")
    other = {**BODY, "payload": {"content_id": "other"}}
    with first_use(other, "k-1", org="south") as recent:
        event = preparer(north, recent=recent).encode(BODY, "k-1")
    assert event.event_id == event_id_for("acme", "k-1", "north")
    with first_use(other, "k-1") as recent:  # a tenant-wide client's key: not north's either
        preparer(north, recent=recent).encode(BODY, "k-1")
    with first_use(other, "k-1", org="north") as recent:
        assert refused(preparer(north, recent=recent), BODY, "k-1") == (
            422,
            "idempotency_key_reused",
        )
