"""Where this process's service key ring comes from (docs/trust-model.md).

``TIDINGS_SERVICE_KEYS`` (JSON: key id -> base64 key) with ``TIDINGS_SERVICE_KEY_ID`` (the
one to sign with; every key in the map verifies) is the production form: one secret given
to the ingest and resolver processes only. Unset (development, tests, ``make run``): the
file ``<data dir>/service-keys.json``, created on first use with one random key, mode 0600,
and shared by every process with the same data dir. Creation is atomic and never replaces a
file another process created first: a process writes a private temporary file and links it
to the final name, which fails if the name exists; then everyone reads the one winner.

A ring read from the file is re-read (at most once a second) when a record names a key id
it does not hold, so a key added to the file is verified without a restart.
"""

from __future__ import annotations

import json
import os
import stat
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from tidings.domain.service_mac import (
    ServiceKeyRing,
    decode_keys,
    generate_service_key,
    new_key_id,
)
from tidings.logs import get_logger
from tidings.settings import Settings, get_settings

FILE_NAME = "service-keys.json"
RELOAD_INTERVAL_S = 1.0

log = get_logger(__name__)


def key_ring_path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


def service_key_ring(settings: Settings) -> ServiceKeyRing:
    """The ring of the settings, else the data dir's file (created when missing)."""
    if settings.service_keys is not None:
        keys = decode_keys({k: v.get_secret_value() for k, v in settings.service_keys.items()})
        signing = settings.service_key_id
        if signing is None and len(keys) == 1:
            signing = next(iter(keys))
        return ServiceKeyRing(keys, signing)
    return FileKeyRing(key_ring_path(settings))


@lru_cache(maxsize=1)
def default_service_key_ring() -> ServiceKeyRing:
    """The ring of this process's settings (``get_settings``), loaded once."""
    return service_key_ring(get_settings())


class FileKeyRing(ServiceKeyRing):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._read_at = time.monotonic()
        keys, signing = _parse(_read_or_create(path))
        super().__init__(keys, signing)

    def _refresh(self) -> bool:
        if time.monotonic() - self._read_at < RELOAD_INTERVAL_S:
            return False
        self._read_at = time.monotonic()
        try:
            keys, signing = _parse(self.path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("service_key_ring_unreadable", path=str(self.path), error=str(exc))
            return False
        before = self.key_ids
        self._replace(keys, signing)
        return self.key_ids != before


def _parse(raw: bytes) -> tuple[dict[str, bytes], str | None]:
    data: Any = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise ValueError('a key ring file is {"signing_key_id": ..., "keys": {id: base64}}')
    keys = decode_keys(data["keys"])
    signing = data.get("signing_key_id")
    if signing is not None and signing not in keys:
        raise ValueError(f"signing_key_id {signing!r} is not in keys")
    return keys, signing


def _read_or_create(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("service_key_ring_readable_by_others", path=str(path), mode=oct(mode))
    return raw


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key_id = new_key_id()
    raw = json.dumps(
        {"signing_key_id": key_id, "keys": {key_id: generate_service_key()}}, indent=2
    ).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{key_id}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # atomic, and fails when another process linked first
        except FileExistsError:
            return path.read_bytes()
        log.info("service_key_ring_created", path=str(path), key_id=key_id)
        return raw
    finally:
        tmp.unlink(missing_ok=True)
