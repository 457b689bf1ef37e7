"""Typed frame decoding, column by column: bytes to a :class:`TypedFrame`.

A :class:`TypedFrame` holds the header and, per property list, the EPCs, the
EDTs and the typed values (``specs/echonet``) as parallel tuples: no object per
property, so bulk decoding (captures, fleet ingestion, polling loops) stays
cheap. :meth:`TypedFrame.frame` gives the ordinary :class:`Frame` whose
properties are :class:`PropertyValue` objects. Answers and notifications are
typed by the source object's class, requests by the destination's.

Three paths, giving identical results (tests check it):

- A HEMS polls the same properties of the same meter again and again, so frames
  repeat one *shape* (objects, service, EPCs and PDCs). A shape seen twice gets
  a decoder generated for it (:mod:`.compiled`), found by frame bytes 4..13.
- A frame of another shape (and any frame a compiled shape hands over) is read
  in one pass over its properties, each typed by its class's decoder for the EPC
  (one plan per class and EPC, kept with the class's decoder table, with the
  wrong-size error prepared: :func:`datatypes.size_error_maker`) and the header
  objects of its SEOJ, DEOJ and ESV (:data:`_HEADS`).
- SetGet frames, format 2 and malformed frames go through :func:`frame.decode`,
  which names the error.

The compiled shapes are a process-wide cache keyed on the whole skeleton (SEOJ,
DEOJ, ESV, OPC and every EPC/PDC pair), evicted in least-recently-used order
within a byte budget (:data:`SHAPE_CACHE_BUDGET`, fuzz/README.md).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from itertools import islice
from struct import error as StructError
from typing import Any, Final, NamedTuple

from ..errors import DecodeError
from . import frame as _frame
from .compiled import ShapeProperty, shape_decoder
from .datatypes import DataType, attempt_of, size_error, size_error_maker
from .frame import EHD1_ECHONET_LITE, EHD2_SPECIFIED, EOJ, ESV, Frame, Property, new_tuple
from .properties import PropertyValue, decoder_table, lookup, typed_property

__all__ = ["SHAPE_CACHE_BUDGET", "TypedFrame", "decode_typed", "value_class"]

#: Byte budget of the compiled-shape cache: the sum of the shapes' estimated sizes.
SHAPE_CACHE_BUDGET: Final = 2 * 1024 * 1024
#: Upper bound of one compiled shape's size, bytes: a fixed part plus a part per property
#: (the generated function, its code and namespace, two ``struct.Struct``, the key and
#: property tuples; the measured sizes are checked against it by tests/echonet/test_caches.py).
#: 32 properties at most.
_SHAPE_BASE_BYTES: Final = 4096
_SHAPE_PROPERTY_BYTES: Final = 1152
_MAX_SHAPE_PROPERTIES: Final = 32
#: EHD(2) + TID(2) + SEOJ(3) + DEOJ(3) + ESV(1) + OPC(1) (Part II §3.2).
_HEADER_SIZE: Final = 12
#: The header's numbers: EHD1, EHD2, TID, ESV, OPC (Part II §3.2).
_HEAD_NUMBERS: Final = struct.Struct(">BBH6xBB").unpack_from
#: The SetGet family carries a second property list, OPCGet (Part II §3.2.7): general path.
_SETGET_CODES: Final = frozenset(int(esv) for esv in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA))
_ESV_BY_CODE: Final[dict[int, ESV]] = {int(esv): esv for esv in ESV}


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
                out.append(new_tuple(Property, (epc, edt)))
                continue
            spec = lookup(self.typed_class, epc)
            if spec is None:
                out.append(
                    new_tuple(PropertyValue, (epc, edt, f"0x{epc:02X}", edt, None, False, None))
                )
            else:
                out.append(
                    new_tuple(
                        PropertyValue,
                        (epc, edt, spec.name, value, spec.unit, True, failed.get(epc)),
                    )
                )
        return tuple(out)

    def frame(self) -> Frame:
        """The :class:`Frame`, its properties as :class:`PropertyValue` (plain for PDC 0)."""
        return new_tuple(
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


class _Shape:
    """One compiled shape: its generated decoder and what the cache needs to know of it."""

    __slots__ = ("cost", "decode", "head_key", "key", "plan", "size", "skeleton_key")

    def __init__(
        self,
        key: int,
        skeleton_key: bytes,
        size: int,
        plan: tuple[ShapeProperty, ...],
        decode: Callable[[bytes], TypedFrame],
    ) -> None:
        #: The cache key: the frame's sighting (:data:`_SIGHTED`), its header, EPCs and length.
        self.key = key
        #: Frame bytes 4..11 (SEOJ, DEOJ, ESV, OPC) and every EPC, PDC pair.
        self.skeleton_key = skeleton_key
        #: Frame bytes 4..13: SEOJ, DEOJ, ESV, OPC and the first EPC, PDC (the by_header key).
        self.head_key = skeleton_key[:10]
        self.size = size
        #: Per property: (EPC, PDC, data type or ``None`` for an EPC the class does not list).
        self.plan = plan
        #: Upper bound of this shape's size in bytes, charged to the budget.
        self.cost = _SHAPE_BASE_BYTES + _SHAPE_PROPERTY_BYTES * len(plan)
        #: ``decode(frame)``: the :class:`TypedFrame`; a frame not of this shape, or with an
        #: EDT that breaks its type, is handed to the one-pass path, which decides.
        self.decode = decode


class _ShapeCache(dict[int, _Shape]):
    """Sighting (:data:`_SIGHTED`) -> shape, least recently used first (a dict keeps
    insertion order).

    ``cost`` is the sum of the shapes' :attr:`_Shape.cost`, kept within
    :data:`SHAPE_CACHE_BUDGET` by evicting from the front. ``by_header`` maps frame
    bytes 4..13 (header and first EPC/PDC pair) to the decoder of the shape that starts
    so and was used last (a shape's cost covers its slot there): most frames are found
    through it without walking their skeleton, and one-property polls of different EPCs
    from one object (0xE7, 0xE0, 0xE7...) each keep their own slot.

    A hit through ``by_header`` does no bookkeeping: instead ``by_header`` is emptied
    whenever a shape is added (the only time anything is evicted), so the first frame
    of each shape after that is found by its sighting (:func:`_one_pass`), which moves
    the shape to the most recent end and back into ``by_header``. The shapes used
    since the last addition thus stand behind all the others, in order of first use.
    """

    __slots__ = ("by_header", "cost")

    def __init__(self) -> None:
        super().__init__()
        self.cost = 0
        self.by_header: dict[bytes, Callable[[bytes], TypedFrame]] = {}

    def clear(self) -> None:
        super().clear()
        self.by_header.clear()
        self.cost = 0

    def touch(self, shape: _Shape) -> None:
        """Mark ``shape`` (cached) as the most recently used, its header's shape."""
        del self[shape.key]
        self[shape.key] = shape
        self.by_header[shape.head_key] = shape.decode

    def add(self, shape: _Shape) -> None:
        """Insert ``shape``, evicting the least recently used to stay within the budget."""
        self._drop(shape.key)
        while self and self.cost + shape.cost > SHAPE_CACHE_BUDGET:
            self._drop(next(iter(self)))
        self.by_header.clear()
        self[shape.key] = shape
        self.by_header[shape.head_key] = shape.decode
        self.cost += shape.cost

    def _drop(self, key: int) -> None:
        old = self.pop(key, None)
        if old is not None:
            self.cost -= old.cost
            if self.by_header.get(old.head_key) is old.decode:
                del self.by_header[old.head_key]


_SHAPES: Final = _ShapeCache()
_BY_HEADER: Final = _SHAPES.by_header
#: The error-free frames the one-pass path has seen, oldest first, each as one int: the
#: hash of its header (frame bytes 4..13: SEOJ, DEOJ, ESV, OPC, the first EPC and PDC)
#: mixed with the hash of its EPCs and its length. A frame found here is a second
#: sighting: its shape is compiled (or found, if compiled). A one-off frame costs one
#: slot and no skeleton key. The header's hash is salted per process, so no input can
#: aim at a slot; a collision only compiles a shape. 4 096 slots of an int, 256 B each
#: with the dict slot (measured ~100 B) = :data:`_SIGHTED_BUDGET`.
_SIGHTED: dict[int, None] = {}
_SIGHTED_LIMIT: Final = 4096
_SIGHTED_BUDGET: Final = _SIGHTED_LIMIT * 256

#: Per class and EPC, what the one-pass path needs: (fixed EDT size or -1, whole-EDT
#: decoder that returns its error (:func:`datatypes.attempt_of`), maker of the wrong-size
#: error (shared by the types of one size and label), data type), ``None`` for an EPC the
#: class does not list. One plan dict per decoder table (:func:`properties.decoder_table`
#: gives one table per class file, shared by the class ids without a file), keyed by the
#: table's id with the table kept alive, so the plans are bounded like the tables: 256
#: EPCs per owner at 256 B each = :data:`_PLANS_OWNER_BUDGET` per owner at most (an entry
#: is a dict slot and, for a listed EPC, a 4-tuple and, for a kind without its own
#: ``attempt``, a closure: measured 57 B per EPC over every owner's 256, 356 B per listed
#: EPC, and a class lists 82 EPCs at most).
_Plan = tuple[int, Callable[[bytes], Any], Callable[[int], DecodeError], DataType]
_PLANS: dict[int, tuple[object, dict[int, _Plan | None]]] = {}
_PLAN_ENTRY_BYTES: Final = 256
_PLANS_OWNER_BUDGET: Final = 256 * _PLAN_ENTRY_BYTES

#: Frame bytes 4..10 (SEOJ, DEOJ, ESV) -> (SEOJ, DEOJ, ESV, class id that types the
#: EDTs, its plans), oldest first: 1 024 entries at 512 B (two EOJs ~100 B each, the
#: 5-tuple, the 7-byte key and the dict slot; measured ~330 B) = :data:`_HEADS_BUDGET`.
_Head = tuple[EOJ, EOJ, "ESV | int", int, dict[int, "_Plan | None"]]
_HEADS: dict[bytes, _Head] = {}
_HEADS_LIMIT: Final = 1024
_HEADS_BUDGET: Final = _HEADS_LIMIT * 512


def _drop_oldest(cache: dict[Any, Any]) -> None:
    """Drop the oldest quarter of a full first-in first-out ``cache`` at once.

    One at a time, ``next(iter(cache))`` walks every slot deleted from the front
    since the dict last resized (CPython compacts only then): ~2.5 us per eviction
    at 4 096 keys, against ~0.1 us amortised in batches.
    """
    for key in list(islice(cache, len(cache) // 4 or 1)):
        del cache[key]


def _plans(class_id: int) -> dict[int, _Plan | None]:
    table = decoder_table(class_id)
    found = _PLANS.get(id(table))
    if found is None:
        found = _PLANS[id(table)] = (table, {})
    return found[1]


def _plan(plans: dict[int, _Plan | None], class_id: int, epc: int) -> _Plan | None:
    """The plan of ``epc`` in ``class_id``, made and kept in ``plans`` (its owner's)."""
    spec = lookup(class_id, epc)
    if spec is None:
        plan = None
    else:
        data_type = spec.data_type
        size = -1 if data_type.size is None else data_type.size
        plan = (size, attempt_of(data_type), size_error_maker(data_type) or _never_wrong, data_type)
    plans[epc] = plan
    return plan


def _never_wrong(pdc: int) -> DecodeError:
    """The wrong-size error maker of a type without a fixed size: never called."""
    raise AssertionError(f"PDC {pdc} checked against a type without a fixed size")


def _head(key: bytes) -> _Head:
    """The header objects of frame bytes 4..10 (``key``), cached in :data:`_HEADS`."""
    seoj = EOJ(key[0], key[1], key[2])
    deoj = EOJ(key[3], key[4], key[5])
    esv: ESV | int = _ESV_BY_CODE.get(key[6], key[6])
    class_id = deoj.class_id if isinstance(esv, ESV) and esv.is_request else seoj.class_id
    head = (seoj, deoj, esv, class_id, _plans(class_id))
    if len(_HEADS) >= _HEADS_LIMIT:
        _drop_oldest(_HEADS)
    _HEADS[key] = head
    return head


def _compile(
    data: bytes, head: _Head, epcs: tuple[int, ...], edts: tuple[bytes, ...], key: int
) -> _Shape | None:
    """The shape of ``data`` (one property list, every EDT typed without error), cached
    under ``key``, its sighting."""
    if len(epcs) > _MAX_SHAPE_PROPERTIES:
        return None
    seoj, deoj, esv, class_id, plans = head
    plan = tuple(
        (epc, len(edt), None if (found := plans.get(epc)) is None else found[3])
        for epc, edt in zip(epcs, edts, strict=True)
    )
    decode = shape_decoder(
        len(data),
        plan,
        TypedFrame,
        (seoj, deoj, esv, epcs),
        ((), (), (), (), class_id),
        _one_pass,
    )
    skeleton_key = data[4:12] + bytes(b for epc, pdc, _ in plan for b in (epc, pdc))
    return _Shape(key, skeleton_key, len(data), plan, decode)


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


def _general(data: bytes) -> TypedFrame:
    """Decode through :func:`frame.decode`: every frame, the malformed ones raise."""
    decoded = _frame.decode(data)
    if not isinstance(decoded, Frame):
        raise DecodeError(_frame.LAYER, 1, "format-2 frame has no properties to type")
    class_id = value_class(decoded)
    errors: list[tuple[int, DecodeError]] = []
    props, gets = decoded.properties, decoded.get_properties
    return TypedFrame(
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


def _one_pass(data: bytes | bytearray | memoryview) -> TypedFrame:
    """A frame no compiled shape took: if format 1 with one property list, typed
    property by property (as :func:`_general` types it); anything else goes to the
    general path, which decides (and raises for a malformed frame).

    A frame whose EDTs all decode refreshes its compiled shape, or has it compiled at
    the second sighting of its skeleton (:func:`_seen_again`).
    """
    if type(data) is not bytes:  # a read-only memoryview (decode_typed hashed its slice)
        data = bytes(data)
    try:
        ehd1, ehd2, tid, esv, count = _HEAD_NUMBERS(data)
    except StructError:  # shorter than a header
        return _general(data)
    if ehd1 != EHD1_ECHONET_LITE or ehd2 != EHD2_SPECIFIED or esv in _SETGET_CODES:
        return _general(data)
    key = data[4:11]
    seoj, deoj, esv_code, class_id, plans = _HEADS.get(key) or _head(key)
    epcs: list[int] = []
    edts: list[bytes] = []
    values: list[Any] = []
    errors: list[tuple[int, DecodeError]] | None = None
    at = _HEADER_SIZE
    try:
        # A frame cut short raises IndexError at an EPC or PDC, or ends past its
        # length (checked after the loop): either way it is not typed here, whatever
        # its properties gave.
        for _ in range(count):
            epc = data[at]
            pdc = data[at + 1]
            start = at + 2
            at = start + pdc
            edt = data[start:at]
            epcs.append(epc)
            edts.append(edt)
            if not pdc:
                values.append(None)
                continue
            try:
                plan = plans[epc]
            except KeyError:
                plan = _plan(plans, class_id, epc)
            if plan is None:
                values.append(edt)
                continue
            size = plan[0]
            if size == pdc or size < 0:
                value = plan[1](edt)  # returns its DecodeError: a raise costs microseconds
                if type(value) is not DecodeError:
                    values.append(value)
                    continue
                error = value
            else:  # the error decode would raise, without raising it
                error = plan[2](pdc)
            if errors is None:
                errors = []
            errors.append((epc, error))
            values.append(None)
    except IndexError:
        return _general(data)
    if at != len(data):
        return _general(data)
    epc_column, edt_column = tuple(epcs), tuple(edts)
    if errors is None and count <= _MAX_SHAPE_PROPERTIES:
        sighting = hash(data[4:14]) ^ hash(epc_column) ^ at
        if sighting in _SIGHTED:
            head = (seoj, deoj, esv_code, class_id, plans)
            _seen_again(data, head, epc_column, edt_column, sighting)
        else:
            if len(_SIGHTED) >= _SIGHTED_LIMIT:
                _drop_oldest(_SIGHTED)
            _SIGHTED[sighting] = None
    return new_tuple(
        TypedFrame,
        (
            tid,
            seoj,
            deoj,
            esv_code,
            epc_column,
            edt_column,
            tuple(values),
            (),
            (),
            (),
            () if errors is None else tuple(errors),
            class_id,
        ),
    )


def _seen_again(
    data: bytes,
    head: _Head,
    epc_column: tuple[int, ...],
    edt_column: tuple[bytes, ...],
    sighting: int,
) -> None:
    """A shape met again (its header, EPCs and length in :data:`_SIGHTED`): the compiled
    shape of its skeleton becomes the most recent, compiled now if need be.

    Compiling costs ~100 one-pass decodes' worth of work, so a shape is compiled at its
    second sighting, never for a one-off frame (a fuzzer's mutant): those only leave a
    slot in :data:`_SIGHTED`. Two skeletons alike in header, EPCs and length (PDCs moved
    between later properties) share one slot: the first compiled keeps it, and hands the
    other's frames to the one-pass path.
    """
    shape = _SHAPES.get(sighting)
    if shape is not None:  # compiled, not found by its header: found now
        _SHAPES.touch(shape)
        return
    shape = _compile(data, head, epc_column, edt_column, sighting)
    if shape is not None:
        _SHAPES.add(shape)
        _last[0] = shape


def decode_typed(data: bytes | bytearray | memoryview) -> TypedFrame:
    """Decode a format-1 frame to typed values; raise :class:`DecodeError` if malformed."""
    try:
        decode = _BY_HEADER.get(data[4:14], _one_pass)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a slice that does not hash: bytearray, writable view
        return _one_pass(bytes(data))
    # A compiled shape takes any bytes-like frame (``struct`` reads it, its EDTs come out
    # as bytes) and hands one that is not quite its own to _one_pass, which makes it bytes.
    return decode(data)  # type: ignore[arg-type]


#: Matches no frame (hands every one to the one-pass path): what ``_last`` holds before
#: the first shape.
_NO_SHAPE: Final = _Shape(-1, b"", -1, (), _one_pass)
#: The shape compiled last (for diagnostics and tests; decoding does not read it).
_last: list[_Shape] = [_NO_SHAPE]
