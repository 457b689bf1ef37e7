"""EDT data-type codecs compiled from the ``type:`` entries of ``specs/echonet``.

Each :class:`DataType` turns one property's EDT into a Python value and back.
The kinds and their layouts are listed in ``specs/echonet/README.md``; the
property-map layout follows ECHONET Lite Specification Part II, Annex 1.
"""

from __future__ import annotations

import datetime as dt
import itertools
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..errors import DecodeError, EncodeError
from .frame import EOJ

__all__ = [
    "LAYER",
    "DataType",
    "ManufacturerCode",
    "compile_type",
    "decode_property_map",
    "encode_property_map",
    "size_error",
    "size_error_maker",
]

LAYER: Final = "echonet-property"

#: Property maps list EPCs 0x80..0xFF; with 16 or more entries they become a
#: 16-byte bitmap where byte i, bit j stands for EPC 0x80 + 0x10*j + i (Part II Annex 1).
_MAP_LIST_LIMIT: Final = 16
_MAP_BITMAP_SIZE: Final = 16

_INT_FORMATS: Final = {
    (1, False): struct.Struct(">B"),
    (2, False): struct.Struct(">H"),
    (4, False): struct.Struct(">I"),
    (8, False): struct.Struct(">Q"),
    (1, True): struct.Struct(">b"),
    (2, True): struct.Struct(">h"),
    (4, True): struct.Struct(">i"),
    (8, True): struct.Struct(">q"),
}

Value = Any  # int | float | str | bytes | date | time | datetime | tuple | dict | None
#: See :attr:`DataType.int_rule`.
IntRule = tuple[dict[int, Any], int | None, int | None, frozenset[int] | None, int, int]


_new_error: Final = DecodeError.__new__


def _fail(reason: str, offset: int) -> DecodeError:
    """``DecodeError(LAYER, offset, reason)``, built without the call to ``__init__``.

    Bulk decoding of unseen frame shapes makes one per broken EDT: ``__new__`` alone
    sets the error's ``args``, which is all ``__init__`` does (tests/echonet/
    test_typed_compiled.py checks that both give equal errors).
    """
    return _new_error(DecodeError, LAYER, offset, reason)


@dataclass(frozen=True, slots=True)
class DataType:
    """A compiled EDT codec: ``read(edt, offset) -> (value, next offset)``, ``write(value)``.

    ``size`` is the fixed EDT size or ``None``; ``max_size`` bounds variable sizes.
    ``in_range(value)`` applies the spec's ``min``/``max``.
    """

    kind: str
    size: int | None
    max_size: int
    read: Callable[[bytes, int], tuple[Value, int]]
    write: Callable[[Value], bytes]
    in_range: Callable[[Value], bool]
    #: Arrays only: read exactly ``count`` elements (for ``count_from``).
    read_count: Callable[[bytes, int, int], tuple[Value, int]] | None = None
    #: Decoder of a whole EDT, specialised per kind where it pays (the hot path).
    whole: Callable[[bytes], Value] | None = None
    #: ``whole`` that returns its :class:`DecodeError` instead of raising it (no value is
    #: one): typed frames of unseen shapes are read by it, where broken EDTs are common
    #: and a raise costs microseconds. A type given only ``attempt`` gets the ``whole``
    #: that raises what it returns. See :func:`attempt_of` for every type.
    attempt: Callable[[bytes], Value] | None = None
    #: Integers only: raw codes that decode to ``None``, and the decimal places.
    special_codes: frozenset[int] = frozenset()
    decimals: int = 0
    #: Integers only: the value is the raw integer (specials give ``None``, no range check
    #: on decode), so a compiled frame shape may read it straight from ``struct``.
    plain_int: bool = True
    #: Integers only: how the decoder turns a raw value into the value, so a compiled frame
    #: shape may read it from ``struct`` and apply the rule itself:
    #: ``(special raw -> value, min, max, allowed, divisor, factor)``, where the range
    #: (``None`` where absent or unchecked) is checked after the specials, and the value is
    #: ``raw / divisor`` if ``divisor != 1`` else ``raw * factor``. ``None`` for other types.
    int_rule: IntRule | None = None
    #: Enums only: code -> label of the listed codes (a code found here decodes to its
    #: label; any other goes through ``whole``), so a compiled frame shape may look it up.
    labels: Mapping[int, Value] | None = None
    #: Calendar kinds only: the constructor and the ``struct`` codes of its fields (year
    #: ``H``, the rest ``B``); the EDT decodes to ``make(*fields)``, or ``None`` if every
    #: byte is 0xFF, and a ``ValueError`` of ``make`` is a :class:`DecodeError`.
    calendar: tuple[Callable[..., Value], str] | None = None
    #: Structs of fixed-size fields that all have ``whole`` (those that have ``whole``
    #: themselves): (name, type) per field in EDT order; the value is the dict of each
    #: field's ``whole`` of its own bytes. ``None`` for other types.
    fields: tuple[tuple[str, DataType], ...] | None = None

    def __post_init__(self) -> None:
        if self.whole is None and self.attempt is not None:
            object.__setattr__(self, "whole", _raising(self.attempt))

    def decode(self, edt: bytes) -> Value:
        """Decode a whole EDT; short or trailing bytes are a :class:`DecodeError`."""
        if self.whole is not None:
            return self.whole(edt)
        if self.size is not None and len(edt) != self.size:
            raise _fail(f"{self.kind}: EDT is {len(edt)} bytes, expected {self.size}", 0)
        value, end = self.read(edt, 0)
        if end != len(edt):
            raise _fail(f"{self.kind}: {len(edt) - end} trailing bytes in EDT", end)
        return value

    def encode(self, value: Value) -> bytes:
        return self.write(value)


def size_error(data_type: DataType, pdc: int) -> DecodeError | None:
    """The error ``data_type.decode`` raises for an EDT of ``pdc`` bytes if its size is wrong.

    ``None`` when the type has no fixed size or ``pdc`` is it. The error is built, not
    raised (same layer, offset and reason as :meth:`DataType.decode` and the ``whole``
    decoders give), so bulk decoding of unseen frame shapes, whose PDCs are often wrong
    for their EPC, skips the raise and the traceback.
    """
    size = data_type.size
    if size is None or pdc == size:
        return None
    return _fail(f"{_size_label(data_type, size)}: EDT is {pdc} bytes, expected {size}", 0)


def _size_label(data_type: DataType, size: int) -> str:
    """How a wrong-size error names the type: ``unsigned32`` for a sized integer, else its kind."""
    kind = data_type.kind
    return f"{kind}{size * 8}" if data_type.whole is not None and kind in _INT_KINDS else kind


#: Reasons of wrong-size errors, by type and PDC (``maker index << 8 | PDC``). Filled up
#: to :data:`_SIZE_ERROR_LIMIT` entries, then the reasons of further pairs are formatted
#: each time. An entry is a ~40-character reason (~90 B), the int key and the dict slot
#: (measured 152 B with the dict's growth): :data:`_SIZE_ERROR_BUDGET` at most.
_SIZE_ERRORS: dict[int, str] = {}
_SIZE_ERROR_LIMIT: Final = 2048
_SIZE_ERROR_BUDGET: Final = _SIZE_ERROR_LIMIT * 256
#: One wrong-size error maker per type label and size (``unsigned32``/4, ``enum``/1...):
#: keyed by the class files' types, not by wire values (measured ~60 makers of ~600 B).
_MAKERS: dict[tuple[str, int], Callable[[int], DecodeError]] = {}
_MAKER_INDEX: Final = itertools.count()


def size_error_maker(data_type: DataType) -> Callable[[int], DecodeError] | None:
    """``wrong_size(pdc)``: :func:`size_error` for a ``pdc`` known to be wrong (``None`` for
    a type without a fixed size).

    Unseen frame shapes often carry PDCs wrong for their EPC: the reason of each
    (type, PDC) error is made once (:data:`_SIZE_ERRORS`), each error is a fresh
    :class:`DecodeError`.
    """
    size = data_type.size
    if size is None:
        return None
    label = _size_label(data_type, size)
    maker = _MAKERS.get((label, size))
    if maker is None:
        maker = _MAKERS[(label, size)] = _wrong_size(label, size)
    return maker


def _wrong_size(label: str, size: int) -> Callable[[int], DecodeError]:
    base = next(_MAKER_INDEX) << 8
    reasons = _SIZE_ERRORS

    def wrong_size(pdc: int) -> DecodeError:
        reason = reasons.get(base | pdc)
        if reason is None:
            reason = f"{label}: EDT is {pdc} bytes, expected {size}"
            if len(reasons) < _SIZE_ERROR_LIMIT:
                reasons[base | pdc] = reason
        return _new_error(DecodeError, LAYER, 0, reason)

    return wrong_size


_INT_KINDS: Final = frozenset({"signed", "unsigned"})


def _always(_value: Value) -> bool:
    return True


def _need(edt: bytes, offset: int, size: int, what: str) -> None:
    if offset + size > len(edt):
        raise _shortfall(edt, offset, size, what)


def _shortfall(edt: bytes, offset: int, size: int, what: str) -> DecodeError:
    """The error of ``size`` bytes of ``what`` needed at ``offset``, fewer left."""
    return _fail(f"{what}: need {size} bytes, {len(edt) - offset} left", offset)


def _raising(attempt: Callable[[bytes], Value]) -> Callable[[bytes], Value]:
    """The ``whole`` of an ``attempt``: its value, or its :class:`DecodeError` raised."""

    def whole(edt: bytes) -> Value:
        value = attempt(edt)
        if type(value) is DecodeError:
            raise value
        return value

    return whole


def attempt_of(data_type: DataType) -> Callable[[bytes], Value]:
    """``attempt(edt)``: the value of a whole EDT, or the :class:`DecodeError` that
    :meth:`DataType.decode` raises for it, returned. Native for the kinds that have
    :attr:`DataType.attempt`, else ``decode`` with the error caught."""
    if data_type.attempt is not None:
        return data_type.attempt
    decode = data_type.decode

    def attempt(edt: bytes) -> Value:
        try:
            return decode(edt)
        except DecodeError as exc:
            return exc.with_traceback(None)

    return attempt


def _code(key: Any) -> int:
    """A code from a class file: an int (YAML) or a ``"0x30"``/``"-32768"`` string (JSON)."""
    return key if isinstance(key, int) else int(str(key), 0)


def _integer(spec: Mapping[str, Any], signed: bool, strict: bool = False) -> DataType:
    size = int(spec["size"])
    kind = "signed" if signed else "unsigned"
    fmt = _INT_FORMATS.get((size, signed))
    decimals = int(spec.get("decimals", 0))
    factor = int(spec.get("factor", 1))
    divisor = 10**decimals
    special: dict[int, Any] = {_code(k): v for k, v in (spec.get("special") or {}).items()}
    labelled = bool(spec.get("special_labels"))
    special_by_label = {label: code for code, label in special.items()}
    low = spec.get("min")
    high = spec.get("max")
    allowed = frozenset(int(v) for v in spec["allowed"]) if "allowed" in spec else None
    unpack = fmt.unpack_from if fmt is not None else None
    rule = _range_rule(kind, size, low, high, allowed)

    def value_of(raw: int, offset: int) -> Value:
        """The value of ``raw``, or the :class:`DecodeError` of a code the rule refuses."""
        if special and raw in special:
            return special[raw] if labelled else None
        if strict and not _raw_ok(raw, low, high, allowed):
            return _fail(f"{rule}: raw value {raw} breaks it", offset)
        if decimals:
            return raw / divisor
        return raw * factor if factor != 1 else raw

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        if offset + size > len(edt):
            raise _fail(f"{kind}{size * 8}: need {size} bytes, {len(edt) - offset} left", offset)
        if unpack is not None:
            raw = unpack(edt, offset)[0]
        else:
            raw = int.from_bytes(edt[offset : offset + size], "big", signed=signed)
        value = value_of(raw, offset)
        if type(value) is DecodeError:
            raise value
        return value, offset + size

    def to_raw(value: Value) -> int:
        if isinstance(value, str | bool) and value in special_by_label:
            return special_by_label[value]
        if value is None:
            for label in ("no_data", "noData"):
                if label in special_by_label:
                    return special_by_label[label]
            raise EncodeError(f"{kind}{size * 8}: None has no code here")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EncodeError(f"{kind}{size * 8}: expected a number, got {value!r}")
        if decimals:
            scaled: int = round(value * divisor)
            return scaled
        if factor != 1:
            if value % factor:
                raise EncodeError(f"{kind}{size * 8}: {value!r} is not a multiple of {factor}")
            return int(value) // factor
        if isinstance(value, float) and not value.is_integer():
            raise EncodeError(f"{kind}{size * 8}: {value!r} is not a whole number")
        return int(value)

    def write(value: Value) -> bytes:
        raw = to_raw(value)
        try:
            return raw.to_bytes(size, "big", signed=signed)
        except OverflowError:
            raise EncodeError(f"{kind}{size * 8}: {value!r} does not fit in {size} bytes") from None

    def in_range(value: Value) -> bool:
        if value is None or isinstance(value, str):
            return True
        raw = to_raw(value)
        if raw in special:
            return True
        return _raw_ok(raw, low, high, allowed)

    def checked_write(value: Value) -> bytes:
        if strict and not in_range(value):
            raise EncodeError(f"{rule}: {value!r} breaks it")
        return write(value)

    from_bytes = int.from_bytes

    def attempt(edt: bytes) -> Value:
        if len(edt) != size:
            return _fail(f"{kind}{size * 8}: EDT is {len(edt)} bytes, expected {size}", 0)
        return value_of(from_bytes(edt, "big", signed=signed), 0)

    return DataType(
        kind,
        size,
        size,
        read,
        checked_write,
        in_range,
        attempt=attempt,
        special_codes=frozenset(special),
        decimals=decimals,
        plain_int=not (labelled or factor != 1 or strict or decimals),
        int_rule=(
            {code: (label if labelled else None) for code, label in special.items()},
            None if low is None or not strict else int(low),
            None if high is None or not strict else int(high),
            allowed if strict else None,
            divisor,
            factor,
        ),
    )


def _range_rule(kind: str, size: int, low: Any, high: Any, allowed: frozenset[int] | None) -> str:
    if allowed is not None:
        return f"{kind}{size * 8} raw value one of {sorted(allowed)}"
    bounds = f"{low if low is not None else '-'}..{high if high is not None else '-'}"
    return f"{kind}{size * 8} raw range {bounds}"


def _raw_ok(raw: int, low: Any, high: Any, allowed: frozenset[int] | None) -> bool:
    if allowed is not None and raw not in allowed:
        return False
    return (low is None or raw >= int(low)) and (high is None or raw <= int(high))


def _label(value: Any) -> Any:
    """An enum label: a name, a bool (MRA "true"/"false" states) or a number (MRA numericValue)."""
    return value if isinstance(value, bool | int | float) else str(value)


def _enum(spec: Mapping[str, Any], strict: bool = False) -> DataType:
    """Codes to labels; ``ranges`` ([low, high, label]) name whole code ranges (MRA state).

    Labels are names, bools or numbers; ``aliases`` (code -> label) are accepted on encode.
    A code not listed decodes to its ``int`` unless ``strict``: then it is a DecodeError.
    """
    size = int(spec.get("size", 1)) or 1  # MRA bitmap members have size 0: one field
    labels: dict[int, Any] = {_code(k): _label(v) for k, v in spec["values"].items()}
    ranges = [(_code(lo), _code(hi), _label(name)) for lo, hi, name in spec.get("ranges", ())]
    # Keyed by (type, label): True must not be taken for the number 1.
    codes = {(type(label), label): code for code, label in labels.items()}
    for code, alias in (spec.get("aliases") or {}).items():
        codes.setdefault((type(_label(alias)), _label(alias)), _code(code))
    names = sorted(repr(label) for label in labels.values())
    rule = f"enum: one of {', '.join(names)}" + (" or a listed range" if ranges else "")

    def label_of(raw: int, offset: int) -> Value:
        """The label of ``raw``, or the :class:`DecodeError` of a code not listed (strict)."""
        found = labels.get(raw, _MISSING)
        if found is not _MISSING:
            return found
        for low, high, name in ranges:
            if low <= raw <= high:
                return {"label": name, "code": raw}
        if strict:
            return _fail(f"{rule}: code 0x{raw:0{2 * size}X} is not listed", offset)
        return raw

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, size, "enum")
        value = label_of(int.from_bytes(edt[offset : offset + size], "big"), offset)
        if type(value) is DecodeError:
            raise value
        return value, offset + size

    def attempt(edt: bytes) -> Value:
        if len(edt) != size:
            return _fail(f"enum: EDT is {len(edt)} bytes, expected {size}", 0)
        return label_of(edt[0] if size == 1 else int.from_bytes(edt, "big"), 0)

    def to_code(value: Value) -> int:
        if isinstance(value, Mapping | list | bytearray):
            if not isinstance(value, Mapping) or "code" not in value:
                raise EncodeError(f"{rule}; got {value!r}")
            value = value["code"]
        elif (type(value), value) in codes:
            return codes[(type(value), value)]
        elif isinstance(value, float) and (int, value) in codes:
            return codes[(int, value)]
        if isinstance(value, int) and not isinstance(value, bool) and not labels_are_numbers:
            return value
        raise EncodeError(f"{rule}; got {value!r}")

    labels_are_numbers = any(type(v) in (int, float) for v in labels.values())

    def write(value: Value) -> bytes:
        raw = to_code(value)
        if not 0 <= raw < 1 << (8 * size):
            raise EncodeError(f"enum: code {raw!r} does not fit in {size} bytes")
        if strict and raw not in labels and not any(lo <= raw <= hi for lo, hi, _ in ranges):
            raise EncodeError(f"{rule}; code 0x{raw:X} is not listed")
        return raw.to_bytes(size, "big")

    def in_range(value: Value) -> bool:
        try:
            raw = to_code(value)
        except EncodeError:
            return False
        return raw in labels or any(lo <= raw <= hi for lo, hi, _ in ranges)

    return DataType(
        "enum",
        size,
        size,
        read,
        write,
        in_range,
        attempt=attempt,
        labels=labels,
    )


_MISSING: Final = object()


def _level(spec: Mapping[str, Any], strict: bool = False) -> DataType:
    """MRA level: level ``min``..``max`` sent as code ``base + level - min`` (APPENDIX tables)."""
    size = int(spec.get("size", 1))
    base, low, high = int(spec.get("base", 0)), int(spec.get("min", 1)), int(spec["max"])
    rule = f"level {low}..{high} (codes 0x{base:02X}..0x{base + high - low:02X})"

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, size, "level")
        raw = int.from_bytes(edt[offset : offset + size], "big")
        if not base <= raw <= base + high - low:
            raise _fail(f"{rule}: code 0x{raw:X} is outside", offset)
        return raw - base + low, offset + size

    def write(value: Value) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise EncodeError(f"{rule}; got {value!r}")
        return (base + value - low).to_bytes(size, "big")

    def in_range(value: Value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    return DataType("level", size, size, read, write, in_range)


def _bitfield(spec: Mapping[str, Any], strict: bool = False) -> DataType:
    """MRA bitmap: named fields at (byte ``index`` from the EDT start, ``mask``), each typed."""
    size = int(spec["size"])
    fields: list[tuple[str, int, int, int, DataType]] = []
    for entry in spec["fields"]:
        mask = int(entry["mask"])
        shift = (mask & -mask).bit_length() - 1
        fields.append(
            (
                str(entry["name"]),
                int(entry["index"]),
                mask,
                shift,
                compile_type(entry["type"], strict=True),
            )
        )

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, size, "bitmap")
        out: dict[str, Value] = {}
        for name, index, mask, shift, field in fields:
            raw = (edt[offset + index] & mask) >> shift
            out[name] = field.decode(bytes((raw,)))
        return out, offset + size

    def write(value: Value) -> bytes:
        if not isinstance(value, Mapping):
            raise EncodeError(f"bitmap: expected a mapping of fields, got {value!r}")
        out = bytearray(size)
        for name, index, mask, shift, field in fields:
            if name not in value:
                raise EncodeError(f"bitmap: missing field {name!r}")
            raw = field.encode(value[name])[-1]
            if (raw << shift) & ~mask:
                raise EncodeError(f"bitmap: {name}={value[name]!r} does not fit its bits")
            out[index] |= raw << shift
        return bytes(out)

    def in_range(value: Value) -> bool:
        return isinstance(value, Mapping) and all(
            name in value and field.in_range(value[name]) for name, _i, _m, _s, field in fields
        )

    return DataType("bitfield", size, size, read, write, in_range)


def _one_of(spec: Mapping[str, Any], strict: bool = False) -> DataType:
    """MRA oneOf: the first alternative that reads the EDT (codes are listed first)."""
    options = [compile_type(entry, strict=True) for entry in spec["of"]]
    # Several value alternatives (two level ranges, a number and a level) can give equal
    # values: the value then names its alternative, {"alternative": i, "value": v}.
    tagged = sum(o.kind != "enum" for o in options) > 1
    sizes = {o.size for o in options}
    size = sizes.pop() if len(sizes) == 1 else None
    max_size = max(o.max_size for o in options)

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        reasons = []
        for index, option in enumerate(options):
            try:
                value, end = option.read(edt, offset)
            except DecodeError as exc:
                reasons.append(exc.reason)
                continue
            return ({"alternative": index, "value": value} if tagged else value), end
        raise _fail("no alternative fits: " + "; ".join(reasons), offset)

    def write(value: Value) -> bytes:
        if tagged:
            if not isinstance(value, Mapping) or value.get("alternative") not in range(
                len(options)
            ):
                raise EncodeError(
                    f"one of: expected {{'alternative': 0..{len(options) - 1}, 'value': ...}}"
                )
            return options[value["alternative"]].write(value.get("value"))
        reasons = []
        for option in options:
            try:
                if option.in_range(value):
                    return option.write(value)
                option.write(value)  # raises the alternative's own rule
                reasons.append(f"{option.kind}: out of range")
            except EncodeError as exc:
                reasons.append(str(exc))
        raise EncodeError("no alternative takes it: " + "; ".join(reasons))

    def in_range(value: Value) -> bool:
        if tagged:
            return (
                isinstance(value, Mapping)
                and value.get("alternative") in range(len(options))
                and options[value["alternative"]].in_range(value.get("value"))
            )
        for option in options:
            try:
                if option.in_range(value):
                    return True
            except EncodeError:
                continue
        return False

    return DataType("one_of", size, max_size, read, write, in_range)


def _bitmap(spec: Mapping[str, Any]) -> DataType:
    size = int(spec.get("size", 1))
    bits: dict[int, str] = {int(k): str(v) for k, v in spec["bits"].items()}

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, size, "bitmap")
        raw = int.from_bytes(edt[offset : offset + size], "big")
        return {name: bool(raw >> bit & 1) for bit, name in bits.items()}, offset + size

    def write(value: Value) -> bytes:
        if not isinstance(value, Mapping):
            raise EncodeError(f"bitmap: expected a mapping of flags, got {value!r}")
        raw = 0
        for bit, name in bits.items():
            if value.get(name):
                raw |= 1 << bit
        return raw.to_bytes(size, "big")

    return DataType("bitmap", size, size, read, write, _always)


def _ascii(spec: Mapping[str, Any]) -> DataType:
    fixed = spec.get("size")
    size = int(fixed) if fixed is not None else None
    max_size = size if size is not None else int(spec.get("max_size", 255))

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        end = offset + size if size is not None else len(edt)
        _need(edt, offset, end - offset, "ascii")
        if end - offset > max_size:
            raise _fail(f"ascii: {end - offset} bytes, at most {max_size}", offset)
        chunk = edt[offset:end].rstrip(b"\x00")
        if not chunk.isascii():
            bad = next(i for i, byte in enumerate(chunk) if byte > 0x7F)
            raise _fail("ascii: byte above 0x7F", offset + bad)
        return chunk.decode("ascii"), end

    def write(value: Value) -> bytes:
        if not isinstance(value, str) or not value.isascii():
            raise EncodeError(f"ascii: expected an ASCII string, got {value!r}")
        data = value.encode("ascii")
        if len(data) > max_size:
            raise EncodeError(f"ascii: {len(data)} bytes, at most {max_size}")
        return data.ljust(size, b"\x00") if size is not None else data

    return DataType("ascii", size, max_size, read, write, _always)


def _raw(spec: Mapping[str, Any]) -> DataType:
    fixed = spec.get("size")
    size = int(fixed) if fixed is not None else None
    min_size = size if size is not None else int(spec.get("min_size", 0))
    max_size = size if size is not None else int(spec.get("max_size", 255))

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        end = offset + size if size is not None else len(edt)
        _need(edt, offset, end - offset, "raw")
        if not min_size <= end - offset <= max_size:
            raise _fail(f"raw: {end - offset} bytes, expected {min_size}..{max_size}", offset)
        return edt[offset:end], end

    def write(value: Value) -> bytes:
        if not isinstance(value, bytes | bytearray):
            raise EncodeError(f"raw: expected bytes, got {type(value).__name__}")
        if not min_size <= len(value) <= max_size:
            raise EncodeError(f"raw: {len(value)} bytes, expected {min_size}..{max_size}")
        return bytes(value)

    def attempt(edt: bytes) -> Value:
        length = len(edt)
        if size is not None and length != size:
            return _fail(f"raw: EDT is {length} bytes, expected {size}", 0)
        if not min_size <= length <= max_size:
            return _fail(f"raw: {length} bytes, expected {min_size}..{max_size}", 0)
        return edt[:]

    return DataType("raw", size, max_size, read, write, _always, attempt=attempt)


class ManufacturerCode(bytes):
    """A manufacturer code (EPC 0x8A, 3 bytes, APPENDIX §2.2): the bytes, their hex and a name.

    Being ``bytes``, it compares and encodes as the 3-byte EDT; ``name`` is the company
    that specs/echonet/manufacturers.yaml gives for the code, or ``None`` if not listed.
    """

    name: str | None

    def __new__(cls, data: bytes, name: str | None = None) -> ManufacturerCode:
        self = super().__new__(cls, data)
        self.name = name
        return self

    @property
    def code(self) -> str:
        """The code as 6 upper-case hex digits (``"00000B"``)."""
        return self.hex().upper()

    def as_json(self) -> dict[str, str | None]:
        return {"code": self.code, "name": self.name}

    def __repr__(self) -> str:
        return f"ManufacturerCode({self.code}, {self.name!r})"


_MANUFACTURER_SIZE: Final = 3


def _manufacturer(spec: Mapping[str, Any]) -> DataType:
    """Kind ``manufacturer``: 3 bytes read as a :class:`ManufacturerCode`.

    ``spec["names"]`` (code -> company, filled by the loader from manufacturers.yaml)
    names the codes; encoding takes bytes, a :class:`ManufacturerCode` or 6 hex digits.
    """
    names: Mapping[int, str] = spec.get("names") or {}

    def kind(edt: bytes) -> ManufacturerCode:
        return ManufacturerCode(edt, names.get(int.from_bytes(edt, "big")))

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, _MANUFACTURER_SIZE, "manufacturer")
        return kind(edt[offset : offset + _MANUFACTURER_SIZE]), offset + _MANUFACTURER_SIZE

    def attempt(edt: bytes) -> Value:
        if len(edt) != _MANUFACTURER_SIZE:
            return _fail(f"manufacturer: EDT is {len(edt)} bytes, expected 3", 0)
        return kind(edt)

    def write(value: Value) -> bytes:
        if isinstance(value, str):
            try:
                value = bytes.fromhex(value)
            except ValueError:
                raise EncodeError(f"manufacturer: expected 6 hex digits, got {value!r}") from None
        if not isinstance(value, bytes | bytearray) or len(value) != _MANUFACTURER_SIZE:
            raise EncodeError(f"manufacturer: expected 3 bytes, got {value!r}")
        return bytes(value)

    return DataType(
        "manufacturer",
        _MANUFACTURER_SIZE,
        _MANUFACTURER_SIZE,
        read,
        write,
        _always,
        attempt=attempt,
    )


def _calendar(kind: str) -> DataType:
    layouts: dict[str, tuple[int, Callable[[bytes, int], Value], Callable[[Value], bytes]]] = {
        "date": (4, _read_date, _write_date),
        "time": (2, _read_time_hm, _write_time_hm),
        "time_hms": (3, _read_time_hms, _write_time_hms),
        "datetime": (7, _read_datetime, _write_datetime),
        "datetime_hm": (6, _read_datetime_hm, _write_datetime_hm),
    }
    size, convert, write = layouts[kind]

    unset = b"\xff" * size

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, size, kind)
        if edt[offset : offset + size] == unset:
            return None, offset + size
        try:
            return convert(edt, offset), offset + size
        except ValueError as exc:
            raise _fail(f"{kind}: {exc}", offset) from None

    def checked_write(value: Value) -> bytes:
        if value is None:
            return unset
        try:
            return write(value)
        except (AttributeError, TypeError, OverflowError, ValueError) as exc:
            raise EncodeError(f"{kind}: cannot encode {value!r}: {exc}") from None

    make, codes = _CALENDAR_WHOLE[kind]
    unpack = struct.Struct(">" + codes).unpack

    def attempt(edt: bytes) -> Value:
        if len(edt) != size:
            return _fail(f"{kind}: EDT is {len(edt)} bytes, expected {size}", 0)
        if edt == unset:
            return None
        try:
            return make(*unpack(edt))
        except ValueError as exc:  # raised by the constructor, in C: caught at once
            return _fail(f"{kind}: {exc}", 0)

    return DataType(
        kind,
        size,
        size,
        read,
        checked_write,
        _always,
        attempt=attempt,
        calendar=(make, codes),
    )


#: Whole-EDT calendar layouts: the constructor and the ``struct`` codes of its fields, year
#: 2 bytes, the rest 1 (APPENDIX §1.3 date/time formats); the same arguments as the
#: ``_read_*`` functions.
_CALENDAR_WHOLE: Final[dict[str, tuple[Callable[..., Value], str]]] = {
    "date": (dt.date, "HBB"),
    "time": (dt.time, "BB"),
    "time_hms": (dt.time, "BBB"),
    "datetime": (dt.datetime, "HBBBBB"),
    "datetime_hm": (dt.datetime, "HBBBB"),
}


def _read_date(edt: bytes, o: int) -> Value:
    return dt.date((edt[o] << 8) | edt[o + 1], edt[o + 2], edt[o + 3])


def _write_date(value: Value) -> bytes:
    return value.year.to_bytes(2, "big") + bytes((value.month, value.day))  # type: ignore[no-any-return]


def _read_time_hm(edt: bytes, o: int) -> Value:
    return dt.time(edt[o], edt[o + 1])


def _write_time_hm(value: Value) -> bytes:
    return bytes((value.hour, value.minute))


def _read_time_hms(edt: bytes, o: int) -> Value:
    return dt.time(edt[o], edt[o + 1], edt[o + 2])


def _write_time_hms(value: Value) -> bytes:
    return bytes((value.hour, value.minute, value.second))


def _read_datetime(edt: bytes, o: int) -> Value:
    return dt.datetime((edt[o] << 8) | edt[o + 1], *edt[o + 2 : o + 7])


def _write_datetime(value: Value) -> bytes:
    return _write_date(value) + bytes((value.hour, value.minute, value.second))


def _read_datetime_hm(edt: bytes, o: int) -> Value:
    return dt.datetime((edt[o] << 8) | edt[o + 1], *edt[o + 2 : o + 6])


def _write_datetime_hm(value: Value) -> bytes:
    return _write_date(value) + bytes((value.hour, value.minute))


def decode_property_map(edt: bytes) -> tuple[int, ...]:
    """Decode a property map (0x9D/0x9E/0x9F) into its EPCs, ascending (Part II Annex 1)."""
    value, end = _read_property_map(edt, 0)
    if end != len(edt):
        raise _fail(f"property map: {len(edt) - end} trailing bytes", end)
    return value  # type: ignore[no-any-return]


def _scan_property_map(edt: bytes, offset: int) -> tuple[Value, int] | DecodeError:
    """The property map at ``offset``: (its EPCs ascending, the next offset), or the error."""
    if offset + 1 > len(edt):
        return _shortfall(edt, offset, 1, "property map count")
    count = edt[offset]
    offset += 1
    if count < _MAP_LIST_LIMIT:
        if offset + count > len(edt):
            return _shortfall(edt, offset, count, "property map list")
        epcs = edt[offset : offset + count]
        return tuple(sorted(set(epcs))), offset + count
    if offset + _MAP_BITMAP_SIZE > len(edt):
        return _shortfall(edt, offset, _MAP_BITMAP_SIZE, "property map bitmap")
    found = [
        0x80 + 0x10 * bit + index
        for index in range(_MAP_BITMAP_SIZE)
        for bit in range(8)
        if edt[offset + index] >> bit & 1
    ]
    if len(found) != count:
        return _fail(
            f"property map: count byte says {count}, bitmap holds {len(found)}", offset - 1
        )
    return tuple(sorted(found)), offset + _MAP_BITMAP_SIZE


def _read_property_map(edt: bytes, offset: int) -> tuple[Value, int]:
    scanned = _scan_property_map(edt, offset)
    if isinstance(scanned, DecodeError):
        raise scanned
    return scanned


def encode_property_map(epcs: Sequence[int]) -> bytes:
    """Encode EPCs as a property map: list form under 16 entries, bitmap form otherwise."""
    unique = sorted(set(epcs))
    if any(not 0x80 <= epc <= 0xFF for epc in unique):
        raise EncodeError("property maps hold EPCs 0x80..0xFF only")
    if len(unique) < _MAP_LIST_LIMIT:
        return bytes([len(unique), *unique])
    bitmap = bytearray(_MAP_BITMAP_SIZE)
    for epc in unique:
        low = epc - 0x80
        bitmap[low & 0x0F] |= 1 << (low >> 4)
    return bytes([len(unique)]) + bytes(bitmap)


def _property_map(_spec: Mapping[str, Any]) -> DataType:
    def write(value: Value) -> bytes:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise EncodeError(f"property map: expected a sequence of EPCs, got {value!r}")
        return encode_property_map(value)

    return DataType(
        "property_map",
        None,
        17,
        _read_property_map,
        write,
        _always,
        attempt=_property_map_attempt,
    )


def _property_map_attempt(edt: bytes) -> Value:
    scanned = _scan_property_map(edt, 0)
    if isinstance(scanned, DecodeError):
        return scanned
    value, end = scanned
    if end != len(edt):
        return _fail(f"property_map: {len(edt) - end} trailing bytes in EDT", end)
    return value


def _counted_list(spec: Mapping[str, Any], kind: str, width: int) -> DataType:
    max_count = int(spec.get("max_count", 84 if width == 3 else 127))

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, 1, f"{kind} count")
        count = edt[offset]
        offset += 1
        if count > max_count:
            raise _fail(f"{kind}: count {count} above the limit {max_count}", offset - 1)
        _need(edt, offset, count * width, kind)
        if width == 3:
            items: tuple[Any, ...] = tuple(
                EOJ(edt[i], edt[i + 1], edt[i + 2]) for i in range(offset, offset + 3 * count, 3)
            )
        else:
            items = tuple((edt[i] << 8) | edt[i + 1] for i in range(offset, offset + 2 * count, 2))
        return items, offset + count * width

    def write(value: Value) -> bytes:
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise EncodeError(f"{kind}: expected a sequence, got {value!r}")
        items = list(value)
        if len(items) > max_count:
            raise EncodeError(f"{kind}: {len(items)} entries, at most {max_count}")
        out = bytearray([len(items)])
        for item in items:
            if width == 3:
                if not isinstance(item, EOJ):
                    raise EncodeError(f"{kind}: expected EOJ entries, got {item!r}")
                out += item.to_bytes()
            elif isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 0xFFFF:
                out += item.to_bytes(width, "big")
            else:
                raise EncodeError(f"{kind}: class code must be 0..0xFFFF, got {item!r}")
        return bytes(out)

    return DataType(kind, None, 1 + max_count * width, read, write, _always)


def _struct(spec: Mapping[str, Any], strict: bool = False) -> DataType:
    fields: list[tuple[str, DataType, str | None]] = []
    for entry in spec["fields"]:
        field_type = entry["type"]
        fields.append(
            (str(entry["name"]), compile_type(field_type, strict), field_type.get("count_from"))
        )
    sizes = [f.size for _, f, _ in fields]
    size = sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None
    max_size = sum(f.max_size for _, f, _ in fields)

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        out: dict[str, Value] = {}
        for name, field_type, count_from in fields:
            if count_from is not None and field_type.read_count is not None:
                count = out.get(count_from)
                if not isinstance(count, int):
                    raise _fail(f"struct: {count_from!r} is not a count for {name!r}", offset)
                value, offset = field_type.read_count(edt, offset, count)
            else:
                value, offset = field_type.read(edt, offset)
            out[name] = value
        return out, offset

    def write(value: Value) -> bytes:
        if not isinstance(value, Mapping):
            raise EncodeError(f"struct: expected a mapping, got {value!r}")
        missing = [name for name, _, _ in fields if name not in value]
        if missing:
            raise EncodeError(f"struct: missing fields {missing}")
        for name, _, count_from in fields:
            if count_from is not None and value[count_from] != len(value[name]):
                raise EncodeError(
                    f"struct: {count_from}={value[count_from]!r} but {name} has "
                    f"{len(value[name])} entries"
                )
        return b"".join(field_type.write(value[name]) for name, field_type, _ in fields)

    def in_range(value: Value) -> bool:
        return isinstance(value, Mapping) and all(
            name in value and field_type.in_range(value[name]) for name, field_type, _ in fields
        )

    attempt = _struct_attempt(fields, size, read)
    return DataType(
        "struct",
        size,
        max_size,
        read,
        write,
        in_range,
        attempt=attempt,
        fields=None if attempt is None else tuple((name, type_) for name, type_, _ in fields),
    )


def _struct_attempt(
    fields: list[tuple[str, DataType, str | None]],
    size: int | None,
    read: Callable[[bytes, int], tuple[Value, int]],
) -> Callable[[bytes], Value] | None:
    """The whole-EDT ``attempt`` of a struct of fixed-size fields that all have one: each
    field decodes its own slice. A field that breaks is read again through ``read``, so
    the error is the one :meth:`DataType.decode` gives (its offset within the whole EDT)."""
    spans: list[tuple[str, int, int, Callable[[bytes], Value]]] = []
    at = 0
    for name, field_type, count_from in fields:
        if count_from is not None or field_type.size is None or field_type.attempt is None:
            return None
        spans.append((name, at, at + field_type.size, field_type.attempt))
        at += field_type.size
    if size is None or at != size:
        return None

    def attempt(edt: bytes) -> Value:
        if len(edt) != size:
            return _fail(f"struct: EDT is {len(edt)} bytes, expected {size}", 0)
        out: dict[str, Value] = {}
        for name, start, end, decode in spans:
            value = decode(edt[start:end])
            if type(value) is DecodeError:
                try:
                    return read(edt, 0)[0]  # raises the field's error, offset and all
                except DecodeError as exc:
                    return exc.with_traceback(None)
            out[name] = value
        return out

    return attempt


def _array(spec: Mapping[str, Any], strict: bool = False) -> DataType:
    element = compile_type(spec["of"], strict)
    fixed = spec.get("count")
    max_count = int(spec.get("max_count", fixed if fixed is not None else 255))
    min_count = int(spec.get("min_count", 0))

    def read_n(edt: bytes, offset: int, count: int) -> tuple[Value, int]:
        if count > max_count:
            raise _fail(f"array: {count} elements, at most {max_count}", offset)
        if count < min_count:
            raise _fail(f"array: {count} elements, at least {min_count}", offset)
        if element.size is not None:
            _need(edt, offset, count * element.size, f"array of {count}")
        items = []
        read = element.read
        for _ in range(count):
            item, offset = read(edt, offset)
            items.append(item)
        return tuple(items), offset

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        if fixed is not None:
            return read_n(edt, offset, int(fixed))
        if element.size is None or element.size == 0:
            raise _fail("array: open-ended array of variable-size elements", offset)
        return read_n(edt, offset, min((len(edt) - offset) // element.size, max_count + 1))

    def write(value: Value) -> bytes:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
            raise EncodeError(f"array: expected a sequence, got {value!r}")
        items = list(value)
        if fixed is not None and len(items) != int(fixed):
            raise EncodeError(f"array: {len(items)} elements, expected {fixed}")
        if not min_count <= len(items) <= max_count:
            raise EncodeError(f"array: {len(items)} elements, expected {min_count}..{max_count}")
        return b"".join(element.write(item) for item in items)

    def in_range(value: Value) -> bool:
        return all(element.in_range(item) for item in value)

    size = int(fixed) * element.size if fixed is not None and element.size is not None else None
    return DataType("array", size, max_count * element.max_size, read, write, in_range, read_n)


_COMPILERS: Final[dict[str, Callable[[Mapping[str, Any], bool], DataType]]] = {
    "unsigned": lambda spec, strict: _integer(spec, False, strict),
    "signed": lambda spec, strict: _integer(spec, True, strict),
    "enum": _enum,
    "level": _level,
    "bitmap": lambda spec, _strict: _bitmap(spec),
    "bitfield": _bitfield,
    "one_of": _one_of,
    "ascii": lambda spec, _strict: _ascii(spec),
    "raw": lambda spec, _strict: _raw(spec),
    "manufacturer": lambda spec, _strict: _manufacturer(spec),
    "date": lambda _spec, _strict: _calendar("date"),
    "time": lambda _spec, _strict: _calendar("time"),
    "time_hms": lambda _spec, _strict: _calendar("time_hms"),
    "datetime": lambda _spec, _strict: _calendar("datetime"),
    "datetime_hm": lambda _spec, _strict: _calendar("datetime_hm"),
    "property_map": lambda spec, _strict: _property_map(spec),
    "eoj_list": lambda spec, _strict: _counted_list(spec, "eoj_list", 3),
    "class_list": lambda spec, _strict: _counted_list(spec, "class_list", 2),
    "struct": _struct,
    "array": _array,
}


def compile_type(spec: Mapping[str, Any], strict: bool = False) -> DataType:
    """Compile one ``type:`` mapping from a class file into a :class:`DataType`.

    ``strict`` (the MRA-derived class files): a number out of its range or an enum
    code not listed is a :class:`DecodeError` naming the rule, and refused on encode.
    """
    kind = spec.get("kind")
    compiler = _COMPILERS.get(str(kind))
    if compiler is None:
        raise ValueError(f"unknown EDT type kind {kind!r}; known: {sorted(_COMPILERS)}")
    return compiler(spec, strict)
