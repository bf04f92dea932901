"""The whole pipeline as a new user runs it (ingest, resolver, fan-out processes), and readers
of what it wrote: the latest state of an event and its delivery requests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from tests.support.ports import free_port
from tidings.contracts.codec import Codec
from tidings.contracts.state import newer
from tidings.contracts.topics import Topics
from tidings.ops.scan import Selection, scan
from tidings.settings import Settings

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra" / "bin"
POLICY = {"*": ["in_app", "email"]}
USERS = [
    {
        "tenant": "acme",
        "id": "u-1",
        "roles": ["editor"],
        "channels": {"email": "u1@example.com", "in_app": "u-1"},
    },
    {"tenant": "acme", "id": "u-2", "roles": ["editor"], "channels": {"in_app": "u-2"}},
    {"tenant": "globex", "id": "g-1", "roles": ["editor"], "channels": {"in_app": "g-1"}},
]
BODY: dict[str, Any] = {
    "type": "content.approved",
    "recipients": {"roles": ["editor"]},
    "payload": {"content_id": "c-1", "title": "Q3"},
    "source": {"reference": "ops-test"},
}


class Proc:
    """One service console script, configured by environment only, logging to a file."""

    def __init__(self, name: str, settings: Settings, log_dir: Path) -> None:
        self.name, self.port = name, free_port()
        self.env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
            "TIDINGS_TOPICS__EVENTS_PARTITIONS": str(settings.topics.events_partitions),
            "TIDINGS_TOPICS__OTHER_PARTITIONS": str(settings.topics.other_partitions),
            "TIDINGS_PROCESSING__CHANNEL_POLICY": orjson.dumps(POLICY).decode(),
            "TIDINGS_PROCESSING__METRICS_PORT": str(self.port),
            "TIDINGS_INGEST__PORT": str(self.port),
            "TIDINGS_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "TIDINGS_LOG_LEVEL": "INFO",
        }
        self.log = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / f"tidings-{self.name}")], env=self.env, stdout=out, stderr=out
            )
        path = "/readyz" if self.name == "ingest" else "/healthz"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url + path, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{self.name} not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def latest_states(settings: Settings, tenant: str) -> dict[str, dict[str, Any]]:
    """Newest state per original event (replay identities apart) of one tenant."""
    codec, out = Codec(), {}
    for raw in scan(settings, Topics(settings).state.name, Selection(tenant=tenant)):
        if raw.value is None:
            continue
        rec = codec.decode(raw.value, expect="state")[1]
        if rec.get("replay_id") is None and newer(rec, out.get(rec["event_id"])):
            out[rec["event_id"]] = rec
    return out


def wait_stage(
    settings: Settings, tenant: str, event_id: str, stages: set[str], timeout_s: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        state = latest_states(settings, tenant).get(event_id)
        if state is not None and state["stage"] in stages:
            return state
        assert time.monotonic() < deadline, f"{event_id}: {state and state['stage']}"
        time.sleep(0.5)


def deliveries(settings: Settings, event_id: str | None = None) -> list[dict[str, Any]]:
    codec, out = Codec(), []
    for spec in Topics(settings).deliveries.values():
        for raw in scan(settings, spec.name, Selection()):
            rec = codec.decode(raw.value or b"", expect="delivery")[1]
            if event_id is None or rec["event_id"] == event_id:
                out.append(rec)
    return out


def settle(settings: Settings, idle_s: float = 3.0, timeout_s: float = 60) -> int:
    """Wait until the delivery topics stop growing; returns their record count."""
    count, since, deadline = -1, time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = len(deliveries(settings))
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= idle_s:
            return count
        time.sleep(0.5)
    return count


def tidings(
    settings: Settings, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "TIDINGS_TOPIC_PREFIX": settings.topic_prefix,
        "TIDINGS_TOPICS__EVENTS_PARTITIONS": str(settings.topics.events_partitions),
        "TIDINGS_TOPICS__OTHER_PARTITIONS": str(settings.topics.other_partitions),
    }
    return subprocess.run(
        [str(BIN / "tidings"), *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def infra(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # Binary Avro values are printed raw by the console consumer: decode leniently.
    return subprocess.run(
        [str(INFRA / tool), *args],
        input=stdin,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=180,
        check=False,
    )
