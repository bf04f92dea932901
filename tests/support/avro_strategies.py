"""Hypothesis strategies that generate any datum a parsed Avro schema accepts."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# Small sizes keep the examples fast; the codec's correctness does not depend on length.
_text = st.text(max_size=12)


def datum(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    named = {} if named is None else named
    if isinstance(schema, str):
        return _primitive(schema) if schema in _PRIMITIVES else datum(named[schema], named)
    if isinstance(schema, list):
        return st.one_of([datum(branch, named) for branch in schema])
    kind = schema["type"]
    if "name" in schema:
        named[schema["name"]] = schema
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: datum(f["type"], named) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(datum(schema["items"], named), max_size=3)
    if kind == "map":
        # fastavro's JSON encoder raises "No key was set" on an empty map key.
        keys = st.text(min_size=1, max_size=12)
        return st.dictionaries(keys, datum(schema["values"], named), max_size=3)
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    return datum(kind, named)


_PRIMITIVES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(*INT32),
    "long": st.integers(*INT64),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=12),
    "string": _text,
}


def _primitive(name: str) -> st.SearchStrategy[Any]:
    return _PRIMITIVES[name]
