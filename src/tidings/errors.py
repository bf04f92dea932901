"""One error root. Each error knows its stable code, HTTP status and whether a retry may help.

Codes are public API (docs/errors.md) and are never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str


class TidingsError(Exception):
    code = "internal_error"
    status = 500
    title = "Internal error"
    retriable = False

    def __init__(self, detail: str = "", *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors: list[FieldError] = errors or []


class MalformedRequest(TidingsError):
    code, status, title = "malformed_request", 400, "Malformed request"


class InvalidIdempotencyKey(TidingsError):
    code, status, title = "invalid_idempotency_key", 400, "Invalid Idempotency-Key"


class Unauthenticated(TidingsError):
    code, status, title = "unauthenticated", 401, "Authentication required"


class Forbidden(TidingsError):
    code, status, title = "forbidden", 403, "Forbidden"


class RecipientsNotAllowed(Forbidden):
    """A recipient kind or name outside the client's targets (``--target``)."""

    code, title = "recipients_not_allowed", "Recipients not allowed"


class NotFound(TidingsError):
    code, status, title = "not_found", 404, "Not found"


class IdempotencyKeyInFlight(TidingsError):
    code, status, title = "idempotency_key_in_flight", 409, "Request with this key is in flight"
    retriable = True


class PayloadTooLarge(TidingsError):
    code, status, title = "payload_too_large", 413, "Payload too large"


class RequestTimeout(TidingsError):
    """The body did not arrive within the read deadline (a slow upload holds no worker)."""

    code, status, title = "request_timeout", 408, "Request timeout"
    retriable = True


class UnsupportedMediaType(TidingsError):
    code, status, title = "unsupported_media_type", 415, "Unsupported media type"


class ValidationFailed(TidingsError):
    code, status, title = "validation_failed", 422, "Validation failed"


class UnknownEventType(ValidationFailed):
    code, title = "unknown_event_type", "Unknown event type"


class UnknownSchemaVersion(ValidationFailed):
    code, title = "unknown_schema_version", "Unknown schema version"


class SchemaValidationFailed(ValidationFailed):
    code, title = "schema_validation_failed", "Payload does not match its schema"


class InvalidRecipients(ValidationFailed):
    code, title = "invalid_recipients", "Invalid recipients"


class IdempotencyKeyReused(ValidationFailed):
    code, title = "idempotency_key_reused", "Idempotency-Key reused with a different request"


class IdempotencyKeyExpired(ValidationFailed):
    """The key created an event before the key window: its event id is taken for good, so a
    new request under it can never be processed; the client must use a new key."""

    code, title = "idempotency_key_expired", "Idempotency-Key used before the key window"


class RateLimited(TidingsError):
    code, status, title = "rate_limited", 429, "Too many requests"
    retriable = True

    def __init__(self, detail: str = "", *, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(TidingsError):
    """The broker could not confirm the write in time; the outcome may be unknown."""

    code, status, title = "unavailable", 503, "Service unavailable"
    retriable = True


class BacklogExceeded(Unavailable):
    """The caller's partition holds more than the resolver drains within the bound; the
    wait (``Retry-After``) is computed from the measured drain rate."""

    code, title = "backlog_exceeded", "Backlog exceeded"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


# --- codec and contract errors: raised inside the pipeline, never shown to clients verbatim ---


class CodecError(TidingsError):
    code, status, title = "codec_error", 422, "Record cannot be decoded"


class UnknownFingerprint(CodecError):
    code, title = "unknown_fingerprint", "Unknown schema fingerprint"


class CorruptRecord(CodecError):
    code, title = "corrupt_record", "Truncated or corrupt record"


class RecordMismatch(CodecError):
    code, title = "record_mismatch", "Record does not match its schema"


class OriginRejected(CodecError):
    """A record on the events topic that does not prove where it came from (``reason``)."""

    code, title = "origin_rejected", "Proof of origin failed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SchemaIncompatible(TidingsError):
    code, status, title = "schema_incompatible", 422, "Schema version is not compatible"
