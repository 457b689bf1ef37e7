"""The declarative layout machinery under the typed J11 messages (:mod:`.messages`).

A message class lists one ``struct`` code per field (or ``#`` for a 2-byte
length and that many bytes, ``*`` for the rest of the data block); the base
classes decode and encode from it, check field ranges on construction, and
keep secrets out of reprs. Sizes and flags cite the same sources as the
messages: Tosainu bp35c0-j11 tests, broute-j11 0.1.0 (ROHM 63TR008E) and
ROHM application note 63AN028E.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import Field, fields
from enum import IntEnum
from ipaddress import IPv6Address
from typing import Any, ClassVar, Final, Self, TypeVar

from ..._buffer import Cursor
from .frame import (
    UniqueCode,
)

_E = TypeVar("_E", bound=IntEnum)

ROUTE_B_ID_SIZE: Final = 32
PASSWORD_SIZE: Final = 12
PAIRING_ID_SIZE: Final = 8
#: Layout codes beyond struct's: a 2-byte length then that many bytes; the rest of the block.
_SIZED, _REST = "#", "*"
#: Active scan ID flag: 0x00 no pairing ID, 0x01 pairing ID follows.
NO_ID, WITH_ID = 0x00, 0x01
#: Scan result status: 0x00 beacons follow, 0x01 nothing heard on the channel.
BEACONS, NO_BEACON = 0x00, 0x01
#: broute-j11: data-reception address type 0x01 = multicast, encryption 0x02 = encrypted.
MULTICAST, ENCRYPTED = 0x01, 0x02


def enum_or_int(kind: type[_E], value: int) -> _E | int:
    """``value`` as ``kind`` when defined, else the raw int (it survives a round trip)."""
    try:
        return kind(value)
    except ValueError:
        return value


def _typed(kind: type[IntEnum] | type[IPv6Address] | None, value: Any) -> Any:
    if kind is None:
        return value
    return enum_or_int(kind, value) if issubclass(kind, IntEnum) else kind(value)


def _raw(value: object) -> object:
    return value.packed if isinstance(value, IPv6Address) else value


def check_field(owner: object, name: str, code: str) -> None:
    """Raise ValueError unless field ``name`` fits layout ``code`` (struct code, ``#`` or ``*``)."""
    value = _raw(getattr(owner, name))
    if code in (_SIZED, _REST):
        fits = isinstance(value, bytes) and (code == _REST or len(value) <= 0xFFFF)
    else:
        try:
            fits = struct.unpack(">" + code, struct.pack(">" + code, value)) == (value,)
        except struct.error:
            fits = False
    if not fits:
        raise ValueError(f"{type(owner).__name__}.{name} does not fit layout code {code!r}")


def pull_ascii(cur: Cursor, size: int, what: str) -> str:
    start = cur.offset
    raw = cur.pull_bytes(size, what)
    if not raw.isascii():
        raise cur.error(f"{what} is not ASCII", start)  # never echo the value
    return raw.decode("ascii")


def _pull_sized(cur: Cursor) -> bytes:
    """A 2-byte length that must equal the rest of the data block, then that many bytes."""
    start = cur.offset
    size = cur.pull_uint16("payload length")
    if size != cur.remaining:
        raise cur.error(f"payload length {size}, but {cur.remaining} bytes follow", start)
    return cur.pull_bytes(size, "payload")


class Request:
    __slots__ = ()
    unique_code: ClassVar[UniqueCode] = UniqueCode.REQUEST


class FromModule:
    __slots__ = ()
    unique_code: ClassVar[UniqueCode] = UniqueCode.RESPONSE


class MessageLayout:
    """Base of messages described by a layout: dataclass fields in wire order.

    ``_FORMAT`` holds one big-endian struct code per field; a last field may be
    ``#`` (2-byte length, then that many bytes) or ``*`` (the rest of the block).
    ``_TYPES`` maps a field to the IntEnum (unknown values stay ints) or
    IPv6Address its raw value becomes. Fields are checked on construction.
    """

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]
    _FORMAT: ClassVar[str] = ""
    _TYPES: ClassVar[Mapping[str, type[IntEnum] | type[IPv6Address]]] = {}

    def __init__(self, **values: Any) -> None: ...  # replaced by the dataclass __init__

    def __post_init__(self) -> None:
        for field, code in zip(fields(self), self._FORMAT.split(), strict=True):
            check_field(self, field.name, code)

    @classmethod
    def _split(cls) -> tuple[str, str]:
        codes = cls._FORMAT.split()
        tail = codes.pop() if codes and codes[-1] in (_SIZED, _REST) else ""
        return ">" + "".join(codes), tail

    def to_data(self) -> bytes:
        head, tail = self._split()
        values: list[Any] = [_raw(getattr(self, field.name)) for field in fields(self)]
        data = struct.pack(head, *values[: len(values) - bool(tail)])
        if tail == _SIZED:
            data += len(values[-1]).to_bytes(2, "big")
        return data + values[-1] if tail else data

    @classmethod
    def from_cursor(cls, cur: Cursor) -> Self:
        head, tail = cls._split()
        raw = struct.unpack(head, cur.pull_bytes(struct.calcsize(head), cls.__name__))
        if tail:
            raw += (_pull_sized(cur) if tail == _SIZED else cur.pull_rest(),)
        return cls(
            **{
                field.name: _typed(cls._TYPES.get(field.name), value)
                for field, value in zip(fields(cls), raw, strict=True)
            }
        )


# --- host -> module requests ---------------------------------------------------------------
