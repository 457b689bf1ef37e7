"""Typed frame decoding, column by column: bytes to a :class:`TypedFrame`.

A :class:`TypedFrame` holds the header and, per property list, the EPCs, the
EDTs and the typed values (``specs/echonet``) as parallel tuples: no object per
property, so bulk decoding (captures, fleet ingestion, polling loops) stays
cheap. :meth:`TypedFrame.frame` gives the ordinary :class:`Frame` whose
properties are :class:`PropertyValue` objects. Answers and notifications are
typed by the source object's class, requests by the destination's.

A HEMS polls the same properties of the same meter again and again, so frames
repeat one *shape* (objects, service, EPCs and PDCs). The first frame of a
shape goes through :func:`frame.decode`; later ones through one ``struct``
compiled for the shape, which checks the EPC/PDC skeleton and reads integer
EDTs in C. Both paths give identical results (tests check it).

The compiled shapes are a process-wide cache keyed on the whole skeleton (SEOJ,
DEOJ, ESV, OPC and every EPC/PDC pair), evicted in least-recently-used order
within a byte budget (:data:`SHAPE_CACHE_BUDGET`, fuzz/README.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from ..errors import DecodeError
from . import frame as _frame
from .datatypes import IntRule, size_error
from .frame import EOJ, ESV, Frame, Property, _tuple_new
from .properties import PropertyValue, decoder_table, lookup, typed_property

__all__ = ["SHAPE_CACHE_BUDGET", "TypedFrame", "decode_typed", "value_class"]

#: Byte budget of the compiled-shape cache: the sum of the shapes' estimated sizes.
SHAPE_CACHE_BUDGET: Final = 2 * 1024 * 1024
#: Upper bound of one compiled shape's size, bytes: a fixed part plus a part per property
#: (two ``struct.Struct``, the plan, key and skeleton tuples, the frozensets; the measured
#: sizes are checked against it by tests/echonet/test_caches.py). 32 properties at most.
_SHAPE_BASE_BYTES: Final = 4096
_SHAPE_PROPERTY_BYTES: Final = 1152
_MAX_SHAPE_PROPERTIES: Final = 32
_HEADER: Final = ">HH8x"  # EHD, TID, SEOJ+DEOJ+ESV+OPC (Part II §3.2)
_EHD_FORMAT_1: Final = 0x1081
_SETGET: Final = frozenset({ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA})
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


class TypedFrame(NamedTuple):
    """A format-1 frame with typed values, as parallel tuples per property list.

    ``values[i]`` is the typed value of ``epcs[i]`` (``None`` for PDC 0, for a
    "no data" code, and for an EDT that broke its type, which ``errors``
    lists). The ``get_*`` columns hold the OPCGet list of the SetGet services.
    """

    tid: int
    seoj: EOJ
    deoj: EOJ
    esv: ESV | int
    epcs: tuple[int, ...]
    edts: tuple[bytes, ...]
    values: tuple[Any, ...]
    get_epcs: tuple[int, ...] = ()
    get_edts: tuple[bytes, ...] = ()
    get_values: tuple[Any, ...] = ()
    errors: tuple[tuple[int, DecodeError], ...] = ()
    typed_class: int = 0

    def value(self, epc: int) -> Any:
        """The typed value of ``epc`` (first list, then the OPCGet list); ``KeyError`` if absent."""
        for epcs, values in ((self.epcs, self.values), (self.get_epcs, self.get_values)):
            if epc in epcs:
                return values[epcs.index(epc)]
        raise KeyError(f"EPC 0x{epc:02X} is not in the frame")

    def _column(
        self, epcs: tuple[int, ...], edts: tuple[bytes, ...], values: tuple[Any, ...]
    ) -> tuple[Property, ...]:
        failed = dict(self.errors)
        out: list[Property] = []
        for epc, edt, value in zip(epcs, edts, values, strict=True):
            if not edt:
                out.append(_tuple_new(Property, (epc, edt)))
                continue
            spec = lookup(self.typed_class, epc)
            if spec is None:
                out.append(
                    _tuple_new(PropertyValue, (epc, edt, f"0x{epc:02X}", edt, None, False, None))
                )
            else:
                out.append(
                    _tuple_new(
                        PropertyValue,
                        (epc, edt, spec.name, value, spec.unit, True, failed.get(epc)),
                    )
                )
        return tuple(out)

    def frame(self) -> Frame:
        """The :class:`Frame`, its properties as :class:`PropertyValue` (plain for PDC 0)."""
        return _tuple_new(
            Frame,
            (
                self.tid,
                self.seoj,
                self.deoj,
                self.esv,
                self._column(self.epcs, self.edts, self.values),
                self._column(self.get_epcs, self.get_edts, self.get_values),
            ),
        )


@dataclass(frozen=True, slots=True)
class _Shape:
    key: bytes  # SEOJ, DEOJ, ESV, OPC: the frame bytes 4..11
    skeleton_key: bytes  # key + every EPC, PDC pair: the cache key (_skeleton_key)
    cost: int  # upper bound of this shape's size in bytes, charged to the budget
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
    #: Per property: (int index or -1, epc, name, unit, decoder, special codes, rule); the
    #: rule (``DataType.int_rule``) is ``None`` for a plain integer, read as is.
    plan: tuple[tuple[int, int, str, str | None, Any, frozenset[int], IntRule | None], ...]
    head: tuple[Any, ...]  # (seoj, deoj, esv)
    typed_class: int
    #: Frame bytes 4..13: SEOJ, DEOJ, ESV, OPC and the first EPC, PDC (the by_header key).
    head_key: bytes = b"\xff" * 11
    #: Some integer EDT has a rule to apply (``DataType.int_rule``): not straight from ``ints``.
    checked: bool = False


class _ShapeCache(dict[bytes, _Shape]):
    """Skeleton key -> shape, least recently used first (a dict keeps insertion order).

    ``cost`` is the sum of the shapes' :attr:`_Shape.cost`, kept within
    :data:`SHAPE_CACHE_BUDGET` by evicting from the front. ``by_header`` maps frame
    bytes 4..13 (header and first EPC/PDC pair, :func:`_head_key`) to the most recently
    used shape that starts so (a shape's cost covers its slot there): most frames are
    found through it without walking their skeleton, and one-property polls of different
    EPCs from one object (0xE7, 0xE0, 0xE7...) each keep their own slot.
    """

    __slots__ = ("by_header", "cost")

    def __init__(self) -> None:
        super().__init__()
        self.cost = 0
        self.by_header: dict[bytes, _Shape] = {}

    def clear(self) -> None:
        super().clear()
        self.by_header.clear()
        self.cost = 0

    def touch(self, shape: _Shape) -> None:
        """Mark ``shape`` as the most recently used."""
        del self[shape.skeleton_key]
        self[shape.skeleton_key] = shape
        self.by_header[_head_key(shape)] = shape

    def add(self, shape: _Shape) -> None:
        """Insert ``shape``, evicting the least recently used to stay within the budget."""
        self._drop(shape.skeleton_key)
        while self and self.cost + shape.cost > SHAPE_CACHE_BUDGET:
            self._drop(next(iter(self)))
        self[shape.skeleton_key] = shape
        self.by_header[_head_key(shape)] = shape
        self.cost += shape.cost

    def _drop(self, skeleton_key: bytes) -> None:
        old = self.pop(skeleton_key, None)
        if old is not None:
            self.cost -= old.cost
            head = _head_key(old)
            if self.by_header.get(head) is old:
                del self.by_header[head]


def _head_key(shape: _Shape) -> bytes:
    """Frame bytes 4..13 of ``shape``: SEOJ, DEOJ, ESV, OPC and the first EPC, PDC."""
    return shape.head_key


_SHAPES: Final = _ShapeCache()
#: Skeleton keys seen once and not compiled yet, oldest first: 4 096 keys of at most
#: 8 + 2 x 32 bytes, 256 B each with the dict slot (measured ~150 B) = 1 MiB at most.
_SEEN_ONCE: dict[bytes, bool] = {}
_SEEN_ONCE_LIMIT: Final = 4096
_SEEN_ONCE_BUDGET: Final = _SEEN_ONCE_LIMIT * 256


def _skeleton_key(data: bytes) -> bytes | None:
    """Frame bytes 4..11 and every (EPC, PDC) pair; ``None`` if no shape could match.

    ``data`` is at least 12 bytes long. A frame with more than
    ``_MAX_SHAPE_PROPERTIES`` properties, or whose PDCs do not add up to its
    length, has no shape (the general path decodes or rejects it).
    """
    count = data[11]
    if count > _MAX_SHAPE_PROPERTIES:
        return None
    parts = [data[4:12]]
    at, end = 12, len(data)
    for _ in range(count):
        if at + 2 > end:
            return None
        parts.append(data[at : at + 2])
        at += 2 + data[at + 1]
    return b"".join(parts) if at == end else None


def _compile(decoded: Frame, size: int) -> _Shape | None:
    props = decoded.properties
    if decoded.esv in _SETGET or len(props) > _MAX_SHAPE_PROPERTIES:
        return None  # SetGet frames carry a second list (and its count byte): general path
    if any(not p.edt for p in props):
        return None
    class_id = value_class(decoded)
    table = decoder_table(class_id)
    layout = [_HEADER]
    ints = [">12x"]
    plan: list[tuple[int, int, str, str | None, Any, frozenset[int], IntRule | None]] = []
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
        rule = data_type.int_rule
        if (
            data_type.size == pdc
            and code is not None
            and rule is not None
            and (data_type.kind in ("signed", "unsigned"))
        ):
            bounds = None if data_type.plain_int else rule
            ints.append(f"2x{code}")
            plan.append((count, prop.epc, name, unit, None, data_type.special_codes, bounds))
            count += 1
        else:
            ints.append(f"{pdc + 2}x")
            plan.append((-1, prop.epc, name, unit, decode, frozenset(), None))
    key = bytes(decoded.seoj.to_bytes() + decoded.deoj.to_bytes()) + bytes(
        (int(decoded.esv), len(props))
    )
    skeleton_key = key + b"".join(bytes((p.epc, len(p.edt))) for p in props)
    return _Shape(
        key=key,
        skeleton_key=skeleton_key,
        cost=_SHAPE_BASE_BYTES + _SHAPE_PROPERTY_BYTES * len(props),
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
        typed_class=class_id,
        head_key=skeleton_key[:10],
        checked=any(step[6] is not None for step in plan),
    )


def _typed_column(
    class_id: int, props: tuple[Property, ...], errors: list[tuple[int, DecodeError]]
) -> tuple[Any, ...]:
    table = decoder_table(class_id)
    values: list[Any] = []
    for epc, edt in props:
        if not edt:
            values.append(None)
            continue
        found = table[epc] if epc in table else typed_property(class_id, epc, edt) and table[epc]
        if found is None:
            values.append(edt)
            continue
        spec = lookup(class_id, epc)
        wrong = None if spec is None else size_error(spec.data_type, len(edt))
        if wrong is not None:  # the error decode would raise, without raising it
            errors.append((epc, wrong))
            values.append(None)
            continue
        try:
            values.append(found[1](edt))
        except DecodeError as exc:
            errors.append((epc, exc))
            values.append(None)
    return tuple(values)


def _general(data: bytes, key: bytes | bool | None = False) -> TypedFrame:
    """Decode through :func:`frame.decode`; ``key`` is ``data``'s skeleton key if known."""
    decoded = _frame.decode(data)
    if not isinstance(decoded, Frame):
        raise DecodeError(_frame.LAYER, 1, "format-2 frame has no properties to type")
    class_id = value_class(decoded)
    errors: list[tuple[int, DecodeError]] = []
    props, gets = decoded.properties, decoded.get_properties
    result = TypedFrame(
        decoded.tid,
        decoded.seoj,
        decoded.deoj,
        decoded.esv,
        tuple(p.epc for p in props),
        tuple(p.edt for p in props),
        _typed_column(class_id, props, errors),
        tuple(p.epc for p in gets),
        tuple(p.edt for p in gets),
        _typed_column(class_id, gets, errors),
        tuple(errors),
        class_id,
    )
    if not errors and _admit(data, key):
        shape = _compile(decoded, len(data))
        if shape is not None:
            _SHAPES.add(shape)
            _use(shape)
    return result


def _use(shape: _Shape) -> None:
    """Make ``shape`` the previous frame's; the one it replaces becomes the one before."""
    if _last[0] is not shape:
        _last[1] = _last[0]
        _last[0] = shape


def _admit(data: bytes, known: bytes | bool | None = False) -> bool:
    """Whether to compile the shape of ``data``: on the second sighting of its skeleton.

    Compiling costs ~20 general decodes' worth of allocations; a skeleton seen once
    (a one-off frame, a fuzzer's mutant) is only remembered in :data:`_SEEN_ONCE`.
    """
    key = _skeleton_key(data) if known is False else known
    if not isinstance(key, bytes):
        return False
    if _SEEN_ONCE.pop(key, False):
        return True
    if len(_SEEN_ONCE) >= _SEEN_ONCE_LIMIT:
        del _SEEN_ONCE[next(iter(_SEEN_ONCE))]
    _SEEN_ONCE[key] = True
    return False


def decode_typed(data: bytes | bytearray | memoryview) -> TypedFrame:
    """Decode a format-1 frame to typed values; raise :class:`DecodeError` if malformed."""
    if type(data) is not bytes:
        data = bytes(data)
    shape = _last[0]
    if len(data) != shape.size or not data.startswith(shape.head_key, 4):
        before = _last[1]
        if len(data) == before.size and data.startswith(before.head_key, 4):
            # The shape of the frame before (polls alternating two EPCs): no cache work.
            _last[0], _last[1] = before, shape
            shape = before
        else:
            # The last shape of its header, else its skeleton's.
            found = _SHAPES.by_header.get(data[4:14])
            if found is not None and len(data) == found.size:
                _SHAPES.touch(found)
            else:
                key = _skeleton_key(data) if len(data) >= 12 else None
                found = None if key is None else _SHAPES.get(key)
                if found is None:
                    return _general(data, key)
                _SHAPES.touch(found)
            _last[1] = shape
            _last[0] = shape = found
    fields = shape.layout.unpack(data)
    if fields[2::2] != shape.skeleton:
        found = _cached(data)  # the previous frame's header and size, another skeleton
        if found is None:
            return _general(data)
        shape = found
        fields = shape.layout.unpack(data)
    if fields[0] != _EHD_FORMAT_1:
        return _general(data)
    edts = fields[3::2]
    values: tuple[Any, ...] | None = shape.ints.unpack(data)
    plain = shape.all_ints and not shape.checked
    if not plain or not shape.specials.isdisjoint(values):  # type: ignore[arg-type]
        values = _typed_slowly(shape, edts, values)  # type: ignore[arg-type]
        if values is None:
            return _general(data)
    seoj, deoj, esv = shape.head
    return _tuple_new(
        TypedFrame,
        (fields[1], seoj, deoj, esv, shape.epcs, edts, values, (), (), (), (), shape.typed_class),
    )


def _cached(data: bytes) -> _Shape | None:
    """The cached shape of ``data``'s whole skeleton, now the most recently used; or None."""
    key = _skeleton_key(data) if len(data) >= 12 else None
    found = None if key is None else _SHAPES.get(key)
    if found is not None:
        _SHAPES.touch(found)
        _use(found)
    return found


def _typed_slowly(
    shape: _Shape, edts: tuple[bytes, ...], ints: tuple[int, ...]
) -> tuple[Any, ...] | None:
    """Values of a shape with special codes, checked ranges or non-integer EDTs.

    ``None`` if one breaks its type (the general path then lists the error). A
    range-checked integer is the raw value unless it is a special code (``None``) or
    out of its range (breaks), then scaled: ``DataType.int_rule``, the integer decoder's own.
    """
    values: list[Any] = []
    try:
        for (index, _epc, _name, _unit, decode, special, bounds), edt in zip(
            shape.plan, edts, strict=True
        ):
            if index < 0:
                values.append(decode(edt))
                continue
            value = ints[index]
            if bounds is None:
                values.append(None if value in special else value)
                continue
            specials, low, high, allowed, divisor, factor = bounds
            if value in specials:
                values.append(specials[value])
            elif (
                (low is not None and value < low)
                or (high is not None and value > high)
                or (allowed is not None and value not in allowed)
            ):
                return None
            elif divisor != 1:
                values.append(value / divisor)
            else:
                values.append(value * factor)
    except DecodeError:
        return None
    return tuple(values)


#: Matches no frame (size -1): what ``_last`` holds before the first shape.
_NO_SHAPE: Final = _Shape(
    b"\xff" * 9, b"", 0, -1, struct.Struct(""), (), (), (), (), False, frozenset(),
    struct.Struct(""), (), (), 0,
)
#: The shapes of the previous frame and of the one before, tried before the dictionaries.
#: Hits here do not touch the LRU order (two shapes at most may outlive their eviction).
_last: list[_Shape] = [_NO_SHAPE, _NO_SHAPE]
