"""The Idempotency-Key rule, one for every way in (HTTP header and producer library).

A key is 1 to 255 printable ASCII characters, scoped to the tenant, or to the organization
when the client acts for one (``scoped_key``): a key of one organization never answers, or
is refused, for another. Over HTTP it arrives as a header, either a quoted RFC 8941 sf-string
(the IETF draft's form) or a bare value.
"""

from __future__ import annotations

import re

from tidings.errors import IdempotencyKeyExpired, IdempotencyKeyReused, InvalidIdempotencyKey

MAX_KEY_LENGTH = 255
# RFC 8941 sf-string: printable ASCII, with only \\ and \" escaped inside the quotes.
_SF_STRING = re.compile(r'^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\\"])*)"$')
_BARE = re.compile(r"^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$")


def scoped_key(key: str, org: str | None) -> str:
    """The key as it names an event among its tenant's: a tenant-wide client's key as it is,
    an organization's prefixed by it (keys are printable ASCII, so the newline cannot occur
    in one and two scopes never meet)."""
    return key if org is None else f"{org}\n{key}"


def check_key(key: str | None) -> str | None:
    """The key itself, or 400 ``invalid_idempotency_key`` (None: no key given)."""
    if key is None:
        return None
    if not all(0x20 <= ord(c) <= 0x7E for c in key):
        raise InvalidIdempotencyKey("the Idempotency-Key must be printable ASCII")
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"the Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return key


def parse_header(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header, or None when absent. A quoted sf-string and a
    bare printable-ASCII value are both accepted; anything else is 400."""
    if raw is None:
        return None
    value = raw.strip(" \t")
    quoted = _SF_STRING.match(value)
    if quoted:
        value = re.sub(r"\\(.)", r"\1", quoted.group(1))
    elif value.startswith('"') or not _BARE.match(value):
        raise InvalidIdempotencyKey("the Idempotency-Key must be printable ASCII")
    return check_key(value)


def require_same_request(first: str | None, fingerprint: str | None) -> None:
    """422 ``idempotency_key_reused`` unless a key's first request had this fingerprint (the
    canonical body's): the same answer over HTTP and from the producer library."""
    if first != fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for another request")


def require_key_owner(
    first: str | None,
    first_accepted_at: int | None,
    fingerprint: str | None,
    at: int,
    window_ms: int,
) -> None:
    """A record under a key whose event the log already holds (the resolver's side of the rule):
    nothing when it is that event again (same fingerprint, or the first one's is unknown: a
    duplicate, dropped); otherwise 422 ``idempotency_key_reused`` within the key window and
    ``idempotency_key_expired`` after it, as the endpoint answers a new request under it."""
    if first is None or first == fingerprint:
        return
    if first_accepted_at is not None and first_accepted_at + window_ms <= at:
        raise IdempotencyKeyExpired(
            "this Idempotency-Key created another event before the key window; use a new key"
        )
    require_same_request(first, fingerprint)
