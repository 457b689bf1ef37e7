"""SenML packs (RFC 8428) in CBOR (RFC 8428 §6) and the guarded CBOR byte layer under them.

``load_cbor`` pre-scans every head (bounds, depth, deterministic form, RFC 8949 §4.2.1)
before ``cbor2`` decodes; the envelope of ``frame.py`` is built on the same loader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cbor2

from ..errors import DecodeError, EncodeError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_RECORDS",
    "MAX_DEPTH_CEILING",
    "Label",
    "SenmlPack",
    "SenmlRecord",
    "decode_senml",
    "dumps_deterministic",
    "encode_senml",
    "load_cbor",
]

LAYER = "iot"
DEFAULT_MAX_BYTES = 65536
DEFAULT_MAX_DEPTH = 16  # a frame needs 6 (envelope, payload, entries, entry, pack, record)
# Hard ceiling for max_depth: cbor2 6.3.0 dumps() recurses natively and crashed the
# interpreter (SIGSEGV) re-encoding ~100 000 nested arrays, which loads() accepts.
MAX_DEPTH_CEILING = 64
DEFAULT_MAX_RECORDS = 1024

# Smallest argument each additional-information value may carry in preferred
# (shortest) serialization of a head: RFC 8949 §4.2.1, §3 (ai 24..27 = 1/2/4/8 bytes).
_MIN_ARG = {24: 24, 25: 0x100, 26: 0x10000, 27: 0x100000000}
_SIMPLE_FALSE, _SIMPLE_TRUE = 20, 21  # RFC 8949 §3.3, Table 4
_FLOAT_AI = (25, 26, 27)  # half, single, double (RFC 8949 §3.3)

Number = int | float


class Label(IntEnum):
    """CBOR labels of the SenML fields (RFC 8428 §6, Table 4; IANA "SenML Labels", Table 7)."""

    BASE_VERSION = -1  # bver
    BASE_NAME = -2  # bn
    BASE_TIME = -3  # bt
    BASE_UNIT = -4  # bu
    BASE_VALUE = -5  # bv
    BASE_SUM = -6  # bs
    NAME = 0  # n
    UNIT = 1  # u
    VALUE = 2  # v
    STRING_VALUE = 3  # vs
    BOOL_VALUE = 4  # vb
    SUM = 5  # s
    TIME = 6  # t
    UPDATE_TIME = 7  # ut
    DATA_VALUE = 8  # vd


# Text labels of RFC 8428 Table 7: in CBOR these fields must use their integer label (§6).
_REGISTERED_TEXT_LABELS = frozenset(
    {"bn", "bt", "bu", "bv", "bs", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"}
)

# Field name of SenmlRecord for each label, and the wire type it carries.
_TEXT, _NUMBER, _UINT, _BOOL, _BYTES = "text", "number", "uint", "bool", "bytes"
_FIELDS: dict[Label, tuple[str, str]] = {
    Label.BASE_VERSION: ("base_version", _UINT),
    Label.BASE_NAME: ("base_name", _TEXT),
    Label.BASE_TIME: ("base_time", _NUMBER),
    Label.BASE_UNIT: ("base_unit", _TEXT),
    Label.BASE_VALUE: ("base_value", _NUMBER),
    Label.BASE_SUM: ("base_sum", _NUMBER),
    Label.NAME: ("name", _TEXT),
    Label.UNIT: ("unit", _TEXT),
    Label.VALUE: ("value", _NUMBER),
    Label.STRING_VALUE: ("string_value", _TEXT),
    Label.BOOL_VALUE: ("bool_value", _BOOL),
    Label.SUM: ("sum", _NUMBER),
    Label.TIME: ("time", _NUMBER),
    Label.UPDATE_TIME: ("update_time", _NUMBER),
    Label.DATA_VALUE: ("data_value", _BYTES),
}
# RFC 8428 §11 CDDL: a record carries at most one of v / vs / vb / vd.
_VALUE_LABELS = (Label.VALUE, Label.STRING_VALUE, Label.BOOL_VALUE, Label.DATA_VALUE)


@dataclass(frozen=True, slots=True)
class SenmlRecord:
    """One SenML record (RFC 8428 §4); ``None`` means the field is absent.

    Times are seconds (§4.5.3: values >= 2**28 are absolute POSIX time, smaller ones
    relative to now); units are SenML unit symbols (§12.1, e.g. ``"m3"``, ``"W"``, ``"J"``).
    ``extensions`` holds text labels not in Table 4 with their value as deterministic
    CBOR bytes, in key order; labels ending in ``_`` (must-understand, §4.4) are refused.
    """

    base_name: str | None = None
    base_time: Number | None = None
    base_unit: str | None = None
    base_value: Number | None = None
    base_sum: Number | None = None
    base_version: int | None = None
    name: str | None = None
    unit: str | None = None
    value: Number | None = None
    string_value: str | None = None
    bool_value: bool | None = None
    data_value: bytes | None = None
    sum: Number | None = None
    time: Number | None = None
    update_time: Number | None = None
    extensions: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class SenmlPack:
    """A SenML pack: one or more records (RFC 8428 §4, ``SenML-Pack = [1* record]``)."""

    records: tuple[SenmlRecord, ...]


def _fail(path: str, reason: str) -> DecodeError:
    return DecodeError(LAYER, 0, f"{path}: {reason}")


def _type_name(value: object) -> str:
    return type(value).__name__


def _check(kind: str, value: object, path: str) -> object:
    """Return ``value`` if it has the wire type ``kind``, else raise :class:`DecodeError`."""
    if kind == _TEXT:
        ok = type(value) is str
    elif kind == _BYTES:
        ok = type(value) is bytes
    elif kind == _BOOL:
        ok = type(value) is bool
    elif kind == _UINT:
        ok = type(value) is int and value >= 0
    else:  # _NUMBER: integer or float, never bool; JSON-representable (RFC 8428 §6)
        ok = type(value) is int or (type(value) is float and math.isfinite(value))
    if not ok:
        raise _fail(path, f"expected {kind}, found {_type_name(value)} {value!r:.40}")
    return value


def record_from_cbor(obj: Any, path: str = "record") -> SenmlRecord:
    """Build a :class:`SenmlRecord` from a decoded CBOR map; raise ``DecodeError`` if invalid."""
    if type(obj) is not dict:
        raise _fail(path, f"expected a map, found {_type_name(obj)}")
    fields: dict[str, object] = {}
    extensions: list[tuple[str, bytes]] = []
    values = 0
    for key, value in obj.items():
        if type(key) is int:
            try:
                label = Label(key)
            except ValueError:
                # Table 4 is conclusive: new labels use text keys (RFC 8428 §6).
                raise _fail(path, f"unknown integer label {key}") from None
            attr, kind = _FIELDS[label]
            fields[attr] = _check(kind, value, f"{path}.{attr}")
            values += label in _VALUE_LABELS
        elif type(key) is str:
            if not key or key.endswith("_"):
                raise _fail(path, f"must-understand or empty label {key!r} (RFC 8428 §4.4)")
            if key in _REGISTERED_TEXT_LABELS:
                raise _fail(path, f"label {key!r} must use its integer CBOR label (RFC 8428 §6)")
            extensions.append((key, cbor2.dumps(value, canonical=True)))
        else:
            raise _fail(path, f"label must be an integer or text, found {_type_name(key)}")
    if values > 1:
        raise _fail(path, "more than one of v/vs/vb/vd (RFC 8428 §11)")
    return SenmlRecord(**fields, extensions=tuple(extensions))  # type: ignore[arg-type]


def record_to_cbor(record: SenmlRecord) -> dict[int | str, object]:
    """The CBOR map of ``record`` (RFC 8428 §6 integer labels); absent fields are omitted."""
    out: dict[int | str, object] = {}
    for label, (attr, _kind) in _FIELDS.items():
        value = getattr(record, attr)
        if value is not None:
            out[int(label)] = value
    for key, raw in record.extensions:
        out[key] = cbor2.loads(raw)
    return out


def pack_from_cbor(obj: Any, max_records: int, path: str = "pack") -> SenmlPack:
    """Build a :class:`SenmlPack` from a decoded CBOR array of at most ``max_records`` records."""
    if type(obj) is not list:
        raise _fail(path, f"expected an array of records, found {_type_name(obj)}")
    if not obj:
        raise _fail(path, "a SenML pack needs at least one record (RFC 8428 §11)")
    if len(obj) > max_records:
        raise _fail(path, f"{len(obj)} records exceed max_records={max_records}")
    return SenmlPack(tuple(record_from_cbor(r, f"{path}[{i}]") for i, r in enumerate(obj)))


def pack_to_cbor(pack: SenmlPack) -> list[dict[int | str, object]]:
    """The CBOR array of ``pack``."""
    return [record_to_cbor(r) for r in pack.records]


# ---------------------------------------------------------------- byte layer


def _scan(data: bytes, max_depth: int) -> None:
    """Walk every CBOR head once, without recursion, before any decoder allocates.

    Rejects: truncation, declared lengths/counts beyond the remaining bytes, nesting
    deeper than ``max_depth``, indefinite lengths and non-shortest heads (RFC 8949
    §4.2.1), reserved additional information 28..30 (§3), tags, simple values other
    than false/true, invalid UTF-8 (§3.1), and trailing bytes. O(len(data)).
    """
    end = len(data)
    pos = 0
    pending = [1]  # items still expected in each open container; [0] is the top level
    while pending:
        if pending[-1] == 0:
            pending.pop()
            continue
        pending[-1] -= 1
        start = pos
        if pos >= end:
            raise DecodeError(LAYER, pos, "truncated: a data item was expected")
        initial = data[pos]
        pos += 1
        major, ai = initial >> 5, initial & 0x1F
        if ai < 24:
            arg = ai
        elif ai <= 27:
            size = 1 << (ai - 24)
            if size > end - pos:
                raise DecodeError(LAYER, start, f"truncated head: need {size} argument bytes")
            arg = int.from_bytes(data[pos : pos + size], "big")
            pos += size
            if major != 7 and arg < _MIN_ARG[ai]:
                raise DecodeError(LAYER, start, "head not in shortest form (RFC 8949 §4.2.1)")
        elif ai == 31:
            what = "unexpected break" if major == 7 else "indefinite length"
            raise DecodeError(LAYER, start, f"{what} not allowed (RFC 8949 §4.2.1)")
        else:
            raise DecodeError(LAYER, start, f"reserved additional information {ai}")
        if major <= 1:
            continue
        if major <= 3:
            if arg > end - pos:
                raise DecodeError(LAYER, start, f"string declares {arg} bytes, {end - pos} left")
            if major == 3:
                try:
                    data[pos : pos + arg].decode("utf-8")
                except UnicodeDecodeError:
                    raise DecodeError(LAYER, start, "text string is not UTF-8") from None
            pos += arg
        elif major <= 5:
            count = arg * 2 if major == 5 else arg
            if count > end - pos:  # every item takes at least one byte
                raise DecodeError(
                    LAYER, start, f"container declares {count} items, {end - pos} bytes left"
                )
            if len(pending) > max_depth:
                raise DecodeError(LAYER, start, f"nesting deeper than max_depth={max_depth}")
            pending.append(count)
        elif major == 6:
            raise DecodeError(LAYER, start, f"tag {arg} not allowed in this format")
        elif ai not in _FLOAT_AI and not (ai < 24 and arg in (_SIMPLE_FALSE, _SIMPLE_TRUE)):
            raise DecodeError(LAYER, start, f"simple value {arg} not allowed in this format")
    if pos != end:
        raise DecodeError(LAYER, pos, f"{end - pos} trailing bytes after the data item")


def load_cbor(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    require_canonical: bool = True,
) -> Any:
    """Decode one CBOR item within limits, or raise ``DecodeError`` (never a cbor2 error)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    if not 1 <= max_depth <= MAX_DEPTH_CEILING:
        raise ValueError(f"max_depth must be in 1..{MAX_DEPTH_CEILING}, got {max_depth}")
    if len(data) > max_bytes:
        raise DecodeError(LAYER, max_bytes, f"{len(data)} bytes exceed max_bytes={max_bytes}")
    raw = bytes(data)
    _scan(raw, max_depth)
    try:
        obj = cbor2.loads(
            raw, max_depth=max_depth, allow_indefinite=False, allow_duplicate_keys=False
        )
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise DecodeError(LAYER, 0, f"CBOR: {exc}") from None
    if require_canonical:
        again = dumps_deterministic(obj)
        if again != raw:
            at = next(
                (i for i, (a, b) in enumerate(zip(again, raw, strict=False)) if a != b),
                min(len(again), len(raw)),
            )
            raise DecodeError(LAYER, at, "not in deterministic encoding (RFC 8949 §4.2.1)")
    return obj


def dumps_deterministic(obj: object) -> bytes:
    # RFC 8949 §4.2.1: shortest heads, shortest exact float, keys in bytewise order.
    return cbor2.dumps(obj, canonical=True)


def decode_senml(
    data: bytes | bytearray | memoryview,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_records: int = DEFAULT_MAX_RECORDS,
    require_canonical: bool = True,
) -> SenmlPack:
    """Decode a bare ``application/senml+cbor`` pack (RFC 8428 §6) within the same limits."""
    obj = load_cbor(
        data, max_bytes=max_bytes, max_depth=max_depth, require_canonical=require_canonical
    )
    return pack_from_cbor(obj, max_records)


def encode_senml(pack: SenmlPack) -> bytes:
    """Encode a bare SenML pack in deterministic CBOR (RFC 8949 §4.2.1)."""
    try:
        for record in pack.records:
            for _label, raw in record.extensions:
                load_cbor(raw)
        data = dumps_deterministic(pack_to_cbor(pack))
        back = pack_from_cbor(cbor2.loads(data), max_records=len(pack.records) or 1)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, AttributeError) as exc:
        raise EncodeError(f"senml pack: {exc}") from None
    except DecodeError as exc:
        raise EncodeError(f"senml pack: {exc.reason}") from None
    if back != pack:
        raise EncodeError("senml pack does not survive a round trip (check field types)")
    return data
