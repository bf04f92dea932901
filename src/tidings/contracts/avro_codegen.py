"""Avro binary encoders and decoders generated from a schema, compiled once at start-up.

fastavro's ``schemaless_writer``/``schemaless_reader`` walk the schema for every record. For a
fixed record schema that walk is always the same, so this module writes it out once as straight
Python source (one function per direction, nested records inlined, encoded constants
precomputed), compiles it, and returns the two functions.

The contract, checked by ``tests/unit/contracts/test_avro_codegen.py`` against fastavro:

* ``encode(record)`` returns exactly the bytes ``fastavro.schemaless_writer`` writes for the
  same schema and record, or raises ``TypeError``, ``ValueError`` or ``KeyError`` (a missing
  field, a value of the wrong type, a long beyond 64 bits, an unknown enum symbol...). It is
  stricter than fastavro's writer in a few places fastavro coerces silently (a float given for a
  long, a non-bool for a boolean, a non-str object with an ``encode`` method for a string):
  there it raises, and the caller falls back to fastavro, which writes (or refuses) as before.
  It never returns bytes fastavro would not have written. Union branches are chosen as fastavro
  chooses them (first branch whose validation accepts the value, ``double`` preferred over
  ``float``).
* ``decode(body)`` returns what ``fastavro.schemaless_reader(io, schema, schema)`` returns, and
  raises ``AvroDecodeError`` (a ``ValueError``) on truncated input, trailing bytes, negative
  lengths, a bad union or enum index, an over-long varint; ``UnicodeDecodeError`` (also a
  ``ValueError``) on invalid UTF-8. Writer schema and reader schema must be the same; resolving
  between different versions stays with fastavro.
* Logical types are plain values: ``logicalType`` is ignored (``tidings.contracts.codec.parse``
  strips it, so fastavro does no conversion either).
* Schemas this generator does not specialise (a union with two branches of the same container
  kind, e.g. two records or a record and a map, whose choice fastavro makes by counting
  fields; a recursive record; a top level that is not a record) get fastavro-backed functions
  with the same contract; ``RecordCodec.specialised`` says which.
"""

from __future__ import annotations

import array
import io
import numbers
import operator
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import fastavro

__all__ = [
    "AvroDecodeError",
    "Decoder",
    "Encoder",
    "RecordCodec",
    "UnsupportedSchema",
    "compile_codec",
    "generate_source",
]

INT_MIN, INT_MAX = -(2**31), 2**31 - 1
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})


class UnsupportedSchema(ValueError):
    """The generator does not specialise this schema; ``compile_codec`` falls back to fastavro."""


class AvroDecodeError(ValueError):
    """The body is truncated, has trailing bytes, or holds a value the schema cannot have."""


class Encoder(Protocol):
    def __call__(self, record: Mapping[str, Any], prefix: bytes = b"") -> bytes:
        """The Avro binary body of ``record``, after ``prefix`` (e.g. the single-object
        header, which saves a concatenation)."""
        ...


class Decoder(Protocol):
    def __call__(self, data: bytes, start: int = 0) -> dict[str, Any]:
        """The record encoded in ``data[start:]``, which must be consumed exactly."""
        ...


@dataclass(frozen=True)
class RecordCodec:
    encode: Encoder
    decode: Decoder
    specialised: bool
    source: str = field(default="", repr=False)
    reason: str = ""


# ---------------------------------------------------------------------------------------------
# Helpers the generated code calls on its slow paths (never on the common path).


def _bad(path: str, expected: str, value: object) -> TypeError:
    return TypeError(f"{path or 'record'}: expected {expected}, got {type(value).__name__}")


def _as_int(value: object, path: str) -> int:
    """The writer's view of an int/long outside a union: bools and integral numbers pass."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return operator.index(value)
    raise _bad(path, "int", value)


def _valid_int(value: object, low: int, high: int) -> bool:
    """fastavro's ``validate_int``/``validate_long`` (union branch choice)."""
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and low <= operator.index(value) <= high
    )


def _strict_int(value: object, low: int, high: int, path: str) -> int:
    if not _valid_int(value, low, high):
        raise _bad(path, f"an integer in [{low}, {high}]", value)
    return operator.index(value)  # type: ignore[arg-type]


def _valid_float(value: object) -> bool:
    """fastavro's ``validate_float`` (float and double)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _strict_float(value: object, path: str) -> float:
    if not _valid_float(value):
        raise _bad(path, "a number", value)
    return float(value)  # type: ignore[arg-type]


def _as_bytes(value: object, path: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise _bad(path, "bytes", value)


def _as_list(value: object, path: str) -> list[Any]:
    if isinstance(value, (Sequence, array.array)) and not isinstance(value, str):
        return list(value)
    raise _bad(path, "an array", value)


def _as_dict(value: object, path: str) -> dict[Any, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise _bad(path, "a mapping", value)


def _long_overflow(path: str) -> ValueError:
    return ValueError(f"{path or 'record'}: integer out of the 64-bit range of an Avro long")


def _read_varint(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """The rest of a varint whose first byte (``first``, >= 0x80) was at ``pos - 1``."""
    n = first & 0x7F
    shift = 7
    while True:
        b = data[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise AvroDecodeError("varint longer than 10 bytes")
    if n >> 64:
        raise AvroDecodeError("varint beyond 64 bits")
    return (n >> 1) ^ -(n & 1), pos


def _read_span(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(start, end) of the string or bytes whose length is at ``pos`` (the slow path)."""
    first = data[pos]
    if first < 0x80:
        n, pos = _ZIGZAG_BYTE[first], pos + 1
    else:
        n, pos = _read_varint(data, pos + 1, first)
    if n < 0 or pos + n > end:
        raise AvroDecodeError("length beyond the end of the body")
    return pos, pos + n


def _small_index_byte(data: bytes, pos: int, first: int) -> tuple[int, int]:
    """A union or enum index written on more than one byte: its one-byte form or -1."""
    index, pos = _read_varint(data, pos, first)
    return (index << 1 if 0 <= index < 64 else -1), pos


_ZIGZAG_BYTE = tuple((b >> 1) ^ -(b & 1) for b in range(128))


def _zigzag(value: int) -> bytes:
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# the length a one-byte varint gives a string or bytes, -1 when it takes the slow path
_SHORT_LENGTH = tuple(b >> 1 if b < 0x80 and not b & 1 else -1 for b in range(256))

_RUNTIME: dict[str, Any] = {
    "_read_span": _read_span,
    "_small_index_byte": _small_index_byte,
    "_SL": _SHORT_LENGTH,
    "_bad": _bad,
    "_as_int": _as_int,
    "_valid_int": _valid_int,
    "_strict_int": _strict_int,
    "_valid_float": _valid_float,
    "_strict_float": _strict_float,
    "_as_bytes": _as_bytes,
    "_as_list": _as_list,
    "_as_dict": _as_dict,
    "_long_overflow": _long_overflow,
    "_read_varint": _read_varint,
    "_ZZ": _ZIGZAG_BYTE,
    "_Err": AvroDecodeError,
    "_StructError": struct.error,
    "_str_encode": str.encode,
    "_bytearray": bytearray,
    "_bytes": bytes,
    "_float": float,
    "_dict": dict,
    "_list": list,
    "_int": int,
    "_bool": bool,
    "_isinstance": isinstance,
    "_len": len,
    "_range": range,
    "_tuple": tuple,
    "_str": str,
    "_Mapping": Mapping,
    "_SEQ": (Sequence, array.array),
    "_BYTES": (bytes, bytearray),
}


# ---------------------------------------------------------------------------------------------
# Source generation.


def _kind(schema: Any) -> str:
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "union"
    kind = schema["type"]
    if isinstance(kind, (dict, list)):
        return _kind(kind)
    return str(kind)


class _Gen:
    def __init__(self, schema: Any) -> None:
        self.named: dict[str, Any] = {}
        self.in_progress: set[str] = set()
        self.consts: dict[str, Any] = {}
        self.counter = 0
        self.lines: list[str] = []
        self.uses_struct = False
        self._register(schema)

    # -- schema walking ------------------------------------------------------------------------

    def _register(self, schema: Any) -> None:
        """Collect every named type, so references resolve wherever they appear."""
        if isinstance(schema, list):
            for branch in schema:
                self._register(branch)
        elif isinstance(schema, dict):
            if isinstance(schema.get("type"), (dict, list)):
                self._register(schema["type"])
                return
            name = schema.get("name")
            if isinstance(name, str) and schema.get("type") in ("record", "error", "enum", "fixed"):
                self.named.setdefault(name, schema)
            for f in schema.get("fields", ()):
                self._register(f["type"])
            if "items" in schema:
                self._register(schema["items"])
            if "values" in schema:
                self._register(schema["values"])

    def resolve(self, schema: Any) -> Any:
        """A named reference becomes its definition; ``{"type": "long"}`` becomes ``"long"``."""
        while True:
            if isinstance(schema, str):
                if schema in _PRIMITIVES:
                    return schema
                if schema not in self.named:
                    raise UnsupportedSchema(f"unknown type {schema!r}")
                schema = self.named[schema]
                continue
            if isinstance(schema, dict):
                kind = schema.get("type")
                if isinstance(kind, (dict, list)) or kind in _PRIMITIVES:
                    schema = kind
                    continue
                if kind == "error":
                    kind = "record"
                if kind not in ("record", "enum", "fixed", "array", "map"):
                    if isinstance(kind, str) and kind in self.named:
                        schema = kind
                        continue
                    raise UnsupportedSchema(f"unknown type {kind!r}")
            return schema

    def min_size(self, schema: Any, seen: frozenset[str] = frozenset()) -> int:
        s = self.resolve(schema)
        if isinstance(s, str):
            return {"null": 0, "float": 4, "double": 8}.get(s, 1)
        if isinstance(s, list):
            return 1
        kind = s["type"]
        if kind == "fixed":
            return int(s["size"])
        if kind in ("record", "error"):
            if s["name"] in seen:
                return 0
            return sum(self.min_size(f["type"], seen | {s["name"]}) for f in s["fields"])
        return 1

    # -- emitting --------------------------------------------------------------------------------

    def var(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def const(self, stem: str, value: Any) -> str:
        for name, existing in self.consts.items():
            if name.startswith(f"_{stem}") and type(existing) is type(value) and existing == value:
                return name
        name = f"_{stem}{len(self.consts)}"
        self.consts[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    # -- encoder ---------------------------------------------------------------------------------

    def enc_varint(self, ind: int, expr: str, path: str, *, nonneg_small: bool = False) -> None:
        """Append the zig-zag varint of the int expression ``expr`` (an exact int)."""
        n = self.var("n")
        if nonneg_small:  # a length or a count: never negative, nearly always < 64
            self.emit(ind, f"{n} = {expr} << 1")
        else:
            self.emit(ind, f"{n} = ({expr} << 1) ^ ({expr} >> 63)")
        self.emit(ind, f"if {n} < 128:")
        self.emit(ind + 1, f"append({n})")
        self.emit(ind, "else:")
        if not nonneg_small:
            self.emit(ind + 1, f"if {n} >> 64:")
            self.emit(ind + 2, f"raise _long_overflow({path!r})")
        self.emit(ind + 1, f"while {n} >= 128:")
        self.emit(ind + 2, f"append(({n} & 127) | 128)")
        self.emit(ind + 2, f"{n} >>= 7")
        self.emit(ind + 1, f"append({n})")

    def enc(self, schema: Any, v: str, ind: int, path: str, strict: bool) -> None:
        """Statements appending the encoding of the value in variable ``v``.

        ``strict`` (inside a union branch) makes every check as tight as fastavro's validation,
        since fastavro chose the branch by validating: whatever this encodes, fastavro would
        have chosen the same branch for."""
        s = self.resolve(schema)
        if isinstance(s, list):
            self.enc_union(s, v, ind, path)
            return
        kind = s if isinstance(s, str) else s["type"]
        if kind == "null":
            self.emit(ind, f"if {v} is not None:")
            self.emit(ind + 1, f"raise _bad({path!r}, 'null', {v})")
        elif kind == "boolean":
            self.emit(ind, f"if {v} is True:")
            self.emit(ind + 1, "append(1)")
            self.emit(ind, f"elif {v} is False:")
            self.emit(ind + 1, "append(0)")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"raise _bad({path!r}, 'boolean', {v})")
        elif kind in ("int", "long"):
            if strict:
                low, high = (INT_MIN, INT_MAX) if kind == "int" else (LONG_MIN, LONG_MAX)
                self.emit(ind, f"if {v}.__class__ is not _int or not {low} <= {v} <= {high}:")
                self.emit(ind + 1, f"{v} = _strict_int({v}, {low}, {high}, {path!r})")
            else:
                self.emit(ind, f"if {v}.__class__ is not _int:")
                self.emit(ind + 1, f"{v} = _as_int({v}, {path!r})")
            self.enc_varint(ind, v, path)
        elif kind in ("float", "double"):
            self.uses_struct = True
            pack = self.const("pack_f" if kind == "float" else "pack_d", _struct_pack(kind))
            if strict:
                self.emit(ind, f"if {v}.__class__ is not _float:")
                self.emit(ind + 1, f"{v} = _strict_float({v}, {path!r})")
            self.emit(ind, f"extend({pack}({v}))")
        elif kind == "string":
            b = self.var("b")
            self.emit(ind, f"{b} = _str_encode({v})")
            self.enc_varint(ind, f"_len({b})", path, nonneg_small=True)
            self.emit(ind, f"extend({b})")
        elif kind == "bytes":
            self.emit(ind, f"if {v}.__class__ is not _bytes:")
            self.emit(ind + 1, f"{v} = _as_bytes({v}, {path!r})")
            self.enc_varint(ind, f"_len({v})", path, nonneg_small=True)
            self.emit(ind, f"extend({v})")
        elif kind == "fixed":
            size = int(s["size"])
            self.emit(ind, f"if {v}.__class__ is not _bytes:")
            self.emit(ind + 1, f"{v} = _as_bytes({v}, {path!r})")
            self.emit(ind, f"if _len({v}) != {size}:")
            self.emit(ind + 1, f"raise ValueError({path!r} + ': fixed of the wrong size')")
            self.emit(ind, f"extend({v})")
        elif kind == "enum":
            symbols = list(s["symbols"])
            if len(symbols) <= 64:
                table = self.const("enum", {sym: i << 1 for i, sym in enumerate(symbols)})
                self.emit(ind, f"append({table}[{v}])")
            else:
                table = self.const("enum", {sym: _zigzag(i) for i, sym in enumerate(symbols)})
                self.emit(ind, f"extend({table}[{v}])")
        elif kind == "array":
            self.emit(ind, f"if {v}.__class__ is not _list:")
            self.emit(ind + 1, f"{v} = _as_list({v}, {path!r})")
            self.emit(ind, f"if {v}:")
            self.enc_varint(ind + 1, f"_len({v})", path, nonneg_small=True)
            item = self.var("i")
            self.emit(ind + 1, f"for {item} in {v}:")
            self.enc(s["items"], item, ind + 2, f"{path}[]", strict)
            self.emit(ind, "append(0)")
        elif kind == "map":
            self.emit(ind, f"if {v}.__class__ is not _dict:")
            self.emit(ind + 1, f"{v} = _as_dict({v}, {path!r})")
            self.emit(ind, f"if {v}:")
            self.enc_varint(ind + 1, f"_len({v})", path, nonneg_small=True)
            key, val = self.var("k"), self.var("m")
            self.emit(ind + 1, f"for {key}, {val} in {v}.items():")
            self.enc("string", key, ind + 2, f"{path}{{}}", strict)
            self.enc(s["values"], val, ind + 2, f"{path}{{}}", strict)
            self.emit(ind, "append(0)")
        elif kind in ("record", "error"):
            self.enc_record(s, v, ind, path, strict)
        else:  # pragma: no cover - resolve() refuses anything else
            raise UnsupportedSchema(f"type {kind!r}")

    def enc_record(self, s: Any, v: str, ind: int, path: str, strict: bool) -> None:
        name = s["name"]
        if name in self.in_progress:
            raise UnsupportedSchema(f"recursive record {name}")
        self.in_progress.add(name)
        self.emit(ind, f"if {v}.__class__ is not _dict:")
        self.emit(ind + 1, f"{v} = _as_dict({v}, {path!r})")
        if strict:  # fastavro's validate_record honours a "-type" hint
            self.emit(ind, f"if '-type' in {v} and {v}['-type'] != {name!r}:")
            self.emit(ind + 1, f"raise _bad({path!r}, {name!r}, {v})")
        for f in s["fields"]:
            fname = f["name"]
            ftype = f["type"]
            fv = self.var("f")
            fpath = f"{path}.{fname}" if path else fname
            if "default" in f or ("null" in ftype if isinstance(ftype, (str, list)) else False):
                default = f.get("default")
                if default is None or isinstance(default, (bool, int, str)):
                    dexpr = repr(default)
                else:
                    dexpr = self.const("default", default)
                self.emit(ind, f"{fv} = {v}[{fname!r}] if {fname!r} in {v} else {dexpr}")
            else:
                self.emit(ind, f"{fv} = {v}[{fname!r}]")
            if ftype in ("float", "double"):  # fastavro's write_record: float(value), e.g. "NaN"
                self.emit(ind, f"{fv} = _float({fv})")
            self.enc(ftype, fv, ind, fpath, strict)
        self.in_progress.discard(name)

    def union_branches(self, branches: list[Any]) -> list[tuple[int, Any]]:
        """(index written, schema) per branch; refuses unions fastavro decides by field count."""
        resolved = [self.resolve(b) for b in branches]
        kinds = [r if isinstance(r, str) else r["type"] for r in resolved]
        if any(isinstance(r, list) for r in resolved):
            raise UnsupportedSchema("a union directly inside a union")
        containers = [
            {"record": "mapping", "error": "mapping", "map": "mapping"}.get(k, k)
            for k in kinds
            if k in ("record", "error", "map", "array")
        ]
        if len(containers) != len(set(containers)):
            raise UnsupportedSchema(f"union with two branches of one container kind: {kinds}")
        out: list[tuple[int, Any]] = []
        for index, (kind, r) in enumerate(zip(kinds, resolved, strict=True)):
            written = index
            if kind == "float":  # fastavro prefers a later "double" for a float value
                later = [j for j in range(index + 1, len(kinds)) if kinds[j] == "double"]
                if later:
                    written = later[0]
                    r = resolved[written]
            out.append((written, r))
        return out

    def union_test(self, s: Any, v: str) -> str:
        kind = s if isinstance(s, str) else s["type"]
        if kind == "null":
            return f"{v} is None"
        if kind == "boolean":
            return f"{v}.__class__ is _bool"
        if kind in ("int", "long"):
            low, high = (INT_MIN, INT_MAX) if kind == "int" else (LONG_MIN, LONG_MAX)
            return (
                f"({v}.__class__ is _int and {low} <= {v} <= {high})"
                f" or _valid_int({v}, {low}, {high})"
            )
        if kind in ("float", "double"):
            return f"{v}.__class__ is _float or _valid_float({v})"
        if kind == "string":
            return f"_isinstance({v}, _str)"
        if kind == "bytes":
            return f"_isinstance({v}, _BYTES)"
        if kind == "fixed":
            return f"_isinstance({v}, _BYTES) and _len({v}) == {int(s['size'])}"
        if kind == "enum":
            return f"{v} in {self.const('symbols', tuple(s['symbols']))}"
        if kind == "array":
            # a tuple is fastavro's (type name, value) union notation, left to fastavro
            return f"_isinstance({v}, _SEQ) and not _isinstance({v}, (_str, _tuple))"
        return f"_isinstance({v}, _Mapping)"  # record or map

    def enc_union(self, branches: list[Any], v: str, ind: int, path: str) -> None:
        keyword = "if"
        for written, s in self.union_branches(branches):
            self.emit(ind, f"{keyword} {self.union_test(s, v)}:")
            keyword = "elif"
            self.emit(ind + 1, f"append({written << 1})" if written < 64 else "pass")
            if written >= 64:
                self.emit(ind + 1, f"extend({self.const('index', _zigzag(written))})")
            if s != "null":
                # a primitive branch's test above is fastavro's whole validation of it
                container = isinstance(s, dict) and s["type"] in ("record", "error", "map", "array")
                self.enc(s, v, ind + 1, path, strict=container)
        self.emit(ind, "else:")
        self.emit(ind + 1, f"raise _bad({path!r}, 'a branch of the union', {v})")

    # -- decoder ---------------------------------------------------------------------------------

    def dec_varint(self, ind: int, target: str) -> None:
        self.emit(ind, "c = data[pos]")
        self.emit(ind, "pos += 1")
        self.emit(ind, "if c < 128:")
        self.emit(ind + 1, f"{target} = _ZZ[c]")
        self.emit(ind, "else:")  # longer varints inline: timestamps take 6 bytes
        self.emit(ind + 1, f"{target} = c & 127")
        self.emit(ind + 1, "shift = 7")
        self.emit(ind + 1, "while True:")
        self.emit(ind + 2, "c = data[pos]")
        self.emit(ind + 2, "pos += 1")
        self.emit(ind + 2, f"{target} |= (c & 127) << shift")
        self.emit(ind + 2, "if c < 128:")
        self.emit(ind + 3, "break")
        self.emit(ind + 2, "shift += 7")
        self.emit(ind + 2, "if shift > 63:")
        self.emit(ind + 3, "raise _Err('varint longer than 10 bytes')")
        self.emit(ind + 1, f"if {target} >> 64:")
        self.emit(ind + 2, "raise _Err('varint beyond 64 bits')")
        self.emit(ind + 1, f"{target} = ({target} >> 1) ^ -({target} & 1)")

    def dec_small_index(self, ind: int) -> None:
        """``c`` = the byte an index < 64 is written as (index * 2), or -1 for any other."""
        self.emit(ind, "c = data[pos]")
        self.emit(ind, "pos += 1")
        self.emit(ind, "if c >= 128:")
        self.emit(ind + 1, "c, pos = _small_index_byte(data, pos, c)")

    def dec(self, schema: Any, t: str, ind: int) -> None:
        """Statements reading one value into variable ``t``."""
        s = self.resolve(schema)
        if isinstance(s, list):
            if len(s) > 64:
                raise UnsupportedSchema("a union of more than 64 branches")
            self.dec_small_index(ind)
            keyword = "if"
            for index, branch in enumerate(s):
                self.emit(ind, f"{keyword} c == {index << 1}:")
                keyword = "elif"
                self.dec(branch, t, ind + 1)
            self.emit(ind, "else:")
            self.emit(ind + 1, "raise _Err('union index out of range')")
            return
        kind = s if isinstance(s, str) else s["type"]
        if kind == "null":
            self.emit(ind, f"{t} = None")
        elif kind == "boolean":
            self.emit(ind, f"{t} = data[pos] != 0")
            self.emit(ind, "pos += 1")
        elif kind in ("int", "long"):
            self.dec_varint(ind, t)
        elif kind in ("float", "double"):
            self.uses_struct = True
            width = 4 if kind == "float" else 8
            unpack = self.const(f"unpack_{kind[0]}", _struct_unpack(kind))
            self.emit(ind, f"{t} = {unpack}(data, pos)[0]")
            self.emit(ind, f"pos += {width}")
        elif kind in ("string", "bytes"):
            # A length byte even and < 128 is a length < 64, the common case. No bound check:
            # a short slice leaves pos beyond end, which the final check (or the next read)
            # reports; pos never moves backwards (negative lengths take the slow path).
            n, b0 = self.var("n"), self.var("s")
            suffix = ".decode()" if kind == "string" else ""
            self.emit(ind, "c = data[pos]")
            self.emit(ind, f"{n} = _SL[c]")
            self.emit(ind, f"if {n} >= 0:")
            self.emit(ind + 1, f"{b0} = pos + 1")
            self.emit(ind + 1, f"pos = {b0} + {n}")
            # two-byte lengths (64 to 8191) inline too: payloads, addresses
            self.emit(ind, "elif c >= 128 and data[pos + 1] < 128:")
            self.emit(ind + 1, f"{n} = (c & 127) | (data[pos + 1] << 7)")
            self.emit(ind + 1, f"if {n} & 1:")
            self.emit(ind + 2, "raise _Err('negative length')")
            self.emit(ind + 1, f"{b0} = pos + 2")
            self.emit(ind + 1, f"pos = {b0} + ({n} >> 1)")
            self.emit(ind, "else:")
            self.emit(ind + 1, f"{b0}, pos = _read_span(data, pos, end)")
            self.emit(ind, f"{t} = data[{b0}:pos]{suffix}")
        elif kind == "fixed":
            e = self.var("e")
            self.emit(ind, f"{e} = pos + {int(s['size'])}")
            self.emit(ind, f"if {e} > end:")
            self.emit(ind + 1, "raise _Err('fixed beyond the end of the body')")
            self.emit(ind, f"{t} = data[pos:{e}]")
            self.emit(ind, f"pos = {e}")
        elif kind == "enum":
            if len(s["symbols"]) > 64:
                symbols = self.const("symbols", tuple(s["symbols"]))
                idx = self.var("x")
                self.dec_varint(ind, idx)
                self.emit(ind, f"if not 0 <= {idx} < {len(s['symbols'])}:")
                self.emit(ind + 1, "raise _Err('enum index out of range')")
                self.emit(ind, f"{t} = {symbols}[{idx}]")
                return
            by_byte = [None] * 128
            for index, symbol in enumerate(s["symbols"]):
                by_byte[index << 1] = symbol
            table = self.const("symbols_by_byte", tuple(by_byte))
            self.dec_small_index(ind)
            self.emit(ind, f"{t} = {table}[c]")
            self.emit(ind, f"if {t} is None:")
            self.emit(ind + 1, "raise _Err('enum index out of range')")
        elif kind in ("array", "map"):
            self.dec_blocks(s, kind, t, ind)
        elif kind in ("record", "error"):
            name = s["name"]
            if name in self.in_progress:
                raise UnsupportedSchema(f"recursive record {name}")
            self.in_progress.add(name)
            values: list[tuple[str, str]] = []
            for f in s["fields"]:
                fv = self.var("r")
                self.dec(f["type"], fv, ind)
                values.append((f["name"], fv))
            self.in_progress.discard(name)
            items = ", ".join(f"{k!r}: {val}" for k, val in values)
            self.emit(ind, f"{t} = {{{items}}}")
        else:  # pragma: no cover
            raise UnsupportedSchema(f"type {kind!r}")

    def dec_blocks(self, s: Any, kind: str, t: str, ind: int) -> None:
        cnt = self.var("cnt")
        self.emit(ind, f"{t} = []" if kind == "array" else f"{t} = {{}}")
        self.dec_varint(ind, cnt)
        self.emit(ind, f"while {cnt}:")
        self.emit(ind + 1, f"if {cnt} < 0:")
        self.emit(ind + 2, f"{cnt} = -{cnt}")
        skip = self.var("sz")
        self.dec_varint(ind + 2, skip)  # the block's byte size, unused (as fastavro)
        inner = s["items"] if kind == "array" else s["values"]
        per_item = self.min_size(inner) + (1 if kind == "map" else 0)
        if per_item:  # a count the remaining bytes cannot hold is corrupt (and not a long loop)
            self.emit(ind + 1, f"if {cnt} * {per_item} > end - pos:")
            self.emit(ind + 2, "raise _Err('block count beyond the end of the body')")
        self.emit(ind + 1, f"for _ in _range({cnt}):")
        if kind == "array":
            item = self.var("a")
            self.dec(inner, item, ind + 2)
            self.emit(ind + 2, f"{t}.append({item})")
        else:
            key, val = self.var("k"), self.var("w")
            self.dec("string", key, ind + 2)
            self.dec(inner, val, ind + 2)
            self.emit(ind + 2, f"{t}[{key}] = {val}")
        self.dec_varint(ind + 1, cnt)

    # -- whole functions -------------------------------------------------------------------------

    def source(self, schema: Any) -> str:
        top = self.resolve(schema)
        if not isinstance(top, dict) or top.get("type") not in ("record", "error"):
            raise UnsupportedSchema("the top-level schema is not a record")
        self.emit(0, "def encode(record, prefix=b''):")
        self.emit(1, "buf = _bytearray(prefix)")
        self.emit(1, "append = buf.append")
        self.emit(1, "extend = buf.extend")
        self.emit(1, "try:")
        self.enc_record(top, "record", 2, "", strict=False)
        self.emit(1, "except AttributeError as exc:")
        self.emit(2, "raise TypeError(str(exc)) from exc")
        self.emit(1, "except _StructError as exc:")
        self.emit(2, "raise TypeError(str(exc)) from exc")
        self.emit(1, "except OverflowError as exc:")
        self.emit(2, "raise ValueError(str(exc)) from exc")
        self.emit(1, "return _bytes(buf)")
        self.emit(0, "")
        self.emit(0, "")
        self.emit(0, "def decode(data, start=0):")
        self.emit(1, "if data.__class__ is not _bytes:")
        self.emit(2, "data = _bytes(data)")
        self.emit(1, "pos = start")
        self.emit(1, "end = _len(data)")
        self.emit(1, "try:")
        self.dec(top, "result", 2)
        self.emit(1, "except IndexError as exc:")
        self.emit(2, "raise _Err('truncated body') from exc")
        self.emit(1, "except _StructError as exc:")
        self.emit(2, "raise _Err('truncated body') from exc")
        self.emit(1, "if pos != end:")
        self.emit(
            2, "raise _Err('truncated body' if pos > end else 'trailing bytes after the body')"
        )
        self.emit(1, "return result")
        return "\n".join(self.lines) + "\n"


def _struct_pack(kind: str) -> Callable[..., bytes]:
    return struct.Struct("<f" if kind == "float" else "<d").pack


def _struct_unpack(kind: str) -> Callable[..., tuple[Any, ...]]:
    return struct.Struct("<f" if kind == "float" else "<d").unpack_from


def _normalise(schema: Any) -> Any:
    """Full names everywhere, whether given plain JSON or fastavro's parsed form."""
    if isinstance(schema, dict) and "__fastavro_parsed" in schema:
        return schema
    return fastavro.parse_schema(schema, _write_hint=False)


def generate_source(schema: Any) -> tuple[str, dict[str, Any]]:
    """The Python source of ``encode`` and ``decode`` for ``schema`` and the constants it uses.

    Raises ``UnsupportedSchema`` for what the generator does not specialise."""
    normalised = _normalise(schema)
    gen = _Gen(normalised)
    src = gen.source(normalised)
    return src, dict(gen.consts)


def compile_codec(schema: Any, *, name: str = "record") -> RecordCodec:
    """The encoder and decoder for ``schema`` (plain JSON or as ``fastavro.parse_schema``
    returns it), generated and compiled once; fastavro-backed when not specialisable."""
    try:
        src, consts = generate_source(schema)
    except UnsupportedSchema as exc:
        return _fastavro_codec(schema, str(exc))
    namespace: dict[str, Any] = {"__builtins__": __builtins__, **_RUNTIME, **consts}
    code = compile(src, f"<avro_codegen {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - source generated above from the schema, no user text
    return RecordCodec(
        encode=namespace["encode"], decode=namespace["decode"], specialised=True, source=src
    )


def _fastavro_codec(schema: Any, reason: str) -> RecordCodec:
    parsed = fastavro.parse_schema(schema)

    def encode(record: Mapping[str, Any], prefix: bytes = b"") -> bytes:
        out = io.BytesIO()
        out.write(prefix)
        fastavro.schemaless_writer(out, parsed, dict(record))
        return out.getvalue()

    def decode(data: bytes, start: int = 0) -> dict[str, Any]:
        body = io.BytesIO(data)
        body.seek(start)
        try:
            result = fastavro.schemaless_reader(body, parsed, parsed)
        except (EOFError, StopIteration, IndexError) as exc:
            raise AvroDecodeError("truncated body") from exc
        if body.tell() != len(data):
            raise AvroDecodeError("trailing bytes after the body")
        if not isinstance(result, dict):
            raise AvroDecodeError("the body is not a record")
        return result

    return RecordCodec(encode=encode, decode=decode, specialised=False, reason=reason)
