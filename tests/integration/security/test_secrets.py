"""Secrets never appear in logs, metrics or error bodies: an ingest run at DEBUG with a known
service key sees successful, failing and near-miss credentials; then its log, its /metrics
and every answer are searched for each secret, its random part, its hash and the key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ingest import EXAMPLE, IngestProcess, new_client
from tidings.domain.service_mac import generate_service_key
from tidings.settings import Settings

URL = "/api/v1/notifications"
JSON = {"Content-Type": "application/json"}
SERVICE_KEY = generate_service_key()


@pytest.fixture(scope="module")
def debug_ingest(
    seeded: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IngestProcess]:
    proc = IngestProcess(
        seeded,
        tmp_path_factory.mktemp("secrets"),
        TIDINGS_LOG_LEVEL="DEBUG",
        TIDINGS_SERVICE_KEYS=json.dumps({"secrets-test": SERVICE_KEY}),
        TIDINGS_INGEST__INSTANCE_ID="ingest-secrets",
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def exercised(debug_ingest: IngestProcess) -> tuple[list[str], list[str]]:
    """Run traffic; return (needles that must never leak, every answer text)."""
    created = new_client(debug_ingest, "acme")
    secret = created.secret
    random_part = secret.rsplit(".", 1)[1]
    near_misses = [secret[:-1] + ("A" if secret[-1] != "A" else "B"), secret + "x", secret[:-3]]
    answers: list[str] = []
    with httpx.Client(base_url=debug_ingest.url, timeout=10) as http:
        for bearer in [secret, *near_misses]:
            auth = {"Authorization": f"Bearer {bearer}"}
            for r in (
                http.post(URL, json=EXAMPLE, headers=auth),
                http.post(
                    URL, content=b"{not json", headers={**auth, "Content-Type": "application/json"}
                ),
                http.post(URL, json={**EXAMPLE, "recipients": {"users": ["nobody"]}}, headers=auth),
                http.get(f"{URL}/missing", headers=auth),
            ):
                answers.append(r.text + str(dict(r.headers)))
        answers.append(http.get("/metrics").text)
    needles = [secret, random_part, created.client.secret_hash.split("$", 1)[1], SERVICE_KEY]
    needles += near_misses
    return needles, answers


def test_secrets_are_not_in_the_service_log(
    debug_ingest: IngestProcess, exercised: tuple[list[str], list[str]]
) -> None:
    log = debug_ingest.log_path.read_text(errors="replace")
    assert "debug" in log.lower() or len(log) > 0
    leaked = [n[:8] + "…" for n in exercised[0] if n in log]
    assert not leaked, f"secret material in the log: {leaked}"


def test_secrets_are_not_in_answers_or_metrics(exercised: tuple[list[str], list[str]]) -> None:
    needles, answers = exercised
    leaked = [n[:8] + "…" for n in needles for a in answers if n in a]
    assert not leaked, f"secret material in an answer or /metrics: {leaked}"


def test_service_key_is_not_in_the_log_even_at_debug(debug_ingest: IngestProcess) -> None:
    text = Path(debug_ingest.log_path).read_text(errors="replace")
    assert SERVICE_KEY not in text
