"""Typed frame decoding: bytes to a :class:`Frame` whose properties carry typed values.

Each property with an EDT becomes a :class:`PropertyValue` (value typed by
``specs/echonet``; an EDT that breaks its type keeps ``error`` set); properties
with PDC 0 stay plain :class:`Property`. Answers and notifications are typed
by the source object's class, requests by the destination's.

A HEMS polls the same properties of the same meter again and again, so frames
repeat one *shape* (objects, service, EPCs and PDCs). The first frame of a
shape goes through :func:`frame.decode`; later ones through one ``struct``
compiled for the shape, which checks the EPC/PDC skeleton and reads plain
integer EDTs in C. Both paths give identical frames (tests check it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import repeat
from typing import Any, Final

from ..errors import DecodeError
from . import frame as _frame
from .frame import ESV, Frame, Property, _tuple_new
from .properties import PropertyValue, decoder_table, lookup, typed_property

__all__ = ["decode_typed", "value_class"]

#: Shapes kept at once, and the most properties a compiled shape may hold.
_MAX_SHAPES: Final = 512
_MAX_SHAPE_PROPERTIES: Final = 32
_HEADER: Final = ">HH8x"  # EHD, TID, SEOJ+DEOJ+ESV+OPC (Part II §3.2)
_EHD_FORMAT_1: Final = 0x1081
_INT_CODES: Final = {
    (1, False): "B",
    (2, False): "H",
    (4, False): "I",
    (8, False): "Q",
    (1, True): "b",
    (2, True): "h",
    (4, True): "i",
    (8, True): "q",
}


def value_class(decoded: Frame) -> int:
    """The class whose specification types a frame's EDTs."""
    esv = decoded.esv
    if isinstance(esv, ESV) and esv.is_request:
        return decoded.deoj.class_id
    return decoded.seoj.class_id


@dataclass(frozen=True, slots=True)
class _Shape:
    key: bytes  # SEOJ, DEOJ, ESV, OPC: the frame bytes 4..11
    size: int
    layout: struct.Struct  # -> (ehd, tid, epc << 8 | pdc, edt, epc << 8 | pdc, edt, ...)
    skeleton: tuple[int, ...]  # (epc << 8 | pdc, ...) that the frame must show
    epcs: tuple[int, ...]
    names: tuple[str, ...]
    units: tuple[str | None, ...]
    #: The values come straight from ``ints`` (every EDT a plain integer).
    all_ints: bool
    #: Every special code of the integer EDTs ("no data", overflow...).
    specials: frozenset[int]
    ints: struct.Struct  # -> the integer EDTs, in order
    #: Per property: (int index or -1, epc, name, unit, decoder, special codes)
    plan: tuple[tuple[int, int, str, str | None, Any, frozenset[int]], ...]
    head: tuple[Any, ...]  # (seoj, deoj, esv)


_SHAPES: dict[bytes, _Shape] = {}


def _compile(decoded: Frame, size: int) -> _Shape | None:
    props = decoded.properties
    if decoded.get_properties or len(props) > _MAX_SHAPE_PROPERTIES:
        return None
    if any(not p.edt for p in props):
        return None
    class_id = value_class(decoded)
    table = decoder_table(class_id)
    layout = [_HEADER]
    ints = [">12x"]
    plan: list[tuple[int, int, str, str | None, Any, frozenset[int]]] = []
    count = 0
    for prop in props:
        pdc = len(prop.edt)
        layout.append(f"H{pdc}s")
        spec = lookup(class_id, prop.epc)
        if spec is None:
            return None  # unknown EPCs keep the general path
        typed_property(class_id, prop.epc, prop.edt)  # fills the decoder table
        entry = table[prop.epc]
        assert entry is not None
        name, decode, unit = entry
        data_type = spec.data_type
        code = _INT_CODES.get((pdc, data_type.kind == "signed"))
        if (
            data_type.size == pdc
            and code is not None
            and not data_type.decimals
            and (data_type.kind in ("signed", "unsigned"))
        ):
            ints.append(f"2x{code}")
            plan.append((count, prop.epc, name, unit, None, data_type.special_codes))
            count += 1
        else:
            ints.append(f"{pdc + 2}x")
            plan.append((-1, prop.epc, name, unit, decode, frozenset()))
    return _Shape(
        key=bytes(decoded.seoj.to_bytes() + decoded.deoj.to_bytes())
        + bytes((int(decoded.esv), len(props))),
        size=size,
        layout=struct.Struct("".join(layout)),
        skeleton=tuple(p.epc << 8 | len(p.edt) for p in props),
        epcs=tuple(p.epc for p in props),
        names=tuple(step[2] for step in plan),
        units=tuple(step[3] for step in plan),
        all_ints=all(step[0] >= 0 for step in plan),
        specials=frozenset().union(*(step[5] for step in plan)),
        ints=struct.Struct("".join(ints)),
        plan=tuple(plan),
        head=(decoded.seoj, decoded.deoj, decoded.esv),
    )


def _general(data: bytes) -> Frame:
    decoded = _frame.decode(data)
    if not isinstance(decoded, Frame):
        raise DecodeError(_frame.LAYER, 1, "format-2 frame has no properties to type")
    class_id = value_class(decoded)

    def typed(props: tuple[Property, ...]) -> tuple[Property, ...]:
        return tuple(typed_property(class_id, p.epc, p.edt) if p.edt else p for p in props)

    result: Frame = _tuple_new(
        Frame,
        (
            decoded.tid,
            decoded.seoj,
            decoded.deoj,
            decoded.esv,
            typed(decoded.properties),
            typed(decoded.get_properties),
        ),
    )
    if len(_SHAPES) < _MAX_SHAPES:
        shape = _compile(decoded, len(data))
        if shape is not None:
            _SHAPES[data[4:12]] = shape
    return result


def decode_typed(data: bytes | bytearray | memoryview) -> Frame:
    """Decode a format-1 frame with typed values; raise :class:`DecodeError` if malformed."""
    if type(data) is not bytes:
        data = bytes(data)
    shape = _last[0]
    if not data.startswith(shape.key, 4):
        # Not the shape of the previous frame: look it up (a bytes slice and a hash).
        found = _SHAPES.get(data[4:12])
        if found is None:
            return _general(data)
        shape = _last[0] = found
    if len(data) != shape.size:
        return _general(data)
    fields = shape.layout.unpack(data)
    if fields[0] != _EHD_FORMAT_1 or fields[2::2] != shape.skeleton:
        return _general(data)
    edts = fields[3::2]
    ints = shape.ints.unpack(data)
    if shape.all_ints and shape.specials.isdisjoint(ints):
        # Every EDT a plain integer and none a special code: build in C.
        typed: Any = tuple(
            map(
                _tuple_new,
                _REPEAT_VALUE_TYPE,
                zip(
                    shape.epcs,
                    edts,
                    shape.names,
                    ints,
                    shape.units,
                    _REPEAT_TRUE,
                    _REPEAT_NONE,
                    strict=False,
                ),
            )
        )
    else:
        typed = _typed_slowly(shape, edts, ints)
        if typed is None:
            return _general(data)
    seoj, deoj, esv = shape.head
    return _tuple_new(Frame, (fields[1], seoj, deoj, esv, typed, ()))


def _typed_slowly(
    shape: _Shape, edts: tuple[bytes, ...], ints: tuple[int, ...]
) -> tuple[PropertyValue, ...] | None:
    typed = []
    try:
        for (index, epc, name, unit, decode, special), edt in zip(shape.plan, edts, strict=False):
            if index < 0:
                value = decode(edt)
            else:
                value = ints[index]
                if value in special:
                    value = None
            typed.append(_tuple_new(PropertyValue, (epc, edt, name, value, unit, True, None)))
    except DecodeError:
        return None
    return tuple(typed)


_REPEAT_VALUE_TYPE: Final = repeat(PropertyValue)
#: The shape of the previous frame, tried before the dictionary (a sentinel at first).
_last: list[_Shape] = [
    _Shape(
        b"\xff" * 9,
        -1,
        struct.Struct(""),
        (),
        (),
        (),
        (),
        False,
        frozenset(),
        struct.Struct(""),
        (),
        (),
    )
]
_REPEAT_TRUE: Final = repeat(True)
_REPEAT_NONE: Final = repeat(None)
