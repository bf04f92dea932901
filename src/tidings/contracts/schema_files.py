"""Where the ``.avsc`` files live: the repository's ``schemas/`` or the copy inside a wheel."""

from __future__ import annotations

from pathlib import Path

import orjson


def schemas_root(override: Path | None = None) -> Path:
    if override is not None:
        return override
    package = Path(__file__).resolve().parents[1]  # src/tidings, or tidings in a wheel
    packaged = package / "_schemas"
    if packaged.is_dir():
        return packaged
    return package.parents[1] / "schemas"


def load_json(path: Path) -> dict[str, object]:
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: an Avro record schema must be a JSON object")
    return data


def record_schema_files(root: Path) -> dict[str, dict[int, Path]]:
    """``records/<name>.v<N>.avsc`` → {name: {N: path}}."""
    found: dict[str, dict[int, Path]] = {}
    for path in sorted((root / "records").glob("*.v*.avsc")):
        name, _, version = path.name.removesuffix(".avsc").rpartition(".v")
        found.setdefault(name, {})[int(version)] = path
    return found


def payload_schema_files(root: Path) -> dict[str, dict[int, Path]]:
    """``payloads/<type>/<N>.avsc`` → {type: {N: path}}."""
    found: dict[str, dict[int, Path]] = {}
    for path in sorted((root / "payloads").glob("*/*.avsc")):
        found.setdefault(path.parent.name, {})[int(path.stem)] = path
    return found
