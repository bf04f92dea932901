"""The bundled payload schemas and the incompatible candidate, as unit tests read them."""

from __future__ import annotations

from typing import Any

from tidings.contracts.schema_files import load_json, schemas_root

ROOT = schemas_root()
V1: dict[str, Any] = load_json(ROOT / "payloads" / "content.approved" / "1.avsc")
V2: dict[str, Any] = load_json(ROOT / "payloads" / "content.approved" / "2.avsc")
INCOMPATIBLE: dict[str, Any] = load_json(
    ROOT / "candidates" / "content.approved.3.incompatible.avsc"
)
