"""The endpoint's admission rules as the library applies them, with the endpoint's codes.

Every rule is the shared one (``domain.clients``, ``domain.idempotency``, ``stores.events``);
this module only puts them in the endpoint's order (docs/ingest.md): credential (401), scope
(403), then after the request is parsed: event type (403), targets (403
``recipients_not_allowed``), Idempotency-Key reuse (422). Recipients are then checked
against the directory by ``validate_request``, as over HTTP.

A producer has no bearer secret: its credential is its client record (found, not revoked,
of the producer's tenant) and a signing key whose public half is the one in that record.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from tidings.domain.clients import SCOPE_WRITE, ApiClient, ClientRegistry
from tidings.domain.envelope import NotificationRequest
from tidings.domain.idempotency import require_same_request
from tidings.errors import Unauthenticated
from tidings.stores.events import RecentEvents

KEYS_REMEMBERED = 100_000
"""Keys this producer used lately, kept until the events view has surely seen them."""


@dataclass(frozen=True)
class Credential:
    client_id: str
    tenant: str
    public_key: str


class Rulebook:
    """What decides, per request, whether the endpoint would have accepted it."""

    def __init__(
        self, credential: Credential, clients: ClientRegistry, recent: RecentEvents
    ) -> None:
        self.credential = credential
        self._clients = clients
        self._recent = recent
        # Key -> fingerprint of what this producer sent: the events view sees a record only
        # after it is written, so a reuse right after the first send is caught here.
        self._sent: OrderedDict[str, str] = OrderedDict()

    def client(self) -> ApiClient:
        """The producer's client record as of now: 401 as over HTTP when it is missing,
        revoked, of another tenant or holds another key; 403 without the write scope."""
        me = self.credential
        client = self._clients.get(me.client_id)
        if (
            client is None
            or client.revoked
            or client.tenant != me.tenant
            or client.public_key != me.public_key
        ):
            raise Unauthenticated("missing or invalid credential")
        client.require_scope(SCOPE_WRITE)
        return client

    def admit(self, client: ApiClient, request: NotificationRequest) -> None:
        """Event type and targets of a parsed request."""
        client.require_type(request.type)
        scope = request.recipients
        client.require_targets(scope.users, scope.roles, scope.groups, scope.rules)

    def check_key(self, client: ApiClient, key: str, fingerprint: str) -> None:
        """422 ``idempotency_key_reused`` when the key's first use in the client's scope (its
        tenant or organization; in the log within the key window, or by this producer) was
        for another request."""
        first = self._recent.first(client.tenant, key, client.org)
        if first is not None:
            require_same_request(first.fingerprint, fingerprint)
        sent = self._sent.get(key)
        if sent is not None:
            require_same_request(sent, fingerprint)

    def sent(self, key: str, fingerprint: str) -> None:
        """Remember a key's first use by this producer (bounded: oldest forgotten first)."""
        if key in self._sent:
            return
        self._sent[key] = fingerprint
        if len(self._sent) > KEYS_REMEMBERED:
            self._sent.popitem(last=False)
