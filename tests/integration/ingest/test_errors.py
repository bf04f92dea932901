"""Every client error of the contract, as application/problem+json with a stable code."""

from __future__ import annotations

import httpx
import pytest

from tests.support.ingest import EXAMPLE

URL = "/api/v1/notifications"
JSON = {"Content-Type": "application/json"}


def problem(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["request_id"] == r.headers["x-request-id"]
    return body


def test_malformed_json_is_400(http: httpx.Client) -> None:
    problem(http.post(URL, content=b'{"type": ', headers=JSON), 400, "malformed_request")


def test_invalid_utf8_is_400(http: httpx.Client) -> None:
    body = b'{"type": "content.approved\xff", "recipients": {}, "payload": {}}'
    problem(http.post(URL, content=body, headers=JSON), 400, "malformed_request")


def test_lone_surrogate_escape_is_400(http: httpx.Client) -> None:
    body = b'{"type": "x", "recipients": {"users": ["\\ud800"]}, "payload": {}}'
    problem(http.post(URL, content=body, headers=JSON), 400, "malformed_request")


def test_duplicate_keys_are_400(http: httpx.Client) -> None:
    body = b'{"type": "content.approved", "type": "other", "recipients": {}, "payload": {}}'
    problem(http.post(URL, content=body, headers=JSON), 400, "malformed_request")


def test_deep_nesting_is_400(http: httpx.Client) -> None:
    body = b'{"type": "content.approved", "payload": ' + b"[" * 40 + b"]" * 40 + b"}"
    problem(http.post(URL, content=body, headers=JSON), 400, "malformed_request")


def test_body_that_is_not_an_object_is_422(http: httpx.Client) -> None:
    problem(http.post(URL, json=[EXAMPLE]), 422, "validation_failed")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json; charset=latin-1"])
def test_non_json_content_type_is_415(http: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    r = http.post(URL, content=b"{}", headers=headers)
    problem(r, 415, "unsupported_media_type")


def test_declared_oversized_body_is_413(http: httpx.Client) -> None:
    problem(http.post(URL, content=b" " * 300_000, headers=JSON), 413, "payload_too_large")


def test_streamed_oversized_body_is_413_without_content_length(http: httpx.Client) -> None:
    def chunks():  # chunked transfer: no Content-Length to check up front
        for _ in range(40):
            yield b" " * 10_000

    problem(http.post(URL, content=chunks(), headers=JSON), 413, "payload_too_large")


def test_oversized_payload_is_413(http: httpx.Client) -> None:
    body = {**EXAMPLE, "payload": {"content_id": "x" * 70_000}}
    problem(http.post(URL, json=body), 413, "payload_too_large")


def test_unknown_event_type_is_422(http: httpx.Client) -> None:
    problem(http.post(URL, json={**EXAMPLE, "type": "no.such"}), 422, "unknown_event_type")


def test_unknown_schema_version_is_422(http: httpx.Client) -> None:
    r = http.post(URL, json={**EXAMPLE, "version": 9})
    problem(r, 422, "unknown_schema_version")


def test_payload_not_matching_schema_is_422_with_field_errors(http: httpx.Client) -> None:
    body = problem(
        http.post(URL, json={**EXAMPLE, "payload": {"content_id": 5}}),
        422,
        "schema_validation_failed",
    )
    assert body["errors"]
    assert all({"path", "message"} <= set(e) for e in body["errors"])


def test_unknown_recipient_is_422(http: httpx.Client) -> None:
    body = problem(
        http.post(URL, json={**EXAMPLE, "recipients": {"users": ["nobody"]}}),
        422,
        "invalid_recipients",
    )
    assert body["errors"] == [{"path": "recipients.users[0]", "message": "unknown user"}]


def test_empty_recipients_is_422(http: httpx.Client) -> None:
    problem(http.post(URL, json={**EXAMPLE, "recipients": {}}), 422, "invalid_recipients")


def test_missing_field_is_422_with_its_path(http: httpx.Client) -> None:
    body = problem(http.post(URL, json={"type": "content.approved"}), 422, "validation_failed")
    assert {e["path"] for e in body["errors"]} >= {"recipients", "payload"}


def test_unknown_id_is_404(http: httpx.Client) -> None:
    problem(http.get(f"{URL}/does-not-exist"), 404, "not_found")


def test_unknown_route_is_404_problem(http: httpx.Client) -> None:
    problem(http.get("/api/v1/nothing-here"), 404, "not_found")


def test_wrong_method_is_405_problem(http: httpx.Client) -> None:
    problem(http.delete(URL), 405, "method_not_allowed")


def test_problem_never_echoes_internals(http: httpx.Client) -> None:
    r = http.post(URL, content=b"{", headers=JSON)
    for leak in ("Traceback", "orjson", "9092", "Kafka"):
        assert leak not in r.text
