"""The directory API's part of the OpenAPI document (openapi.py assembles it): entries in the
JSON Lines format without ``tenant``, as ``directory_api.py`` parses and answers them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tidings.domain.directory import ID_PATTERN
from tidings.settings import Settings

_JSON = "application/json"
Problem = Callable[..., dict[str, Any]]

_NAMES = {"type": "array", "items": {"type": "string"}}
_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_FIELDS: dict[str, Any] = {
    "active": {"type": "boolean", "default": True},
    "roles": _NAMES,
    "groups": _NAMES,
    "orgs": _NAMES,
    "attributes": _MAP,
    "channels": _MAP,
    "muted": _NAMES,
}


def directory_schemas(settings: Settings) -> dict[str, Any]:
    entry = {
        "type": "object",
        "additionalProperties": False,
        "description": "a directory file line without tenant; a field left out takes its default",
        "properties": {"id": {"type": "string", "pattern": ID_PATTERN}, **_FIELDS},
    }
    return {
        "DirectoryEntry": entry,
        "DirectoryUser": {
            "type": "object",
            "required": ["id", "active", "roles", "groups", "attributes", "channels", "muted"],
            "properties": {"id": {"type": "string"}, **_FIELDS},
        },
        "DirectoryBatch": {
            "type": "object",
            "additionalProperties": False,
            "required": ["users"],
            "properties": {
                "users": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.ingest.directory_batch_max,
                    "items": {**entry, "required": ["id"]},
                }
            },
        },
    }


def directory_paths(
    problem: Problem, rate_headers: Mapping[str, Any], common: Mapping[str, Any]
) -> dict[str, Any]:
    def answer(schema: str, description: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{schema}"}
        return {
            "description": description,
            "headers": dict(rate_headers),
            "content": {_JSON: {"schema": ref}},
        }

    user_id = {
        "name": "user_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": ID_PATTERN},
    }
    missing = problem("not_found: no such user in the caller's tenant (or organization)")
    invalid = problem("validation_failed; errors name each field by JSON pointer")
    body_errors: dict[str, Any] = {
        "400": problem("malformed_request"),
        "408": problem("request_timeout"),
        "413": problem("payload_too_large"),
        "415": problem("unsupported_media_type"),
        "422": invalid,
    }

    def body(schema: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{schema}"}
        return {"required": True, "content": {_JSON: {"schema": ref}}}

    secured: dict[str, Any] = {"security": [{"bearer": []}]}
    users: dict[str, Any] = {
        "put": {
            "operationId": "putDirectoryUser",
            "summary": "Replace a user's whole directory entry (directory:write).",
            **secured,
            "parameters": [user_id],
            "requestBody": body("DirectoryEntry"),
            "responses": {
                "200": answer("DirectoryUser", "the entry as written"),
                **common,
                **body_errors,
            },
        },
        "get": {
            "operationId": "getDirectoryUser",
            "summary": "A user's directory entry, read up to date (directory:read).",
            **secured,
            "parameters": [user_id],
            "responses": {
                "200": answer("DirectoryUser", "the entry"),
                **common,
                "404": missing,
            },
        },
        "delete": {
            "operationId": "deleteDirectoryUser",
            "summary": "Make a user inactive, in no role, group or organization (directory:write).",
            **secured,
            "parameters": [user_id],
            "responses": {
                "200": answer("DirectoryUser", "the entry as written"),
                **common,
                "404": missing,
            },
        },
    }
    batch: dict[str, Any] = {
        "post": {
            "operationId": "batchDirectoryUsers",
            "summary": "Upsert many users at once: all written in one transaction, or none.",
            **secured,
            "requestBody": body("DirectoryBatch"),
            "responses": {
                "200": {
                    "description": "every entry as written, in order",
                    "headers": dict(rate_headers),
                    "content": {
                        _JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["users"],
                                "properties": {
                                    "users": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/DirectoryUser"},
                                    }
                                },
                            }
                        }
                    },
                },
                **common,
                **body_errors,
            },
        }
    }
    return {"/api/v1/directory/users/batch": batch, "/api/v1/directory/users/{user_id}": users}
