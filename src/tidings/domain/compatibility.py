"""Schema evolution rules, checked by Apache Avro's own reader/writer compatibility checker."""

from __future__ import annotations

from enum import StrEnum

import avro.schema
import orjson
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType


class Compatibility(StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"  # the new version reads data written with the versions before it
    FORWARD = "FORWARD"  # the versions before read data written with the new one
    FULL = "FULL"


def _parse(schema: object) -> avro.schema.Schema:
    return avro.schema.parse(orjson.dumps(schema).decode())


def _problems(reader: object, writer: object) -> list[str]:
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(_parse(reader), _parse(writer))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    return sorted(
        f"{loc}: {msg}" for loc, msg in zip(result.locations, result.messages, strict=False)
    )


def incompatibilities(
    candidate: object, previous: list[object], mode: Compatibility = Compatibility.BACKWARD
) -> list[str]:
    """Reasons ``candidate`` may not follow ``previous`` (every earlier version); empty means ok."""
    found: list[str] = []
    for index, old in enumerate(previous, start=1):
        if mode in (Compatibility.BACKWARD, Compatibility.FULL):
            found += [f"cannot read v{index} data: {p}" for p in _problems(candidate, old)]
        if mode in (Compatibility.FORWARD, Compatibility.FULL):
            found += [f"v{index} cannot read new data: {p}" for p in _problems(old, candidate)]
    return found
