"""The OpenAPI 3.1 document of the API, written to match what the routes really answer
(a schemathesis contract test holds the two together)."""

from __future__ import annotations

from typing import Any

from tidings.domain.envelope import TYPE_PATTERN
from tidings.settings import Settings
from tidings_ingest.openapi_collection import collection_paths, collection_schemas
from tidings_ingest.openapi_directory import directory_paths, directory_schemas

_JSON = "application/json"
_PROBLEM = "application/problem+json"
_TEXT = "text/plain"
_RATE_HEADERS = {
    "RateLimit": {"schema": {"type": "string"}, "description": "draft-ietf-httpapi-ratelimit"},
    "RateLimit-Policy": {"schema": {"type": "string"}},
    "X-Request-ID": {"schema": {"type": "string"}},
}


def _problem(description: str, *, retry: bool = False, rate: bool = True) -> dict[str, Any]:
    headers: dict[str, Any] = dict(_RATE_HEADERS) if rate else {}
    if retry:
        headers["Retry-After"] = {"schema": {"type": "string"}, "required": True}
    return {
        "description": description,
        "headers": headers,
        "content": {_PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _unauthenticated() -> dict[str, Any]:
    out = _problem("missing, invalid or revoked credential (code unauthenticated)", rate=False)
    out["headers"]["WWW-Authenticate"] = {"schema": {"type": "string"}, "required": True}
    return out


def _names(limit: int) -> dict[str, Any]:
    return {
        "type": "array",
        "maxItems": limit,
        "items": {"type": "string", "minLength": 1, "maxLength": 128},
    }


def _schemas(settings: Settings) -> dict[str, Any]:
    listed = settings.limits.max_recipients_listed
    return {
        "NotificationRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["type", "recipients", "payload"],
            "properties": {
                "type": {"type": "string", "maxLength": 128, "pattern": TYPE_PATTERN},
                "recipients": {
                    "type": "object",
                    "additionalProperties": False,
                    "description": "at least one non-empty scope; names in the caller's tenant",
                    "properties": {
                        "users": _names(listed),
                        "roles": _names(listed),
                        "groups": _names(listed),
                        "rules": {"type": "array", "maxItems": settings.limits.max_rules},
                    },
                },
                "payload": {"type": "object", "description": "matches the registered schema"},
                "version": {"type": ["integer", "null"], "minimum": 1, "maximum": 100000},
                "source": {
                    "type": ["object", "null"],
                    "additionalProperties": False,
                    "properties": {"reference": {"type": ["string", "null"], "maxLength": 256}},
                },
            },
        },
        "Accepted": {
            "type": "object",
            "required": ["id", "status", "type", "version", "accepted_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "status": {"const": "accepted"},
                "type": {"type": "string"},
                "version": {"type": "integer"},
                "accepted_at": {"type": "integer", "description": "epoch milliseconds"},
            },
        },
        "NotificationState": {
            "type": "object",
            "required": ["id", "status", "updated_at"],
            "properties": {
                "id": {"type": "string"},
                "status": {
                    "enum": [
                        "accepted",
                        "resolving",
                        "retrying",
                        "resolved",
                        "dispatched",
                        "failed",
                        "rejected",
                    ]
                },
                "type": {"type": ["string", "null"]},
                "accepted_at": {"type": ["integer", "null"], "description": "epoch milliseconds"},
                "updated_at": {"type": "integer"},
                "position": {
                    "type": "integer",
                    "description": "while accepted: events ahead of it on its partition",
                },
                "estimated_dispatch_at": {
                    "type": ["integer", "null"],
                    "description": "while accepted: epoch ms at the measured drain rate; "
                    "null while nothing drains",
                },
                "attempt": {"type": "integer"},
                "next_attempt_at": {"type": ["integer", "null"]},
                "recipients": {"type": ["integer", "null"]},
                "deliveries": {"type": "object", "additionalProperties": {"type": "integer"}},
                "skipped": {"type": "object", "additionalProperties": {"type": "integer"}},
                "error": {"type": ["string", "null"]},
                "detail": {"type": ["string", "null"]},
                "history": {
                    "type": "array",
                    "description": "every stage the event went through, oldest first",
                    "items": {
                        "type": "object",
                        "required": ["stage", "at"],
                        "properties": {
                            "stage": {"type": "string"},
                            "at": {"type": "integer", "description": "epoch milliseconds"},
                            "attempt": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail", "code", "request_id"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "code": {"type": "string", "description": "stable; see docs/errors.md"},
                "request_id": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["path", "message"],
                        "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        },
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    common = {
        "401": _unauthenticated(),
        "403": _problem(
            "scope or event type not allowed (forbidden), or recipients outside the client's "
            "targets (recipients_not_allowed)"
        ),
        "429": _problem("rate limited (rate_limited)", retry=True),
        "500": _problem("internal_error; the body names only the request id"),
        "503": _problem("starting, or the broker is unavailable (unavailable)", retry=True),
    }
    create = {
        "operationId": "createNotification",
        "summary": "Append a notification event; 202 once it is durably committed.",
        "security": [{"bearer": []}],
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 257},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/NotificationRequest"}}},
        },
        "responses": {
            "202": {
                "description": "accepted; replays carry Idempotent-Replayed: true",
                "headers": {
                    **_RATE_HEADERS,
                    "Location": {"schema": {"type": "string"}, "required": True},
                    "Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}},
                },
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Accepted"}}},
            },
            "400": _problem("malformed_request or invalid_idempotency_key"),
            **common,
            "408": _problem("request_timeout"),
            "409": _problem("idempotency_key_in_flight"),
            "413": _problem("payload_too_large"),
            "415": _problem("unsupported_media_type"),
            "503": _problem(
                "starting, or the broker is unavailable (unavailable), or the resolver's backlog "
                "would not drain within the bound (backlog_exceeded)",
                retry=True,
            ),
            "422": _problem(
                "validation_failed, unknown_event_type, unknown_schema_version, "
                "schema_validation_failed, invalid_recipients, idempotency_key_reused, "
                "idempotency_key_expired"
            ),
        },
    }
    status = {
        "operationId": "getNotification",
        "summary": "The latest processing state of one of the caller's tenant's events.",
        "security": [{"bearer": []}],
        "parameters": [
            {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": {
                "description": "the processing state",
                "headers": dict(_RATE_HEADERS),
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/NotificationState"}}},
            },
            **common,
            "404": _problem("not_found (also for another tenant's id)"),
        },
    }
    plain = {"description": "ok", "content": {_JSON: {"schema": {"type": "object"}}}}
    collection = collection_paths(_problem, _RATE_HEADERS, common)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Tidings Notification API", "version": "1"},
        "paths": {
            **collection,
            "/api/v1/notifications": {"post": create, **collection["/api/v1/notifications"]},
            "/api/v1/notifications/{event_id}": {"get": status},
            **directory_paths(_problem, _RATE_HEADERS, common),
            "/healthz": {"get": {"operationId": "healthz", "responses": {"200": plain}}},
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "responses": {"200": plain, "503": {**plain, "description": "not ready"}},
                }
            },
        },
        "components": {
            "schemas": {
                **_schemas(settings),
                **directory_schemas(settings),
                **collection_schemas(settings),
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    _with_unparsable_http(document["paths"])
    return document


def _with_unparsable_http(paths: dict[str, Any]) -> None:
    """Any operation can answer uvicorn's own plain-text 400 to a request that is not valid
    HTTP (a header the parser refuses): it never reaches the API, so it is no problem+json.
    Said once here, beside each operation's own 400 where it has one."""
    for operation in (op for path in paths.values() for op in path.values()):
        answer = operation["responses"].setdefault(
            "400", {"description": "the request is not valid HTTP", "content": {}}
        )
        answer.setdefault("content", {})[_TEXT] = {"schema": {"type": "string"}}
