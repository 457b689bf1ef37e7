"""EDT data-type codecs compiled from the ``type:`` entries of ``specs/echonet``.

Each :class:`DataType` turns one property's EDT into a Python value and back.
The kinds and their layouts are listed in ``specs/echonet/README.md``; the
property-map layout follows ECHONET Lite Specification Part II, Annex 1.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..errors import DecodeError, EncodeError
from .frame import EOJ

__all__ = ["LAYER", "DataType", "compile_type", "decode_property_map", "encode_property_map"]

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


def _fail(reason: str, offset: int) -> DecodeError:
    return DecodeError(LAYER, offset, reason)


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
    #: Integers only: raw codes that decode to ``None``, and the decimal places.
    special_codes: frozenset[int] = frozenset()
    decimals: int = 0

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


def _always(_value: Value) -> bool:
    return True


def _need(edt: bytes, offset: int, size: int, what: str) -> None:
    if offset + size > len(edt):
        raise _fail(f"{what}: need {size} bytes, {len(edt) - offset} left", offset)


def _integer(spec: Mapping[str, Any], signed: bool) -> DataType:
    size = int(spec["size"])
    kind = "signed" if signed else "unsigned"
    fmt = _INT_FORMATS.get((size, signed))
    decimals = int(spec.get("decimals", 0))
    divisor = 10**decimals
    special: dict[int, str] = {int(k): str(v) for k, v in (spec.get("special") or {}).items()}
    special_by_label = {label: code for code, label in special.items()}
    low = spec.get("min")
    high = spec.get("max")
    unpack = fmt.unpack_from if fmt is not None else None

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        if offset + size > len(edt):
            raise _fail(f"{kind}{size * 8}: need {size} bytes, {len(edt) - offset} left", offset)
        if unpack is not None:
            raw = unpack(edt, offset)[0]
        else:
            raw = int.from_bytes(edt[offset : offset + size], "big", signed=signed)
        if special and raw in special:
            return None, offset + size
        return (raw / divisor if decimals else raw), offset + size

    def to_raw(value: Value) -> int:
        if isinstance(value, str) and value in special_by_label:
            return special_by_label[value]
        if value is None:
            if "no_data" in special_by_label:
                return special_by_label["no_data"]
            raise EncodeError(f"{kind}{size * 8}: None has no code here")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EncodeError(f"{kind}{size * 8}: expected a number, got {value!r}")
        if decimals:
            scaled: int = round(value * divisor)
            return scaled
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
        return (low is None or raw >= int(low)) and (high is None or raw <= int(high))

    from_bytes = int.from_bytes

    def whole(edt: bytes) -> Value:
        if len(edt) != size:
            raise _fail(f"{kind}{size * 8}: EDT is {len(edt)} bytes, expected {size}", 0)
        raw = from_bytes(edt, "big", signed=signed)
        if special and raw in special:
            return None
        return raw / divisor if decimals else raw

    return DataType(
        kind,
        size,
        size,
        read,
        write,
        in_range,
        whole=whole,
        special_codes=frozenset(special),
        decimals=decimals,
    )


def _enum(spec: Mapping[str, Any]) -> DataType:
    size = int(spec.get("size", 1))
    labels: dict[int, str] = {int(k): str(v) for k, v in spec["values"].items()}
    codes = {label: code for code, label in labels.items()}

    def read(edt: bytes, offset: int) -> tuple[Value, int]:
        _need(edt, offset, size, "enum")
        raw = int.from_bytes(edt[offset : offset + size], "big")
        return labels.get(raw, raw), offset + size

    def write(value: Value) -> bytes:
        if isinstance(value, str):
            if value not in codes:
                raise EncodeError(f"enum: {value!r} is not one of {sorted(codes)}")
            raw = codes[value]
        elif isinstance(value, int) and not isinstance(value, bool):
            raw = value
        else:
            raise EncodeError(f"enum: expected a label or a code, got {value!r}")
        if not 0 <= raw < 1 << (8 * size):
            raise EncodeError(f"enum: code {raw!r} does not fit in {size} bytes")
        return raw.to_bytes(size, "big")

    def in_range(value: Value) -> bool:
        return value in codes or value in labels

    return DataType("enum", size, size, read, write, in_range)


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

    return DataType("raw", size, max_size, read, write, _always)


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

    return DataType(kind, size, size, read, checked_write, _always)


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


def _read_property_map(edt: bytes, offset: int) -> tuple[Value, int]:
    _need(edt, offset, 1, "property map count")
    count = edt[offset]
    offset += 1
    if count < _MAP_LIST_LIMIT:
        _need(edt, offset, count, "property map list")
        epcs = edt[offset : offset + count]
        return tuple(sorted(set(epcs))), offset + count
    _need(edt, offset, _MAP_BITMAP_SIZE, "property map bitmap")
    found = [
        0x80 + 0x10 * bit + index
        for index in range(_MAP_BITMAP_SIZE)
        for bit in range(8)
        if edt[offset + index] >> bit & 1
    ]
    if len(found) != count:
        raise _fail(f"property map: count byte says {count}, bitmap holds {len(found)}", offset - 1)
    return tuple(sorted(found)), offset + _MAP_BITMAP_SIZE


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

    return DataType("property_map", None, 17, _read_property_map, write, _always)


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


def _struct(spec: Mapping[str, Any]) -> DataType:
    fields: list[tuple[str, DataType, str | None]] = []
    for entry in spec["fields"]:
        field_type = entry["type"]
        fields.append((str(entry["name"]), compile_type(field_type), field_type.get("count_from")))
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

    return DataType("struct", size, max_size, read, write, in_range)


def _array(spec: Mapping[str, Any]) -> DataType:
    element = compile_type(spec["of"])
    fixed = spec.get("count")
    max_count = int(spec.get("max_count", fixed if fixed is not None else 255))

    def read_n(edt: bytes, offset: int, count: int) -> tuple[Value, int]:
        if count > max_count:
            raise _fail(f"array: {count} elements, at most {max_count}", offset)
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
        items = list(value)
        if fixed is not None and len(items) != int(fixed):
            raise EncodeError(f"array: {len(items)} elements, expected {fixed}")
        if len(items) > max_count:
            raise EncodeError(f"array: {len(items)} elements, at most {max_count}")
        return b"".join(element.write(item) for item in items)

    def in_range(value: Value) -> bool:
        return all(element.in_range(item) for item in value)

    size = int(fixed) * element.size if fixed is not None and element.size is not None else None
    return DataType("array", size, max_count * element.max_size, read, write, in_range, read_n)


_COMPILERS: Final[dict[str, Callable[[Mapping[str, Any]], DataType]]] = {
    "unsigned": lambda spec: _integer(spec, signed=False),
    "signed": lambda spec: _integer(spec, signed=True),
    "enum": _enum,
    "bitmap": _bitmap,
    "ascii": _ascii,
    "raw": _raw,
    "date": lambda _spec: _calendar("date"),
    "time": lambda _spec: _calendar("time"),
    "time_hms": lambda _spec: _calendar("time_hms"),
    "datetime": lambda _spec: _calendar("datetime"),
    "datetime_hm": lambda _spec: _calendar("datetime_hm"),
    "property_map": _property_map,
    "eoj_list": lambda spec: _counted_list(spec, "eoj_list", 3),
    "class_list": lambda spec: _counted_list(spec, "class_list", 2),
    "struct": _struct,
    "array": _array,
}


def compile_type(spec: Mapping[str, Any]) -> DataType:
    """Compile one ``type:`` mapping from a class file into a :class:`DataType`."""
    kind = spec.get("kind")
    compiler = _COMPILERS.get(str(kind))
    if compiler is None:
        raise ValueError(f"unknown EDT type kind {kind!r}; known: {sorted(_COMPILERS)}")
    return compiler(spec)
