"""Compact-array [19] of the A-XDR codec (IEC 62056-6-2, Blue Book 4.1.5 TypeDescription).

The contents description, the untagged elements it describes, and their encoding; the
tagged Data around them is :mod:`.axdr`, which calls in here for COMPACT_ARRAY.
"""

from __future__ import annotations

from ..errors import EncodeError
from .axdr import (
    _ARRAY,
    _CONTAINERS,
    _DATE_KINDS,
    _FIXED,
    _MAX_VALUES_PER_CONTENT_BYTE,
    _STRUCTURE,
    _TAG_TO_TYPE,
    CompactArray,
    Data,
    DataType,
    TypeDescription,
    _body,
    _emit_body,
    _err,
    _length,
    _length_bytes,
    _new,
)

__all__ = ["emit_compact_array", "pull_compact_array"]

# -- decoding -------------------------------------------------------------------------------


def _description(
    buf: bytes, pos: int, end: int, depth: int
) -> tuple[TypeDescription, int, int, int]:
    """(description, next position, minimum encoded size, values produced per element)."""
    if pos >= end:
        raise _err(pos, "compact-array description: input ended")
    dtype = _TAG_TO_TYPE.get(buf[pos])
    if dtype is None or dtype is DataType.COMPACT_ARRAY:
        raise _err(pos, f"compact-array description: invalid type {buf[pos]}")
    pos += 1
    if dtype not in _CONTAINERS:
        fixed = _FIXED.get(dtype) or _DATE_KINDS.get(dtype)
        size = fixed[0] if fixed is not None else (0 if dtype is DataType.NULL else 1)
        return TypeDescription(dtype), pos, size, 1
    if depth <= 0:
        raise _err(pos - 1, "compact-array description nests deeper than max_depth")
    if dtype is DataType.ARRAY:  # number-of-elements is Unsigned16
        if pos + 2 > end:
            raise _err(pos, "compact-array description: array count needs 2 bytes")
        count = int.from_bytes(buf[pos : pos + 2], "big")
        elem, pos, size, weight = _description(buf, pos + 2, end, depth - 1)
        return TypeDescription(dtype, count, (elem,)), pos, count * size, 1 + count * weight
    count, pos = _length(buf, pos, end, "compact-array structure description")
    if count > end - pos:
        raise _err(pos, f"{count} structure members declared, only {end - pos} bytes left")
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
    length, pos = _length(buf, pos, end, "compact-array contents")
    if length > end - pos:
        raise _err(pos, f"compact-array contents of {length} bytes, only {end - pos} left")
    stop = pos + length
    if length and min_size == 0:
        raise _err(start, "compact-array contents given for a description of zero size")
    if length and weight > _MAX_VALUES_PER_CONTENT_BYTE * min_size:
        raise _err(start, f"compact-array description expands to {weight} values per element")
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
