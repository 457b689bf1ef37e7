"""Typed property values: EDT bytes to Python values and back, driven by ``specs/echonet``.

A property of a class without a specification file (or an EPC the file does
not list) decodes to its raw EDT with ``known=False``; device objects of an
unknown class still get the super class's properties (APPENDIX chapter 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final

from ..errors import DecodeError, EncodeError
from .datatypes import ManufacturerCode
from .frame import Property, new_tuple
from .specs import SUPER_CLASS, PropertySpec, known_classes, load_class

__all__ = [
    "PropertyValue",
    "decode_frame_properties",
    "decode_property",
    "decoder_table",
    "encode_property",
    "lookup",
    "property_epc",
    "typed_property",
    "validate_set",
]

#: Class group 0x0E holds the profile objects (node profile 0x0EF0), which do
#: not inherit the device object super class (Part II §6.11).
_PROFILE_GROUP: Final = 0x0E


class PropertyValue(Property):
    """A decoded property: a :class:`~.frame.Property` plus its typed ``value``.

    ``name`` and ``unit`` come from the class file; ``known`` is false when no
    class file describes the EPC (``value`` is then the EDT); ``error`` holds
    the :class:`DecodeError` of an EDT that broke its type (``value`` is then
    ``None``). Being a :class:`Property`, it can stand in a :class:`Frame`.
    """

    __slots__ = ()
    if TYPE_CHECKING:
        name: str
        value: Any
        unit: str | None
        known: bool
        error: DecodeError | None
    else:
        name = property(itemgetter(2), doc="Property name from the class file")
        value = property(itemgetter(3), doc="Typed value")
        unit = property(itemgetter(4), doc="Unit from the class file")
        known = property(itemgetter(5), doc="Whether a class file describes the EPC")
        error = property(itemgetter(6), doc="Why the EDT could not be decoded")

    def __new__(
        cls,
        epc: int,
        edt: bytes,
        name: str,
        value: Any,
        unit: str | None = None,
        known: bool = True,
        error: DecodeError | None = None,
    ) -> PropertyValue:
        Property(epc, edt)  # validates EPC and EDT
        return new_tuple(cls, (epc, bytes(edt), name, value, unit, known, error))

    def __repr__(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"PropertyValue(0x{self.epc:02X} {self.name}={self.value!r}{unit})"

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``epc`` (int), ``name``, ``edt`` (hex), ``value``, ``unit``.

        A unit property whose label is a multiplying factor (0x0288 0xE1, see
        :data:`FACTOR_UNITS`) gives that factor as a number with its unit named:
        ``{"value": 0.01, "unit": "kWh"}``.
        """
        value, unit = _jsonable(self.value), self.unit
        if self.name in FACTOR_UNITS and isinstance(value, str):
            try:
                value = float(Decimal(value))
            except InvalidOperation:
                pass
            else:
                unit = unit or FACTOR_UNITS[self.name]
        return {
            "epc": self.epc,
            "name": self.name,
            "edt": self.edt.hex(),
            "value": value,
            "unit": unit,
        }


#: Enum properties whose labels are multiplying factors, and the unit of what they scale
#: (APPENDIX: 0x0288 0xE1 and 0x028D 0xD4 cumulative energy in kWh per count; 0x028A
#: 0xC5/0xC7 demand in kW, 0xCD reactive energy in kvarh, 0xE6 active energy in kWh;
#: 0x0281 0xE1 flowing water in m3). ``None``: a plain factor (0x028A 0xD4).
FACTOR_UNITS: Final[dict[str, str | None]] = {
    "cumulative_energy_unit": "kWh",
    "active_energy_unit": "kWh",
    "demand_unit": "kW",
    "cumulative_max_demand_unit": "kW",
    "reactive_energy_lag_unit": "kvarh",
    "unit_for_cumulative_flowing_water": "m3",
    "coefficient_multiplier": None,
}


def _jsonable(value: Any) -> Any:
    if isinstance(value, ManufacturerCode):
        return value.as_json()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if type(value).__name__ == "EOJ":
        return str(value)
    return value


# --- process-wide caches: keyed by the classes of specs/echonet, never by wire values ---
#
# A class id off the wire is resolved to the class whose file describes it: its own file,
# else the super class (device objects), else none (profile objects, group 0x0E). Only
# those few owners are cached, so the caches stay bounded whatever ids the input shows:
# (files + 1) decoder tables of at most 256 entries each. Budget (fuzz/README.md):
# _TABLE_ENTRY_BYTES per filled entry (a 3-tuple and a dict slot; measured ~110 B),
# 11 tables x 256 EPCs -> _TABLES_BUDGET_BYTES = 720 KiB, reached only when every EPC
# of every class has been met; ~4 KiB per table in practice. The class files themselves
# are cached once each by specs.load_class.

#: Pseudo owner of profile-group classes without a file: every EPC unknown.
_NO_FILE: Final = -1
#: Upper bound per decoder-table entry, bytes (dict slot with resize slack + 3-tuple).
_TABLE_ENTRY_BYTES: Final = 256
#: Upper bound of all decoder tables together: (files + the no-file owner) x 256 EPCs.
_TABLES_BUDGET_BYTES: Final = (len(known_classes()) + 2) * 256 * _TABLE_ENTRY_BYTES

#: Per owner: EPC -> (name, whole-EDT decoder, unit), filled as EPCs are met (the hot path).
_Decoder = tuple[str, Callable[[bytes], Any], str | None]
_TABLES: dict[int, dict[int, _Decoder | None]] = {}
#: Per owner: its EPC -> PropertySpec mapping (the class file's own dict; empty for none).
_SPECS: dict[int, Mapping[int, PropertySpec]] = {}


def _owner(class_id: int) -> int:
    """The class whose file describes ``class_id`` (itself, the super class, or none)."""
    if load_class(class_id) is not None:
        return class_id
    return _NO_FILE if class_id >> 8 == _PROFILE_GROUP else SUPER_CLASS


def _specs_of(class_id: int) -> Mapping[int, PropertySpec]:
    owner = _owner(class_id)
    found = _SPECS.get(owner)
    if found is None:
        spec = load_class(owner) if owner != _NO_FILE else None
        found = _SPECS[owner] = spec.properties if spec is not None else {}
    return found


def lookup(class_id: int, epc: int) -> PropertySpec | None:
    """The specification of EPC ``epc`` in class ``class_id``, or ``None`` if unknown."""
    specs = _SPECS.get(class_id)
    if specs is None:
        specs = _specs_of(class_id)
    return specs.get(epc)


def decoder_table(class_id: int) -> dict[int, _Decoder | None]:
    """The EPC -> (name, decoder, unit) table of a class, filled as EPCs are met.

    Classes without a file share the super class's table (or the empty profile one),
    so the same object is returned for every id with the same owner.
    """
    table = _TABLES.get(class_id)
    if table is None:
        owner = _owner(class_id)
        table = _TABLES.get(owner)
        if table is None:
            table = _TABLES[owner] = {}
    return table


def _decoder(class_id: int, epc: int) -> _Decoder | None:
    table = _TABLES.get(class_id)
    if table is None:
        table = decoder_table(class_id)
    try:
        return table[epc]
    except KeyError:
        spec = lookup(class_id, epc)
        found = None if spec is None else (spec.name, spec.data_type.decode, spec.unit)
        table[epc] = found
        return found


def decode_property(class_id: int, epc: int, edt: bytes) -> PropertyValue:
    """Decode ``edt`` of ``epc`` in class ``class_id``; a bad EDT raises :class:`DecodeError`."""
    found = _decoder(class_id, epc)
    if found is None:
        return new_tuple(PropertyValue, (epc, edt, f"0x{epc:02X}", edt, None, False, None))
    name, decode, unit = found
    return new_tuple(PropertyValue, (epc, edt, name, decode(edt), unit, True, None))


def _release_decoder(class_id: int, epc: int, release: str) -> _Decoder | None:
    """The decoder of ``epc`` as APPENDIX Release ``release`` defines it (specs.load_class)."""
    owner = _owner(class_id)
    spec = load_class(owner, release) if owner != _NO_FILE else None
    if spec is None or spec.release is None:  # the newest definitions: the cached tables
        return _decoder(class_id, epc)
    prop = spec.properties.get(epc)
    return None if prop is None else (prop.name, prop.data_type.decode, prop.unit)


def typed_property(
    class_id: int, epc: int, edt: bytes, release: str | None = None
) -> PropertyValue:
    """Like :func:`decode_property`, but a bad EDT gives a value with ``error`` set.

    ``release`` (the APPENDIX release letter the object reports in 0x82,
    :func:`specs.release_of`) decodes with that release's definition; ``None``: the newest.
    """
    found = _decoder(class_id, epc) if release is None else _release_decoder(class_id, epc, release)
    if found is None:
        return new_tuple(PropertyValue, (epc, edt, f"0x{epc:02X}", edt, None, False, None))
    name, decode, unit = found
    try:
        value = decode(edt)
    except DecodeError as exc:
        return new_tuple(PropertyValue, (epc, edt, name, None, unit, True, exc))
    return new_tuple(PropertyValue, (epc, edt, name, value, unit, True, None))


def decode_frame_properties(
    class_id: int, properties: Iterable[Property], release: str | None = None
) -> tuple[tuple[PropertyValue, ...], tuple[tuple[int, DecodeError], ...]]:
    """Decode every property of a frame; EDTs that break their type are returned apart.

    An empty EDT (PDC 0, as in Get requests and refused properties of an SNA)
    is not decoded and does not count as an error. ``release``: as :func:`typed_property`.
    """
    values: list[PropertyValue] = []
    errors: list[tuple[int, DecodeError]] = []
    for prop in properties:
        if not prop.edt:
            continue
        value = (
            prop
            if isinstance(prop, PropertyValue) and release is None
            else typed_property(class_id, prop.epc, prop.edt, release)
        )
        if value.error is not None:
            errors.append((value.epc, value.error))
        else:
            values.append(value)
    return tuple(values), tuple(errors)


def _resolve(class_id: int, epc: int | str) -> PropertySpec:
    if isinstance(epc, str):
        spec = load_class(class_id)
        if spec is None:
            raise ValueError(f"no specification for class 0x{class_id:04X}")
        return spec.by_name(epc)
    found = lookup(class_id, epc)
    if found is None:
        raise ValueError(f"EPC 0x{epc:02X} is not specified for class 0x{class_id:04X}")
    return found


def encode_property(class_id: int, epc: int | str, value: Any) -> bytes:
    """Encode ``value`` as the EDT of ``epc`` (a code or a property name) in class ``class_id``."""
    if (
        isinstance(value, bytes | bytearray)
        and isinstance(epc, int)
        and lookup(class_id, epc) is None
    ):
        return bytes(value)
    spec = _resolve(class_id, epc)
    try:
        return spec.data_type.encode(value)
    except EncodeError as exc:
        raise EncodeError(f"{spec.name} (0x{spec.epc:02X}): {exc}") from None


def property_epc(class_id: int, name: int | str) -> int:
    """The EPC of ``name`` in class ``class_id``: a snake_case name, an MRA shortName
    (``"targetTemperature"``) or an EPC; ``KeyError`` if the class has no such property."""
    if isinstance(name, int):
        return name
    spec = load_class(class_id)
    if spec is None:
        spec = load_class(SUPER_CLASS if class_id >> 8 != _PROFILE_GROUP else -1)
    if spec is None:
        raise KeyError(f"class 0x{class_id:04X} has no property named {name!r}")
    return spec.by_name(name).epc


def validate_set(class_id: int, epc: int, edt: bytes) -> str | None:
    """Why a Set of ``edt`` to ``epc`` must be refused, or ``None`` if it is acceptable.

    Checks the access rules (the property is settable) and the EDT against its
    type and range, as a device must before accepting a SetC/SetI.
    """
    spec = lookup(class_id, epc)
    if spec is None:
        return f"EPC 0x{epc:02X} is not a property of class 0x{class_id:04X}"
    if not spec.settable:
        return f"{spec.name} (0x{epc:02X}) is not settable"
    try:
        value = spec.data_type.decode(edt)
    except DecodeError as exc:
        return f"{spec.name}: {exc.reason}"
    try:
        if not spec.data_type.in_range(value):
            return f"{spec.name}: {value!r} is out of range"
    except EncodeError as exc:
        return f"{spec.name}: {exc}"
    return None
