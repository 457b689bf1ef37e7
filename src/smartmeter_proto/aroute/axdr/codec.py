"""A-XDR codec for the COSEM ``Data`` CHOICE (IEC 62056-6-2, Blue Book 4.1.5/4.1.6).

Value conventions of :class:`Data` by type: NULL None; ARRAY/STRUCTURE tuple of
Data; BOOLEAN bool (any non-zero octet decodes True, True encodes 0x01);
BIT_STRING :class:`BitString`; integer types and ENUM int; BCD int (the raw
octet, Blue Book ``bcd [13] Integer8``); OCTET_STRING bytes; VISIBLE_STRING
str (latin-1, lossless); UTF8_STRING str; FLOAT32/FLOAT64 float (IEEE 754
big-endian); DATE_TIME/DATE/TIME the classes of :mod:`.dates`;
COMPACT_ARRAY :class:`CompactArray`.

Lengths and counts are BER definite lengths (short form < 0x80, long form
0x81..0x84); non-minimal long forms are accepted, encoding is always minimal.
Every declared count is checked against the remaining input before anything is
allocated, and nesting is limited by ``max_depth`` (at most :data:`MAX_DEPTH_CEILING`).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, NamedTuple

from ..._buffer import Cursor, Writer, read_ber_length
from ...errors import DecodeError, EncodeError
from .dates import CosemDate, CosemDateTime, CosemTime

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MAX_DEPTH_CEILING",
    "BitString",
    "CompactArray",
    "Data",
    "DataType",
    "TypeDescription",
    "check_max_depth",
    "decode_data",
    "emit_compact_array",
    "encode_data",
    "pull_compact_array",
    "pull_data",
    "pull_length",
    "push_data",
    "push_length",
]

LAYER = "axdr"
DEFAULT_MAX_DEPTH = 16
#: Hard ceiling for ``max_depth``: a level costs one Python frame (two in a compact array's
#: description), so 64 levels take under 80 frames (measured: tests/aroute/test_axdr_limits.py),
#: far below the interpreter's default recursion limit of 1 000.
MAX_DEPTH_CEILING = 64
# Blue Book 4.1.5: compact-array contents must not expand into more values per byte than this.
_MAX_VALUES_PER_CONTENT_BYTE = 8
_LONG_FORM_MAX_OCTETS = 4  # lengths 0x81..0x84 (read by _buffer.AXDR_LENGTH)


class DataType(IntEnum):
    """Tags of the COSEM Data CHOICE (IEC 62056-6-2, Blue Book 4.1.5 Table 2)."""

    NULL = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5
    DOUBLE_LONG_UNSIGNED = 6
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15
    LONG = 16
    UNSIGNED = 17
    LONG_UNSIGNED = 18
    COMPACT_ARRAY = 19
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25
    DATE = 26
    TIME = 27


class Data(NamedTuple):
    """One COSEM Data value: its tag and a Python value (see the module docstring).

    An immutable NamedTuple record rather than a frozen dataclass, as the ECHONET Lite
    Frame/Property records are and for the same reason: a profile buffer decodes into
    hundreds of them, and the decoder builds each through ``tuple.__new__`` at about
    60% of the cost of a frozen slotted dataclass (benchmarks/bench_dlms.py). Equality
    stays type-sensitive (``Data(INTEGER, 5) != Data(LONG, 5)``): the tag is a field.
    """

    type: DataType
    value: object


@dataclass(frozen=True, slots=True)
class BitString:
    """bit-string [4]: ``bit_count`` bits, first bit = MSB of ``data[0]``; padding kept."""

    bit_count: int
    data: bytes

    def __post_init__(self) -> None:
        if self.bit_count < 0 or len(self.data) != (self.bit_count + 7) // 8:
            raise ValueError(f"{self.bit_count} bits need {(self.bit_count + 7) // 8} bytes")

    @classmethod
    def from_bits(cls, bits: str) -> BitString:
        """From a string of '0'/'1', first character = first bit."""
        n = len(bits)
        padded = bits + "0" * (-n % 8)
        return cls(n, int(padded, 2).to_bytes(len(padded) // 8, "big") if n else b"")

    def bits(self) -> str:
        if not self.bit_count:
            return ""
        return format(int.from_bytes(self.data, "big"), f"0{len(self.data) * 8}b")[: self.bit_count]


@dataclass(frozen=True, slots=True)
class TypeDescription:
    """A compact-array contents description (Blue Book 4.1.5 TypeDescription).

    ARRAY: ``count`` elements of ``elements[0]``; STRUCTURE: ``elements`` in order;
    any other type: a simple type without children.
    """

    type: DataType
    count: int = 0
    elements: tuple[TypeDescription, ...] = ()


@dataclass(frozen=True, slots=True)
class CompactArray:
    """compact-array [19]: one description and the values it describes (tags omitted on wire)."""

    description: TypeDescription
    elements: tuple[Data, ...]


# -- fixed-size scalars: tag -> (size, unpack_from, DataType) ------------------------------

_FIXED_FORMATS: dict[DataType, str] = {
    DataType.BOOLEAN: ">?",
    DataType.DOUBLE_LONG: ">i",
    DataType.DOUBLE_LONG_UNSIGNED: ">I",
    DataType.BCD: ">B",
    DataType.INTEGER: ">b",
    DataType.LONG: ">h",
    DataType.UNSIGNED: ">B",
    DataType.LONG_UNSIGNED: ">H",
    DataType.LONG64: ">q",
    DataType.LONG64_UNSIGNED: ">Q",
    DataType.ENUM: ">B",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
}
_FIXED_STRUCTS = {t: struct.Struct(f) for t, f in _FIXED_FORMATS.items()}
FIXED_LAYOUTS: dict[int, tuple[int, Callable[[bytes, int], tuple[Any, ...]], DataType]] = {
    int(t): (s.size, s.unpack_from, t) for t, s in _FIXED_STRUCTS.items()
}
# The same, indexed by tag octet (None: not a fixed-size scalar) for the decoding loops.
_FIXED_BY_TAG = [FIXED_LAYOUTS.get(tag) for tag in range(256)]
_DATE_KINDS: dict[int, tuple[int, Callable[[bytes], object], DataType]] = {
    DataType.DATE_TIME: (12, CosemDateTime.decode, DataType.DATE_TIME),
    DataType.DATE: (5, CosemDate.decode, DataType.DATE),
    DataType.TIME: (4, CosemTime.decode, DataType.TIME),
}
_DATE_CLASSES: dict[DataType, type] = {
    DataType.DATE_TIME: CosemDateTime,
    DataType.DATE: CosemDate,
    DataType.TIME: CosemTime,
}
_STRINGS = frozenset({DataType.OCTET_STRING, DataType.VISIBLE_STRING, DataType.UTF8_STRING})
_CONTAINERS = frozenset({DataType.ARRAY, DataType.STRUCTURE})
_TAG_TO_TYPE: dict[int, DataType] = {int(t): t for t in DataType}

# Decoders build Data as ``_new(Data, (type, value))``: tuple.__new__ skips the Python-level
# NamedTuple __new__. Enum members are bound once: attribute access on the enum class is slow.
_new: Callable[[type[Data], tuple[DataType, object]], Data] = tuple.__new__
_ARRAY = DataType.ARRAY
_STRUCTURE = DataType.STRUCTURE
_OCTET_STRING = DataType.OCTET_STRING
_VISIBLE_STRING = DataType.VISIBLE_STRING
_BIT_STRING = DataType.BIT_STRING
_NULL = DataType.NULL
_COMPACT_ARRAY = DataType.COMPACT_ARRAY


def axdr_error(offset: int, reason: str) -> DecodeError:
    return DecodeError(LAYER, offset, reason)


_FIXED_CHAR: dict[int, str] = {int(t): f[1:] for t, f in _FIXED_FORMATS.items()}
MIN_SHAPE_ROWS = 3
#: Compiled row shapes kept (oldest out) and blocks kept per shape: with the caps on a
#: block below, the shapes take about 4 MiB at the very most (32 shapes of 127-member
#: rows, measured with tracemalloc), whatever the input.
MAX_ROW_SHAPES = 32
MAX_ROW_BLOCKS = 4
#: A block reads at most this many rows, and at most this many struct fields in all.
BLOCK_ROWS = 512
BLOCK_FIELDS = 4096


class RowBlock(NamedTuple):
    """``rows`` consecutive rows of one shape: one Struct reads their values (skipping the
    tag and length octets), and each tag or length octet of the row is checked in every
    row at once (an extended slice of the buffer, one octet per row)."""

    rows: int
    size: int
    unpack_from: Callable[[bytes, int], tuple[Any, ...]]
    checks: tuple[tuple[int, bytes], ...]  # (offset in the first row, that octet per row)
    types: tuple[DataType, ...]  # the type of each value read, all rows


class RowShape(NamedTuple):
    """The layout of a structure of fixed scalars and short octet-strings (one row)."""

    size: int
    unpack_from: Callable[[bytes, int], tuple[Any, ...]]
    header: Callable[[tuple[Any, ...]], tuple[int, ...]]
    expected: tuple[int, ...]
    values: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    types: tuple[DataType, ...]
    fields: int  # struct fields of one row, tag and length octets included
    values_fmt: str  # the row with its tag and length octets as pad bytes
    skeleton: tuple[tuple[int, int], ...]  # (offset in the row, octet) of each
    blocks: dict[int, RowBlock]


_SHAPES: dict[tuple[str, tuple[int, ...]], RowShape] = {}
_SHAPES_LOCK = threading.Lock()


def row_shape(buf: bytes, pos: int, end: int) -> RowShape | None:
    """Layout of a structure of fixed scalars and short octet-strings at ``pos``, or None.

    Profile buffers repeat one such structure per row: one precompiled Struct then
    reads a whole row (or a block of rows, :func:`row_block`), and its tag and length
    octets are checked against the first row's. Shapes are compiled once and kept (at
    most ``MAX_ROW_SHAPES``, oldest out).
    """
    if pos + 2 > end or buf[pos] != _STRUCTURE:
        return None
    n = buf[pos + 1]
    if not 2 <= n < 0x80:
        return None
    fmt, header, expected, values, types = ["BB"], [0, 1], [2, n], [], []
    values_fmt = ["2x"]
    skeleton = [(0, 2), (1, n)]
    p, idx = pos + 2, 2
    for _ in range(n):
        if p >= end:
            return None
        tag = buf[p]
        fixed = FIXED_LAYOUTS.get(tag)
        if fixed is not None:
            fmt.append("B" + _FIXED_CHAR[tag])
            values_fmt.append("x" + _FIXED_CHAR[tag])
            skeleton.append((p - pos, tag))
            header.append(idx)
            expected.append(tag)
            values.append(idx + 1)
            types.append(fixed[2])
            idx, p = idx + 2, p + 1 + fixed[0]
        elif tag == DataType.OCTET_STRING and p + 1 < end and buf[p + 1] < 0x80:
            size = buf[p + 1]
            fmt.append(f"BB{size}s")
            values_fmt.append(f"2x{size}s")
            skeleton += [(p - pos, tag), (p + 1 - pos, size)]
            header += [idx, idx + 1]
            expected += [tag, size]
            values.append(idx + 2)
            types.append(DataType.OCTET_STRING)
            idx, p = idx + 3, p + 2 + size
        else:
            return None
    row_fmt = "".join(fmt)
    key = (row_fmt, tuple(expected))
    shape = _SHAPES.get(key)
    if shape is None:
        row = struct.Struct(">" + row_fmt)
        shape = RowShape(
            row.size,
            row.unpack_from,
            itemgetter(*header),
            key[1],
            itemgetter(*values),
            tuple(types),
            idx,
            "".join(values_fmt),
            tuple(skeleton),
            {},
        )
        with _SHAPES_LOCK:  # decoders may run in threads: no eviction mid-iteration
            while len(_SHAPES) >= MAX_ROW_SHAPES:
                _SHAPES.pop(next(iter(_SHAPES)))
            _SHAPES[key] = shape
    return shape


#: The shape found last: profile reads repeat one shape, whose first row is checked in
#: place before the rows are parsed for a shape again.
_RECENT: list[RowShape | None] = [None]


def cached_row_shapes() -> tuple[RowShape, ...]:
    """The row shapes compiled and kept so far (oldest first)."""
    with _SHAPES_LOCK:
        return tuple(_SHAPES.values())


def recent_shape(buf: bytes, pos: int, end: int) -> RowShape | None:
    """:func:`row_shape` at ``pos``, trying the shape found last first."""
    shape = _RECENT[0]
    if (
        shape is not None
        and pos + shape.size <= end
        and shape.header(shape.unpack_from(buf, pos)) == shape.expected
    ):
        return shape
    shape = row_shape(buf, pos, end)
    if shape is not None:
        _RECENT[0] = shape
    return shape


def row_block(shape: RowShape, rows: int) -> RowBlock:
    """The Struct reading ``rows`` rows of ``shape`` at once (compiled once per count;
    ``rows`` must respect ``block_rows``)."""
    block = shape.blocks.get(rows)
    if block is None:
        whole = struct.Struct(">" + shape.values_fmt * rows)
        block = RowBlock(
            rows,
            whole.size,
            whole.unpack_from,
            tuple((offset, bytes((octet,)) * rows) for offset, octet in shape.skeleton),
            shape.types * rows,
        )
        if len(shape.blocks) >= MAX_ROW_BLOCKS:
            shape.blocks.clear()
        shape.blocks[rows] = block
    return block


def block_rows(shape: RowShape, count: int, room: int) -> int:
    """How many of ``count`` rows one block reads when ``room`` bytes are left."""
    return min(count, room // shape.size, BLOCK_ROWS, BLOCK_FIELDS // shape.fields)


# -- lengths --------------------------------------------------------------------------------


def pull_length(cur: Cursor) -> int:
    """Read a BER definite length (A-XDR) from ``cur`` and advance it."""
    return cur.pull_ber_length("length", layer=LAYER)


def _length_bytes(n: int) -> bytes:
    if n < 0x80:
        if n < 0:
            raise EncodeError(f"negative length {n}")
        return bytes((n,))
    k = (n.bit_length() + 7) // 8
    if k > _LONG_FORM_MAX_OCTETS:
        raise EncodeError(f"length {n} does not fit in {_LONG_FORM_MAX_OCTETS} octets")
    return bytes((0x80 | k,)) + n.to_bytes(k, "big")


def push_length(w: Writer, n: int) -> None:
    """Write ``n`` as a minimal BER definite length."""
    w.push_bytes(_length_bytes(n))


# -- decoding -------------------------------------------------------------------------------


def _block_matches(buf: bytes, pos: int, block: RowBlock, stride: int) -> bool:
    """Every tag and length octet of the block's rows at ``pos`` is the shape's."""
    stop = pos + block.size
    for offset, octets in block.checks:  # noqa: SIM110 (a plain loop: no generator per block)
        if buf[pos + offset : stop : stride] != octets:
            return False
    return True


def next_block(buf: bytes, pos: int, end: int, count: int, shape: RowShape) -> RowBlock | None:
    """The block of ``shape`` that reads the next rows at ``pos`` (at most ``count``), or
    None when too few rows are left or a row in it has another shape."""
    rows = block_rows(shape, count, end - pos)
    if rows < MIN_SHAPE_ROWS:
        return None
    block = row_block(shape, rows)
    return block if _block_matches(buf, pos, block, shape.size) else None


def _shaped_rows(
    buf: bytes, pos: int, end: int, count: int, shape: RowShape, items: list[Data]
) -> tuple[int, int]:
    """Decode the leading rows of ``shape`` (up to ``count``); (next position, rows left).

    Whole blocks of rows are read by one Struct and checked at once; the rows after the
    first block that does not match (a row of another shape) are read one by one. The
    Data of a block are built by C-level iterators (cells, then the structures grouping
    them), not per row.
    """
    types, width = shape.types, len(shape.types)
    while (block := next_block(buf, pos, end, count, shape)) is not None:
        cells = map(_new, repeat(Data), zip(block.types, block.unpack_from(buf, pos), strict=True))
        items.extend(
            map(_new, repeat(Data), zip(repeat(_STRUCTURE), zip(*[cells] * width, strict=True)))
        )
        pos += block.size
        count -= block.rows
    row_size, unpack_row, row_header, expected, row_values = shape[:5]
    left: list[tuple[Any, ...]] = []
    for _ in range(count):
        if pos + row_size > end:
            break
        row = unpack_row(buf, pos)
        if row_header(row) != expected:
            break
        left.append(row_values(row))
        pos += row_size
    if left:
        cells = map(
            _new, repeat(Data), zip(types * len(left), chain.from_iterable(left), strict=True)
        )
        items.extend(
            map(_new, repeat(Data), zip(repeat(_STRUCTURE), zip(*[cells] * width, strict=True)))
        )
    return pos, count - len(left)


def pull_tagged(buf: bytes, pos: int, end: int, depth: int) -> tuple[Data, int]:
    """Decode one tagged Data at ``pos``; returns it and the next position."""
    if pos >= end:
        raise axdr_error(pos, "expected a Data tag, input ended")
    tag = buf[pos]
    fixed = FIXED_LAYOUTS.get(tag)
    if fixed is not None:
        size, unpack, dtype = fixed
        nxt = pos + 1 + size
        if nxt > end:
            raise axdr_error(
                pos + 1, f"{dtype.name.lower()} needs {size} bytes, {end - pos - 1} left"
            )
        return _new(Data, (dtype, unpack(buf, pos + 1)[0])), nxt
    if tag == 1 or tag == 2:  # array / structure: the hot path of profile buffers
        if depth <= 0:
            raise axdr_error(pos, "nesting deeper than max_depth")
        dtype = _ARRAY if tag == 1 else _STRUCTURE
        if pos + 1 < end and buf[pos + 1] < 0x80:  # short-form count, read in place
            count, pos = buf[pos + 1], pos + 2
        else:
            count, pos = read_ber_length(
                buf, pos + 1, end, LAYER, "array" if tag == 1 else "structure"
            )
        if count > end - pos:
            raise axdr_error(pos, f"{count} elements declared, only {end - pos} bytes left")
        items: list[Data] = []
        append = items.append
        fixed_by_tag = _FIXED_BY_TAG
        child_depth = depth - 1
        if count >= MIN_SHAPE_ROWS and child_depth and pos < end and buf[pos] == 2:
            shape = recent_shape(buf, pos, end)
            if shape is not None:
                pos, count = _shaped_rows(buf, pos, end, count, shape, items)
        for _ in range(count):
            if pos < end:
                t = buf[pos]
                fixed = fixed_by_tag[t]
                if fixed is not None:
                    size, unpack, ctype = fixed
                    nxt = pos + 1 + size
                    if nxt <= end:
                        append(_new(Data, (ctype, unpack(buf, pos + 1)[0])))
                        pos = nxt
                        continue
                elif (t == 9 or t == 10) and pos + 1 < end:  # short octet-/visible-string
                    n = buf[pos + 1]
                    nxt = pos + 2 + n
                    if n < 0x80 and nxt <= end:
                        raw = buf[pos + 2 : nxt]
                        append(
                            _new(
                                Data,
                                (_OCTET_STRING, raw)
                                if t == 9
                                else (_VISIBLE_STRING, raw.decode("latin-1")),
                            )
                        )
                        pos = nxt
                        continue
            item, pos = pull_tagged(buf, pos, end, child_depth)
            append(item)
        return _new(Data, (dtype, tuple(items))), pos
    data_type = _TAG_TO_TYPE.get(tag)
    if data_type is None:
        raise axdr_error(pos, f"unknown Data tag {tag}")
    value, nxt = _body(buf, pos + 1, end, data_type, depth)
    return _new(Data, (data_type, value)), nxt


def _body(buf: bytes, pos: int, end: int, dtype: DataType, depth: int) -> tuple[object, int]:
    """Decode the value of a Data of known type (no tag) at ``pos``."""
    fixed = FIXED_LAYOUTS.get(dtype)
    if fixed is not None:
        size, unpack, _ = fixed
        if pos + size > end:
            raise axdr_error(pos, f"{dtype.name.lower()} needs {size} bytes, {end - pos} left")
        return unpack(buf, pos)[0], pos + size
    if dtype in _STRINGS or dtype is _BIT_STRING:
        n, pos = read_ber_length(buf, pos, end, LAYER, dtype.name.lower())
        nbytes = (n + 7) // 8 if dtype is _BIT_STRING else n
        if nbytes > end - pos:
            raise axdr_error(pos, f"{dtype.name.lower()} of {nbytes} bytes, only {end - pos} left")
        raw = buf[pos : pos + nbytes]
        if dtype is _OCTET_STRING:
            return raw, pos + nbytes
        if dtype is _BIT_STRING:
            return BitString(n, raw), pos + nbytes
        if dtype is _VISIBLE_STRING:
            return raw.decode("latin-1"), pos + nbytes
        try:
            return raw.decode("utf-8"), pos + nbytes
        except UnicodeDecodeError as exc:
            raise axdr_error(pos + exc.start, "utf8-string is not valid UTF-8") from None
    date_kind = _DATE_KINDS.get(dtype)
    if date_kind is not None:
        size, make, _ = date_kind
        if pos + size > end:
            raise axdr_error(pos, f"{dtype.name.lower()} needs {size} bytes, {end - pos} left")
        return make(buf[pos : pos + size]), pos + size
    if dtype is _NULL:
        return None, pos
    if dtype is _COMPACT_ARRAY:
        if depth <= 0:
            raise axdr_error(pos, "nesting deeper than max_depth")
        return pull_compact_array(buf, pos, end, depth - 1)
    # ARRAY/STRUCTURE never reach here: pull_tagged and _typed decode them.
    raise axdr_error(pos, f"{dtype.name.lower()} cannot be decoded without its tag")


def check_max_depth(max_depth: int) -> None:
    """``ValueError`` unless ``0 <= max_depth <= MAX_DEPTH_CEILING`` (0: scalars only)."""
    if not 0 <= max_depth <= MAX_DEPTH_CEILING:
        raise ValueError(f"max_depth must be in 0..{MAX_DEPTH_CEILING}, got {max_depth}")


def pull_data(cur: Cursor, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Data:
    """Decode one tagged Data at ``cur.offset`` and advance the cursor past it."""
    check_max_depth(max_depth)
    # The hot loop reads the cursor's buffer directly; the cursor is this package's own type.
    d, cur.offset = pull_tagged(cur._data, cur.offset, cur._end, max_depth)
    return d


def decode_data(data: bytes, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Data:
    """Decode ``data`` as exactly one tagged Data; DecodeError on trailing bytes."""
    check_max_depth(max_depth)
    buf = bytes(data)
    d, pos = pull_tagged(buf, 0, len(buf), max_depth)
    if pos != len(buf):
        raise axdr_error(pos, f"{len(buf) - pos} trailing bytes after Data")
    return d


# -- encoding -------------------------------------------------------------------------------


def _emit_body(out: bytearray, dtype: DataType, value: object) -> None:
    """Append the untagged encoding of ``value`` as ``dtype``."""
    s = _FIXED_STRUCTS.get(dtype)
    if s is not None:
        if dtype is DataType.BOOLEAN and not isinstance(value, bool):
            raise EncodeError(f"boolean needs a bool, got {value!r}")
        if dtype in (DataType.FLOAT32, DataType.FLOAT64):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, int)
        if not ok:
            raise EncodeError(f"{dtype.name.lower()} needs a number, got {value!r}")
        try:
            out += s.pack(value)
        except (struct.error, OverflowError) as exc:
            raise EncodeError(f"{dtype.name.lower()} out of range: {value!r}") from exc
        return
    if dtype is DataType.NULL:
        if value is not None:
            raise EncodeError(f"null-data carries no value, got {value!r}")
        return
    if dtype in _CONTAINERS:
        if not isinstance(value, tuple) or isinstance(value, Data):  # Data is a tuple too
            raise EncodeError(f"{dtype.name.lower()} needs a tuple of Data, got {value!r}")
        out += _length_bytes(len(value))
        for item in value:
            _emit(out, item)
        return
    raw: bytes
    if dtype is DataType.OCTET_STRING and isinstance(value, bytes | bytearray):
        raw = bytes(value)
    elif dtype is DataType.VISIBLE_STRING and isinstance(value, str):
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"visible-string is not latin-1: {value!r}") from exc
    elif dtype is DataType.UTF8_STRING and isinstance(value, str):
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"utf8-string cannot be encoded: {value!r}") from exc
    elif dtype is DataType.BIT_STRING and isinstance(value, BitString):
        out += _length_bytes(value.bit_count)
        out += value.data
        return
    elif isinstance(value, _DATE_CLASSES.get(dtype, ())):
        out += value.encode()  # type: ignore[attr-defined]
        return
    elif dtype is DataType.COMPACT_ARRAY and isinstance(value, CompactArray):
        emit_compact_array(out, value)
        return
    else:
        raise EncodeError(f"cannot encode {value!r} as {dtype!r}")
    out += _length_bytes(len(raw))
    out += raw


def _emit(out: bytearray, d: Data) -> None:
    if not isinstance(d, Data):
        raise EncodeError(f"expected Data, got {d!r}")
    dtype = d.type
    if not isinstance(dtype, DataType):
        raise EncodeError(f"unknown Data type {dtype!r}")
    out.append(dtype)
    _emit_body(out, dtype, d.value)


def encode_data(d: Data) -> bytes:
    """The A-XDR encoding of ``d`` (tag + value); EncodeError when a value does not fit."""
    out = bytearray()
    _emit(out, d)
    return bytes(out)


def push_data(w: Writer, d: Data) -> None:
    """Append the A-XDR encoding of ``d`` to ``w``."""
    w.push_bytes(encode_data(d))


# -- compact-array [19] (Blue Book 4.1.5 TypeDescription): the contents description and the
# untagged elements it describes; _body/_emit_body call in here for COMPACT_ARRAY.
# -- decoding -------------------------------------------------------------------------------


def _description(
    buf: bytes, pos: int, end: int, depth: int
) -> tuple[TypeDescription, int, int, int]:
    """(description, next position, minimum encoded size, values produced per element)."""
    if pos >= end:
        raise axdr_error(pos, "compact-array description: input ended")
    dtype = _TAG_TO_TYPE.get(buf[pos])
    if dtype is None or dtype is DataType.COMPACT_ARRAY:
        raise axdr_error(pos, f"compact-array description: invalid type {buf[pos]}")
    pos += 1
    if dtype not in _CONTAINERS:
        fixed = FIXED_LAYOUTS.get(dtype) or _DATE_KINDS.get(dtype)
        size = fixed[0] if fixed is not None else (0 if dtype is DataType.NULL else 1)
        return TypeDescription(dtype), pos, size, 1
    if depth <= 0:
        raise axdr_error(pos - 1, "compact-array description nests deeper than max_depth")
    if dtype is DataType.ARRAY:  # number-of-elements is Unsigned16
        if pos + 2 > end:
            raise axdr_error(pos, "compact-array description: array count needs 2 bytes")
        count = int.from_bytes(buf[pos : pos + 2], "big")
        elem, pos, size, weight = _description(buf, pos + 2, end, depth - 1)
        return TypeDescription(dtype, count, (elem,)), pos, count * size, 1 + count * weight
    count, pos = read_ber_length(buf, pos, end, LAYER, "compact-array structure description")
    if count > end - pos:
        raise axdr_error(pos, f"{count} structure members declared, only {end - pos} bytes left")
    children = []
    total_size, total_weight = 0, 1
    for _ in range(count):
        child, pos, size, weight = _description(buf, pos, end, depth - 1)
        children.append(child)
        total_size += size
        total_weight += weight
    return TypeDescription(dtype, count, tuple(children)), pos, total_size, total_weight


def _typed(buf: bytes, pos: int, end: int, desc: TypeDescription, depth: int) -> tuple[Data, int]:
    """Decode one untagged compact-array element described by ``desc``."""
    dtype = desc.type
    if dtype is _ARRAY:
        elem = desc.elements[0]
        items = []
        for _ in range(desc.count):
            item, pos = _typed(buf, pos, end, elem, depth)
            items.append(item)
        return _new(Data, (dtype, tuple(items))), pos
    if dtype is _STRUCTURE:
        items = []
        for child in desc.elements:
            item, pos = _typed(buf, pos, end, child, depth)
            items.append(item)
        return _new(Data, (dtype, tuple(items))), pos
    value, pos = _body(buf, pos, end, dtype, depth)
    return _new(Data, (dtype, value)), pos


def pull_compact_array(buf: bytes, pos: int, end: int, depth: int) -> tuple[CompactArray, int]:
    desc, pos, min_size, weight = _description(buf, pos, end, depth)
    start = pos
    length, pos = read_ber_length(buf, pos, end, LAYER, "compact-array contents")
    if length > end - pos:
        raise axdr_error(pos, f"compact-array contents of {length} bytes, only {end - pos} left")
    stop = pos + length
    if length and min_size == 0:
        raise axdr_error(start, "compact-array contents given for a description of zero size")
    if length and weight > _MAX_VALUES_PER_CONTENT_BYTE * min_size:
        raise axdr_error(start, f"compact-array description expands to {weight} values per element")
    items = []
    while pos < stop:
        item, pos = _typed(buf, pos, stop, desc, depth)
        items.append(item)
    return CompactArray(desc, tuple(items)), pos


# -- encoding -------------------------------------------------------------------------------


def _emit_description(out: bytearray, desc: TypeDescription) -> None:
    dtype = desc.type
    if not isinstance(dtype, DataType) or dtype is DataType.COMPACT_ARRAY:
        raise EncodeError(f"invalid compact-array description type {dtype!r}")
    out.append(dtype)
    if dtype is DataType.ARRAY:
        if len(desc.elements) != 1 or not 0 <= desc.count <= 0xFFFF:
            raise EncodeError("array description needs one element type and a count 0..65535")
        out += desc.count.to_bytes(2, "big")
        _emit_description(out, desc.elements[0])
    elif dtype is DataType.STRUCTURE:
        out += _length_bytes(len(desc.elements))
        for child in desc.elements:
            _emit_description(out, child)


def _emit_typed(out: bytearray, desc: TypeDescription, d: Data) -> None:
    if not isinstance(d, Data) or d.type is not desc.type:
        raise EncodeError(f"compact-array element {d!r} does not match {desc.type!r}")
    if desc.type is DataType.ARRAY or desc.type is DataType.STRUCTURE:
        value = d.value
        kinds = desc.elements * desc.count if desc.type is DataType.ARRAY else desc.elements
        if not isinstance(value, tuple) or isinstance(value, Data) or len(value) != len(kinds):
            raise EncodeError(f"compact-array element {d!r} does not match its description")
        for child_desc, child in zip(kinds, value, strict=True):
            _emit_typed(out, child_desc, child)
        return
    _emit_body(out, desc.type, d.value)


def emit_compact_array(out: bytearray, value: CompactArray) -> None:
    _emit_description(out, value.description)
    contents = bytearray()
    for item in value.elements:
        _emit_typed(contents, value.description, item)
    out += _length_bytes(len(contents))
    out += contents
