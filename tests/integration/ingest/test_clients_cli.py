"""``tidings clients create|list|revoke`` as an operator runs it, checked through ingest."""

from __future__ import annotations

import json
import os
import subprocess
import time
from typing import Any

from tests.support.ingest import BIN, EXAMPLE, IngestProcess, wait_visible

URL = "/api/v1/notifications"


def tidings(ingest: IngestProcess, *args: str) -> Any:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": ingest.settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": ingest.settings.topic_prefix,
    }
    done = subprocess.run(
        [str(BIN / "tidings"), "clients", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def test_created_client_can_post_and_its_secret_is_printed_once(ingest: IngestProcess) -> None:
    created = tidings(
        ingest,
        "create",
        "--tenant",
        "acme",
        "--scope",
        "notifications:write",
        "--scope",
        "notifications:read",
        "--rate",
        "20",
        "--burst",
        "40",
    )
    assert {"client_id", "secret", "tenant", "scopes"} <= set(created)
    assert created["scopes"] == ["notifications:write", "notifications:read"]
    wait_visible(ingest, created["secret"])
    with ingest.client(created["secret"]) as http:
        r = http.post(URL, json=EXAMPLE)
    assert r.status_code == 202
    assert r.headers["ratelimit-policy"] == '"burst";q=40;w=2'
    listed = tidings(ingest, "list", "--tenant", "acme")
    mine = [c for c in listed if c["client_id"] == created["client_id"]]
    assert len(mine) == 1
    assert created["secret"] not in json.dumps(listed)


def test_signing_key_option_prints_a_key_for_direct_producers(ingest: IngestProcess) -> None:
    created = tidings(
        ingest,
        "create",
        "--tenant",
        "acme",
        "--scope",
        "notifications:write",
        "--signing-key",
        "--event-type",
        "content.*",
    )
    assert created["signing_key"]
    assert created["public_key"]
    assert created["event_types"] == ["content.*"]


def test_revoked_client_is_refused_by_the_running_service(ingest: IngestProcess) -> None:
    created = tidings(ingest, "create", "--tenant", "acme", "--scope", "notifications:write")
    wait_visible(ingest, created["secret"])
    revoked = tidings(ingest, "revoke", created["client_id"])
    assert revoked["revoked"] is True
    deadline = time.monotonic() + 10
    with ingest.client(created["secret"]) as http:
        while http.post(URL, json=EXAMPLE).status_code != 401:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_org_and_targets_are_recorded_printed_and_listed(ingest: IngestProcess) -> None:
    created = tidings(
        ingest,
        "create",
        "--tenant",
        "acme",
        "--scope",
        "notifications:write",
        "--org",
        "north",
        "--target",
        "users",
        "--target",
        "roles:ops-*",
    )
    assert (created["org"], created["targets"]) == ("north", ["users", "roles:ops-*"])
    listed = tidings(ingest, "list", "--tenant", "acme")
    mine = next(c for c in listed if c["client_id"] == created["client_id"])
    assert (mine["org"], mine["targets"]) == ("north", ["users", "roles:ops-*"])


def test_without_org_or_targets_a_client_is_tenant_wide_for_every_kind(
    ingest: IngestProcess,
) -> None:
    created = tidings(ingest, "create", "--tenant", "acme", "--scope", "notifications:write")
    assert (created["org"], created["targets"]) == (None, [])


def test_a_malformed_target_is_refused_and_no_client_is_written(ingest: IngestProcess) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": ingest.settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": ingest.settings.topic_prefix,
    }
    before = len(tidings(ingest, "list"))
    args = ["create", "--tenant", "acme", "--scope", "notifications:write", "--target", "users:u-*"]
    done = subprocess.run(
        [str(BIN / "tidings"), "clients", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "users take no pattern" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert len(tidings(ingest, "list")) == before
