"""The service key ring: from settings, else one file per data dir, created once, 0600."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from tidings import service_keys
from tidings.domain.service_mac import generate_service_key
from tidings.service_keys import FileKeyRing, key_ring_path, service_key_ring
from tidings.settings import Settings

LOAD = """
import sys
from pathlib import Path
from tidings.service_keys import FileKeyRing
print(FileKeyRing(Path(sys.argv[1])).signing_key_id)
"""


def test_the_file_is_created_on_first_use_readable_by_its_owner_only(tmp_path: Path) -> None:
    ring = service_key_ring(Settings(data_dir=tmp_path / "var"))
    path = key_ring_path(Settings(data_dir=tmp_path / "var"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ring.signing_key_id is not None
    assert json.loads(path.read_text())["signing_key_id"] == ring.signing_key_id


def test_every_process_with_the_same_data_dir_shares_one_ring(tmp_path: Path) -> None:
    path = tmp_path / "service-keys.json"
    children = [
        subprocess.Popen([sys.executable, "-c", LOAD, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    ids = {child.communicate(timeout=60)[0].split()[-1] for child in children}
    assert ids == {FileKeyRing(path).signing_key_id}
    assert [p.name for p in tmp_path.iterdir()] == ["service-keys.json"]  # no temporaries


def test_a_record_maced_by_one_process_verifies_in_another(tmp_path: Path) -> None:
    path = tmp_path / "service-keys.json"
    tag = FileKeyRing(path).signer().origin_headers(b"acme", b"v")["signature"]
    other = FileKeyRing(path)
    assert other.verify(other.signing_key_id or "", b"acme", b"v", tag) is True


def test_a_key_added_to_the_file_verifies_without_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_keys, "RELOAD_INTERVAL_S", 0.0)
    path = tmp_path / "service-keys.json"
    resolver = FileKeyRing(path)
    data = json.loads(path.read_text())
    data["keys"]["k-new"] = generate_service_key()
    data["signing_key_id"] = "k-new"
    path.write_text(json.dumps(data))
    tag = FileKeyRing(path).signer().origin_headers(b"acme", b"v")["signature"]
    assert resolver.verify("k-new", b"acme", b"v", tag) is True


def test_settings_keys_take_the_place_of_the_file(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        service_keys={
            "a": SecretStr(generate_service_key()),
            "b": SecretStr(generate_service_key()),
        },
        service_key_id="b",
    )
    ring = service_key_ring(settings)
    assert (ring.key_ids, ring.signer().client_id) == (["a", "b"], "svc/b")
    assert not key_ring_path(settings).exists()


def test_a_single_settings_key_is_the_signing_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, service_keys={"only": SecretStr(generate_service_key())})
    assert service_key_ring(settings).signing_key_id == "only"


def test_several_keys_without_a_signing_id_only_verify(tmp_path: Path) -> None:
    keys = {k: SecretStr(generate_service_key()) for k in ("a", "b")}
    ring = service_key_ring(Settings(data_dir=tmp_path, service_keys=keys))
    with pytest.raises(ValueError, match="no signing key id"):
        ring.signer()


def test_the_settings_never_show_the_keys() -> None:
    secret = generate_service_key()
    assert secret not in repr(Settings(service_keys={"k": SecretStr(secret)}))
