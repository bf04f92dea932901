"""The notifications collection's part of the OpenAPI document (openapi.py assembles it):
batch create (batch.py), the list (listing.py) and the SSE stream (stream.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tidings.contracts.state import Stage
from tidings.settings import Settings
from tidings_ingest.listing import MAX_LIMIT

_JSON = "application/json"
_SSE = "text/event-stream"
Problem = Callable[..., dict[str, Any]]
_STATE = {"$ref": "#/components/schemas/NotificationState"}


def collection_schemas(settings: Settings) -> dict[str, Any]:
    most = settings.limits.max_batch_items
    return {
        "BatchRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["notifications"],
            "properties": {
                "notifications": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": most,
                    "description": "single create bodies, each with an optional idempotency_key",
                    "items": {
                        "allOf": [{"$ref": "#/components/schemas/NotificationRequest"}],
                        "properties": {
                            "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 255}
                        },
                    },
                }
            },
        },
        "BatchAccepted": {
            "type": "object",
            "required": ["notifications"],
            "properties": {
                "notifications": {
                    "type": "array",
                    "description": "one entry per item, in item order",
                    "items": {
                        "allOf": [{"$ref": "#/components/schemas/Accepted"}],
                        "properties": {"replayed": {"const": True}},
                    },
                }
            },
        },
        "NotificationPage": {
            "type": "object",
            "required": ["notifications", "next_cursor"],
            "properties": {
                "notifications": {"type": "array", "items": _STATE},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "opaque; null on the last page",
                },
            },
        },
    }


def _filters() -> list[dict[str, Any]]:
    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "schema": schema,
            "description": description,
        }

    millis = {"type": "string", "pattern": "^[0-9]{1,13}$"}
    return [
        query("status", {"enum": [s.value for s in Stage]}, "current stage"),
        query("type", {"type": "string"}, "event type"),
        query("source_reference", {"type": "string"}, "the create's source.reference"),
        query("created_after", millis, "accepted_at >= this (epoch ms)"),
        query("created_before", millis, "accepted_at < this (epoch ms)"),
    ]


def collection_paths(
    problem: Problem, rate_headers: Mapping[str, Any], common: Mapping[str, Any]
) -> dict[str, Any]:
    rate = dict(rate_headers)
    batch = {
        "operationId": "createNotificationBatch",
        "summary": "Append up to 100 notification events in one transaction: all or none.",
        "security": [{"bearer": []}],
        "requestBody": {
            "required": True,
            "content": {_JSON: {"schema": {"$ref": "#/components/schemas/BatchRequest"}}},
        },
        "responses": {
            "202": {
                "description": "every item committed (or a replay of its key's first request)",
                "headers": rate,
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/BatchAccepted"}}},
            },
            "400": problem(
                "malformed_request, or invalid_idempotency_key (an Idempotency-Key header: "
                "keys go on the items)"
            ),
            **common,
            "408": problem("request_timeout"),
            "409": problem("idempotency_key_in_flight"),
            "413": problem("payload_too_large (the whole batch body)"),
            "415": problem("unsupported_media_type"),
            "422": problem(
                "nothing appended; errors[].path is a JSON Pointer to each failing item field "
                "(/notifications/3/payload/content_id); code as for a single create"
            ),
        },
    }
    listing = {
        "operationId": "listNotifications",
        "summary": "The caller's events, newest first, a page at a time.",
        "security": [{"bearer": []}],
        "parameters": [
            *_filters(),
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]{1,3}$"},
                "description": f"1 to {MAX_LIMIT}, default 50",
            },
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "next_cursor of the previous page",
            },
        ],
        "responses": {
            "200": {
                "description": "a page",
                "headers": rate,
                "content": {_JSON: {"schema": {"$ref": "#/components/schemas/NotificationPage"}}},
            },
            **common,
            "422": problem("validation_failed: a parameter is unknown or out of range"),
        },
    }
    stream = {
        "operationId": "streamNotificationStates",
        "summary": "Server-Sent Events: one `state` event per state change of the caller's "
        "events, `id: <partition>-<offset>`; send it back as Last-Event-ID to resume.",
        "security": [{"bearer": []}],
        "parameters": [
            *_filters(),
            {
                "name": "Last-Event-ID",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]{1,6}-[0-9]{1,19}$"},
            },
        ],
        "responses": {
            "200": {
                "description": "an endless stream; `data:` is the GET view of the event; "
                "`: heartbeat` comment lines keep it open",
                "headers": rate,
                "content": {_SSE: {"schema": {"type": "string"}}},
            },
            **common,
            "422": problem("validation_failed: a parameter, or a Last-Event-ID never sent"),
        },
    }
    return {
        "/api/v1/notifications": {"get": listing},  # merged with the create's POST
        "/api/v1/notifications/batch": {"post": batch},
        "/api/v1/notifications/stream": {"get": stream},
    }
