"""``tidings directory load`` writes the compacted topic; ``export`` reads it back."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson

from tests.support.pipeline import BIN, service_env
from tidings.contracts.topics import Topics
from tidings.settings import Settings

USERS = [
    {"tenant": "acme", "id": "u-1", "roles": ["editor"], "channels": {"email": "a@x.test"}},
    {"tenant": "acme", "id": "u-2", "active": False},
    {"tenant": "globex", "id": "u-1", "groups": ["legal"]},
]


def tidings(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "tidings"), *args],
        env=service_env(settings, "cli"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    return path


def test_load_reports_a_json_summary(topics: Topics, settings: Settings, tmp_path: Path) -> None:
    result = tidings(
        settings, "directory", "load", str(write(tmp_path / "d.jsonl", USERS)), "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["records"] == 3
    assert summary["tenants"] == {"acme": 2, "globex": 1}


def test_export_round_trips_one_tenant_and_applies_deletes(
    topics: Topics, settings: Settings, tmp_path: Path
) -> None:
    tidings(settings, "directory", "load", str(write(tmp_path / "a.jsonl", USERS)))
    delete = write(tmp_path / "b.jsonl", [{"tenant": "acme", "id": "u-2", "deleted": True}])
    assert tidings(settings, "directory", "load", str(delete)).returncode == 0
    result = tidings(settings, "directory", "export", "--tenant", "acme")
    assert result.returncode == 0, result.stderr
    exported = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [u["id"] for u in exported] == ["u-1"]
    assert exported[0]["channels"] == {"email": "a@x.test"}


def test_invalid_file_writes_nothing_and_fails(
    topics: Topics, settings: Settings, tmp_path: Path
) -> None:
    bad = write(tmp_path / "bad.jsonl", [{"tenant": "acme", "id": "ok"}, {"id": "no-tenant"}])
    result = tidings(settings, "directory", "load", str(bad))
    assert result.returncode == 1
    assert "line 2" in result.stderr


def test_organizations_of_a_user_are_loaded_and_exported(
    topics: Topics, settings: Settings, tmp_path: Path
) -> None:
    lines = [
        {"tenant": "orgs", "id": "u-1", "orgs": ["north", "south"]},
        {"tenant": "orgs", "id": "u-2"},
    ]
    assert (
        tidings(settings, "directory", "load", str(write(tmp_path / "o.jsonl", lines))).returncode
        == 0
    )
    result = tidings(settings, "directory", "export", "--tenant", "orgs")
    exported = {u["id"]: u["orgs"] for u in map(orjson.loads, result.stdout.splitlines())}
    assert exported == {"u-1": ["north", "south"], "u-2": []}
