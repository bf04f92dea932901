"""An events-topic record turned into a trusted event, or a stable reason it is refused.

Every check of the HTTP path runs again here, because internal systems and console tools
write straight to the topic: decoding by content-type, proof of origin (with a direct
producer's write scope, organization and event types), payload schema, rule syntax and, for
direct producers, targeting permissions. The payload of an event under the ingest's MAC is
not validated again: the ingest validated it against the schema version it names, a
registered version never changes, and only a holder of the service key (who may forge any
event) could make a MAC'ed event the ingest never checked (6 % of the resolver's CPU).
Every refusal is permanent (``Invalid``): retrying cannot make it valid. Recipients are
resolved inside the event's organization (``org``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tidings.contracts import headers as h
from tidings.contracts.codec import CONTENT_TYPE_BINARY, CONTENT_TYPE_JSON, Codec
from tidings.contracts.topics import tenant_of_key
from tidings.domain.clients import ClientRegistry
from tidings.domain.origin import OriginRejected, verify_origin
from tidings.domain.payload_schemas import PayloadSchemas
from tidings.domain.rules import Rule
from tidings.domain.service_mac import ServiceKeyRing, is_service_signer
from tidings.errors import TidingsError
from tidings_resolver.resolution import parse_stored_rules


class Invalid(Exception):
    """A permanent refusal: state ``rejected`` (when the record names an event) + dead letter."""

    def __init__(
        self,
        error_class: str,
        detail: str,
        event_id: str | None,
        tenant: str | None,
        *,
        proven: bool = False,
        client_id: str | None = None,
        own_state: bool = True,
    ) -> None:
        super().__init__(f"{error_class}: {detail}")
        self.error_class, self.detail = error_class, detail
        self.event_id, self.tenant = event_id, tenant
        self.proven = proven  # origin verified: the event is who it says it is
        self.client_id = client_id  # its proven creator (its readers are that client's org's)
        # False: the event id is another event's (a key reused with another body), whose state
        # this refusal must not touch; the dead letter alone tells it.
        self.own_state = own_state


@dataclass(frozen=True)
class InboundEvent:
    event: dict[str, Any]
    rules: list[Rule]
    org: str | None = None  # recipients resolve inside it; None: the whole tenant
    # Signed by a direct producer (not vouched for by the ingest's MAC): its recipients and its
    # Idempotency-Key are checked at processing time (handler.py), as the endpoint checks them.
    direct: bool = False

    @property
    def event_id(self) -> str:
        return str(self.event["event_id"])

    @property
    def tenant(self) -> str:
        return str(self.event["tenant"])


# Origin reasons the endpoint answers with a code of its own (403 ``forbidden``, the reason as
# its detail): a direct producer's record breaking them ends with that code.
FORBIDDEN = frozenset({"write_scope_missing", "type_not_allowed"})

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _header_event_id(headers: Mapping[str, bytes]) -> str | None:
    """The id in its canonical form; one that is already (every id Tidings writes) is taken
    as it is: parsing it into a ``uuid.UUID`` and back was 3 % of the resolver's samples."""
    text = h.text(headers, h.EVENT_ID)
    if not text:
        return None
    if _CANONICAL_UUID.fullmatch(text):
        return text
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def read_event(
    key: bytes | None,
    value: bytes | None,
    headers: Mapping[str, bytes],
    codec: Codec,
    clients: ClientRegistry,
    schemas: PayloadSchemas,
    catch_up_clients: Callable[[], object] = lambda: None,
    service_keys: ServiceKeyRing | None = None,
) -> InboundEvent:
    """The trusted event, or ``Invalid``. ``service_keys`` verifies the ingest's MACs (None:
    this process's ring, from its settings)."""
    # Until the origin is proven, the only tenant we may name is the record key's: that is
    # the partition the record is in, and the namespace its producer chose.
    key_tenant = tenant_of_key(key)
    claimed_id = _header_event_id(headers)
    if value is None:
        raise Invalid("corrupt_record", "the record has no value", claimed_id, key_tenant)
    content_type = h.text(headers, h.CONTENT_TYPE) or CONTENT_TYPE_BINARY
    try:
        event = codec.decode_value(value, content_type, "event")
        canonical = value if content_type != CONTENT_TYPE_JSON else codec.encode("event", event)
    except TidingsError as exc:
        raise Invalid(exc.code, exc.detail, claimed_id, key_tenant) from None
    except Exception:
        raise Invalid(
            "corrupt_record", "the record is not a decodable event", claimed_id, key_tenant
        ) from None
    event_id = _header_event_id({h.EVENT_ID: str(event["event_id"]).encode()}) or claimed_id
    try:
        try:
            signer = verify_origin(event, key, headers, canonical, clients, service_keys)
        except OriginRejected as exc:
            if exc.reason != "unknown_signer" or is_service_signer(h.text(headers, h.SIGNER) or ""):
                raise
            # A client registered a moment ago: read the clients topic up to now, once.
            catch_up_clients()
            signer = verify_origin(event, key, headers, canonical, clients, service_keys)
    except OriginRejected as exc:
        creator_id = str(event["source"]["client_id"])
        if exc.reason in FORBIDDEN:  # the signer is proven; its credential may not do this
            raise Invalid(
                "forbidden", exc.reason, event_id, key_tenant, proven=True, client_id=creator_id
            ) from None
        raise Invalid("origin_rejected", exc.reason, event_id, key_tenant) from None
    creator = str(event["source"]["client_id"])
    org: str | None = event.get("org")
    if signer is not None:
        # A direct producer: what the endpoint checks of its callers, checked here. Its
        # organization is its credential's, whatever the record says (origin refused a
        # record naming another one).
        org = signer.org
        scope = event["recipients"]
        try:
            signer.require_targets(scope["users"], scope["roles"], scope["groups"], scope["rules"])
        except TidingsError as exc:
            raise Invalid(
                exc.code, detail_of(exc), event_id, key_tenant, proven=True, client_id=creator
            ) from None
    try:
        if signer is not None:  # a direct producer's or a console's event: checked here
            payload = orjson.loads(event["payload"])
            schemas.validate(event["type"], event["version"], payload)
        rules = parse_stored_rules(event["recipients"]["rules"])
    except orjson.JSONDecodeError:
        raise Invalid(
            "schema_validation_failed",
            "payload is not JSON",
            event_id,
            key_tenant,
            proven=True,
            client_id=creator,
        ) from None
    except TidingsError as exc:
        raise Invalid(
            exc.code, detail_of(exc), event_id, key_tenant, proven=True, client_id=creator
        ) from None
    return InboundEvent(event, rules, org, direct=signer is not None)


def detail_of(exc: TidingsError) -> str:
    """A refusal's detail with the fields it names (what the dead letter says)."""
    fields = "; ".join(f"{e.path}: {e.message}" for e in exc.errors)
    return f"{exc.detail} ({fields})" if fields else exc.detail
