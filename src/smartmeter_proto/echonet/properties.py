"""Typed property values: EDT bytes to Python values and back, driven by ``specs/echonet``.

A property of a class without a specification file (or an EPC the file does
not list) decodes to its raw EDT with ``known=False``; device objects of an
unknown class still get the super class's properties (APPENDIX chapter 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from ..errors import DecodeError, EncodeError
from .frame import Property
from .specs import SUPER_CLASS, PropertySpec, load_class

__all__ = [
    "PropertyValue",
    "decode_frame_properties",
    "decode_property",
    "encode_property",
    "lookup",
    "validate_set",
]

#: Class group 0x0E holds the profile objects (node profile 0x0EF0), which do
#: not inherit the device object super class (Part II §6.11).
_PROFILE_GROUP: Final = 0x0E


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """A decoded property: ``value`` is typed per the class file; ``edt`` keeps the wire bytes."""

    epc: int
    name: str
    value: Any
    unit: str | None
    edt: bytes
    known: bool = True

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict: ``epc`` (int), ``name``, ``edt`` (hex), ``value``, ``unit``."""
        return {
            "epc": self.epc,
            "name": self.name,
            "edt": self.edt.hex(),
            "value": _jsonable(self.value),
            "unit": self.unit,
        }


def _jsonable(value: Any) -> Any:
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


_LOOKUP_CACHE: dict[tuple[int, int], PropertySpec | None] = {}


def lookup(class_id: int, epc: int) -> PropertySpec | None:
    """The specification of EPC ``epc`` in class ``class_id``, or ``None`` if unknown."""
    key = (class_id, epc)
    try:
        return _LOOKUP_CACHE[key]
    except KeyError:
        pass
    spec = load_class(class_id)
    if spec is None and class_id >> 8 != _PROFILE_GROUP:
        spec = load_class(SUPER_CLASS)
    found = spec.properties.get(epc) if spec is not None else None
    if len(_LOOKUP_CACHE) < 65536:
        _LOOKUP_CACHE[key] = found
    return found


def decode_property(class_id: int, epc: int, edt: bytes) -> PropertyValue:
    """Decode ``edt`` of ``epc`` in class ``class_id``; a bad EDT raises :class:`DecodeError`."""
    spec = lookup(class_id, epc)
    if spec is None:
        return PropertyValue(epc, f"0x{epc:02X}", edt, None, edt, known=False)
    return PropertyValue(epc, spec.name, spec.data_type.decode(edt), spec.unit, edt)


def decode_frame_properties(
    class_id: int, properties: Iterable[Property]
) -> tuple[tuple[PropertyValue, ...], tuple[tuple[int, DecodeError], ...]]:
    """Decode every property of a frame; EDTs that break their type are returned apart.

    An empty EDT (PDC 0, as in Get requests and refused properties of an SNA)
    is not decoded and does not count as an error.
    """
    values: list[PropertyValue] = []
    errors: list[tuple[int, DecodeError]] = []
    for prop in properties:
        if not prop.edt:
            continue
        try:
            values.append(decode_property(class_id, prop.epc, prop.edt))
        except DecodeError as exc:
            errors.append((prop.epc, exc))
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
    return spec.data_type.encode(value)


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
