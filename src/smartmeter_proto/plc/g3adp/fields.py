"""G3 ADP serial field kinds: how one message field is read from and written to the wire.

Each :class:`FieldKind` pairs a pull (from a bounds-checked :class:`Cursor`) with a
push (to a :class:`Writer`); the message classes of :mod:`smartmeter_proto.plc.g3adp`
list one per dataclass field. Multi-byte integers are big-endian; layouts follow
Microchip-MPLAB-Harmony/smartenergy_g3 ``g3/src/adp_serial/adp_serial.c``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, TypeVar

from ..._buffer import Cursor, Writer
from ...errors import EncodeError
from .codes import AdpStatus

#: Address size bytes in NETWORK_STATUS indication (adp_api_types.h ADP_ADDRESS_16/64BITS).
_ADDR_16 = 2
_ADDR_64 = 8

_E = TypeVar("_E", bound=IntEnum)


def known_enum(enum: type[_E], value: int) -> _E | int:
    try:
        return enum(value)
    except ValueError:
        return value


# --- field kinds: how one dataclass field is read from / written to the wire -----------


@dataclass(frozen=True, slots=True)
class FieldKind:
    pull: Callable[[Cursor, str], Any]
    push: Callable[[Writer, Any], None]


def _pull_bool(cur: Cursor, what: str) -> bool:
    at = cur.offset
    value = cur.pull_uint8(what)
    if value > 1:
        raise cur.error(f"{what} must be 0 or 1, got {value}", at)
    return value == 1


def _push_blob(w: Writer, value: bytes, size: int) -> None:
    if len(value) >= 1 << (8 * size):
        raise EncodeError(f"field of {len(value)} bytes does not fit a {size}-byte length")
    w.push_bytes(len(value).to_bytes(size, "big") + value)


def _pull_address(cur: Cursor, what: str) -> int | bytes:
    at = cur.offset
    size = cur.pull_uint8(f"{what} address size")
    if size == _ADDR_16:
        return cur.pull_uint16(what)
    if size == _ADDR_64:
        return cur.pull_bytes(_ADDR_64, what)
    raise cur.error(f"{what} address size must be 2 or 8, got {size}", at)


def _push_address(w: Writer, value: int | bytes) -> None:
    if isinstance(value, bytes):
        if len(value) != _ADDR_64:
            raise EncodeError(f"extended address must be 8 bytes, got {len(value)}")
        w.push_uint8(_ADDR_64)
        w.push_bytes(value)
    else:
        w.push_uint8(_ADDR_16)
        w.push_uint16(value)


def optional(kind: FieldKind) -> FieldKind:
    """A trailing field some firmware omits: None when absent."""

    def push(w: Writer, value: Any) -> None:
        if value is not None:
            kind.push(w, value)

    return FieldKind(lambda cur, what: None if cur.at_end() else kind.pull(cur, what), push)


def enum8(enum: type[IntEnum]) -> FieldKind:
    return FieldKind(lambda cur, what: known_enum(enum, cur.pull_uint8(what)), U8.push)


U8 = FieldKind(Cursor.pull_uint8, lambda w, v: w.push_uint8(int(v)))
U16 = FieldKind(Cursor.pull_uint16, Writer.push_uint16)
U32 = FieldKind(Cursor.pull_uint32, lambda w, v: w.push_uint32(int(v)))
BOOL = FieldKind(_pull_bool, lambda w, v: w.push_uint8(int(v)))
#: u16 length + bytes (the IPv6 packet of DATA request/indication).
BLOB16 = FieldKind(
    lambda cur, what: cur.pull_bytes(cur.pull_uint16(what), what), lambda w, v: _push_blob(w, v, 2)
)
#: u8 length + bytes (attribute values).
BLOB8 = FieldKind(
    lambda cur, what: cur.pull_bytes(cur.pull_uint8(what), what), lambda w, v: _push_blob(w, v, 1)
)
ADDRESS = FieldKind(_pull_address, _push_address)
ADP_STATUS = enum8(AdpStatus)
