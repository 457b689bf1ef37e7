"""A simulated ECHONET Lite device of any class with a file in ``specs/echonet``.

:class:`SimulatedDevice` is a :class:`~..echonet.node.DeviceObject` that holds a
plausible value for every property of its class, derived from the property's
type alone (so every class works as soon as its file exists): a number in range
(20 of its unit when allowed), the first state of an enum, an all-clear bitmap,
the simulation clock's date and time for calendar types. Sets are accepted by the
class's access rules and validated against the same types (Part II §4.2.3:
SetC answered Set_Res, or SetC_SNA with the refused EDT echoed); a change of a
property in the 0x9D map is announced by INF (APPENDIX, status-change
announcement). :func:`device_node` puts several of them on one node, whose
profile lists them (0xD3..0xD7, Part II §6.11.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from typing import Final

from ..echonet.datatypes import DataType
from ..echonet.frame import EOJ
from ..echonet.node import EXPERIMENTAL_MANUFACTURER, DeviceObject, Node
from ..echonet.specs import PropertySpec, load_class
from ..errors import DecodeError, EncodeError

__all__ = [
    "SimulatedDevice",
    "alternative_edt",
    "candidate_edts",
    "device_node",
    "instances",
    "sample_edt",
]

#: The property maps, computed by :class:`DeviceObject` itself (Part II Annex 1).
_MAPS: Final = frozenset({0x9D, 0x9E, 0x9F})
#: Identification number 0x83 (APPENDIX §2.2): 0xFE, manufacturer code, 13 bytes.
_IDENTIFICATION: Final = 0x83
#: Manufacturer code 0x8A: the experimental code 0xFFFFFF (APPENDIX §2.2).
_MANUFACTURER: Final = 0x8A
#: Standard version information 0x82 of a device object (APPENDIX, super class): byte 3 the
#: release letter, byte 4 the revision. The class data is the MRA of Release R.
_STANDARD_VERSION: Final = 0x82
SIMULATED_RELEASE: Final = b"\x00\x00R\x01"
#: Raw integers tried first for a number: 20 of its unit, then other small round values.
_NICE_NUMBERS: Final = (20, 100, 1, 50, 10, 1000, 0, 2, 5)
_CALENDAR: Final = frozenset({"date", "time", "time_hms", "datetime", "datetime_hm"})
#: Largest EDT tried when probing a variable-size type with zero bytes.
_PROBE_SIZES: Final = 32
#: Largest code space probed exhaustively (2-byte enums and integers).
_PROBE_CODES: Final = 1 << 16

#: Calendar time of the simulation at ``now`` (float seconds).
Calendar = Callable[[float], dt.datetime]


def _epoch_calendar(now: float) -> dt.datetime:
    return dt.datetime(2025, 1, 1, 12, 0, 0) + dt.timedelta(seconds=now)


def _acceptable(data_type: DataType, edt: bytes, allow_none: bool) -> bool:
    try:
        value = data_type.decode(edt)
        if value is None:
            return allow_none
        if data_type.kind == "enum" and type(value) is int:
            return False  # a code the class does not list
        return bool(data_type.in_range(value))
    except (DecodeError, EncodeError, TypeError, ValueError):
        return False


def _raw_ints(size: int, signed: bool) -> Iterator[int]:
    yield from _NICE_NUMBERS
    span = min(1 << (8 * size), _PROBE_CODES)
    yield from range(span)
    if signed:
        yield from range(-1, -span, -1)


def _typed_candidates(data_type: DataType, when: dt.datetime) -> Iterator[bytes]:
    kind, size = data_type.kind, data_type.size
    if kind in ("unsigned", "signed") and size is not None:
        signed = kind == "signed"
        for raw in _raw_ints(size, signed):
            try:
                yield raw.to_bytes(size, "big", signed=signed)
            except OverflowError:
                continue
    elif kind == "enum" and size is not None:
        for code in range(min(1 << (8 * size), _PROBE_CODES)):
            yield code.to_bytes(size, "big")
    elif kind in _CALENDAR:
        stamps: dict[str, object] = {
            "date": when.date(),
            "time": when.time().replace(second=0, microsecond=0),
            "time_hms": when.time().replace(microsecond=0),
            "datetime": when.replace(microsecond=0),
            "datetime_hm": when.replace(second=0, microsecond=0),
        }
        yield data_type.encode(stamps[kind])
    elif kind == "ascii":
        for text in ("SIM", "S", ""):
            try:
                yield data_type.encode(text)
            except EncodeError:
                continue


def candidate_edts(data_type: DataType, when: dt.datetime) -> Iterator[bytes]:
    """EDTs that ``data_type`` accepts (decodes and finds in range), most plausible first."""
    seen: set[bytes] = set()
    size = data_type.size
    fallbacks = [bytes(size)] if size is not None else []
    # Never an empty EDT: PDC 0 in an answer reads as a refusal (Part II §3.2.5).
    fallbacks += [bytes(n) for n in range(1, min(data_type.max_size, _PROBE_SIZES) + 1)]
    if size:  # a leading code (a unit, a count, a state) before zeros
        fallbacks += [bytes((lead,)) + bytes(size - 1) for lead in range(256)]
    else:  # a count of one, then one element
        fallbacks += [b"\x01" + bytes(n) for n in range(1, min(data_type.max_size, _PROBE_SIZES))]
    for allow_none in (False, True):
        for edt in (*_typed_candidates(data_type, when), *fallbacks):
            if edt and edt not in seen and _acceptable(data_type, edt, allow_none):
                seen.add(edt)
                yield edt


def sample_edt(prop: PropertySpec, when: dt.datetime) -> bytes | None:
    """A plausible EDT of ``prop`` at calendar time ``when``, or ``None`` if none is found."""
    return next(candidate_edts(prop.data_type, when), None)


def alternative_edt(prop: PropertySpec, current: bytes, when: dt.datetime) -> bytes | None:
    """An EDT of ``prop`` the class accepts and that differs from ``current``."""
    return next((e for e in candidate_edts(prop.data_type, when) if e != current), None)


class SimulatedDevice(DeviceObject):
    """A device object of any specified class, every property served with a plausible value.

    ``calendar`` gives the calendar time at ``now``; calendar-typed properties
    follow it until a Set writes them.
    """

    def __init__(
        self,
        eoj: EOJ,
        *,
        calendar: Calendar = _epoch_calendar,
        manufacturer_code: bytes = EXPERIMENTAL_MANUFACTURER,
        unique_id: bytes = bytes(13),
    ) -> None:
        super().__init__(eoj)
        self.calendar = calendar
        self._clocked: set[int] = set()
        when = calendar(0.0)
        fixed = {
            _IDENTIFICATION: b"\xfe" + manufacturer_code + unique_id,
            _MANUFACTURER: manufacturer_code,
            _STANDARD_VERSION: SIMULATED_RELEASE,
        }
        for epc, prop in self.spec.properties.items():
            if epc in _MAPS:
                continue
            edt = fixed.get(epc)
            if edt is None or not _acceptable(prop.data_type, edt, False):
                edt = sample_edt(prop, when)
            if edt is None:
                continue  # no EDT fits the type: left out of the maps
            self.store(epc, edt)
            if prop.data_type.kind in _CALENDAR:
                self._clocked.add(epc)

    def read(self, epc: int, now: float) -> bytes | None:
        if epc in self._clocked:
            prop = self.spec.properties[epc]
            edt = sample_edt(prop, self.calendar(now))
            if edt is not None:
                return edt
        return super().read(epc, now)

    def write(self, epc: int, edt: bytes, now: float) -> str | None:
        reason = super().write(epc, edt, now)
        if reason is None:
            self._clocked.discard(epc)  # a date or time set by a controller stays as set
        return reason


def instances(classes: Sequence[int]) -> list[EOJ]:
    """EOJs for ``classes`` in order; a repeated class counts up (0x0130 x2: 013001, 013002)."""
    counts: dict[int, int] = {}
    out = []
    for class_id in classes:
        counts[class_id] = counts.get(class_id, 0) + 1
        if counts[class_id] > 0x7F:
            raise ValueError(f"more than 127 instances of class 0x{class_id:04X}")
        out.append(EOJ(class_id >> 8, class_id & 0xFF, counts[class_id]))
    return out


def device_node(
    classes: Sequence[int],
    *,
    calendar: Calendar = _epoch_calendar,
    manufacturer_code: bytes = EXPERIMENTAL_MANUFACTURER,
    unique_id: bytes = bytes(13),
) -> Node:
    """One node holding a :class:`SimulatedDevice` per entry of ``classes``.

    Every class needs a file in ``specs/echonet`` (else :class:`ValueError`).
    """
    if not classes:
        raise ValueError("a node needs at least one device class")
    for class_id in classes:
        if class_id >> 8 == 0x0E or load_class(class_id) is None:
            raise ValueError(f"no device class specification for 0x{class_id:04X}")
    objects = [
        SimulatedDevice(
            eoj, calendar=calendar, manufacturer_code=manufacturer_code, unique_id=unique_id
        )
        for eoj in instances(classes)
    ]
    return Node(objects, manufacturer_code=manufacturer_code, unique_id=unique_id)
