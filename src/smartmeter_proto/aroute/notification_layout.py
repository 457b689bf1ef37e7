"""Data-Notifications read through a struct compiled per layout (Green Book 9.5, Blue Book 4.1.5).

A meter model pushes the same Data-Notification shape again and again: the APDU tag, the
Long-Invoke-Id-And-Priority, the date-time octet string, then an A-XDR body whose type
tags, string lengths and element counts (its skeleton) never change; only the octets
between them do. :class:`NotificationLayouts` learns a skeleton from a notification the
general decoder (:func:`~smartmeter_proto.aroute.apdu.decode_apdu`) accepted and compiles
it into one function: a precompiled :class:`struct.Struct` unpacks the skeleton octets (as
integers of up to 8 octets) and the values at once, the skeleton integers are compared
with the learnt ones, and the values are returned. A later APDU of the same length whose
skeleton octets all equal the learnt ones is read by that one call; anything else is left
to the general decoder.

Compiled: array and structure with a short-form count; the fixed-size integer types
(integer, long, double-long, long64, their unsigned forms, enum, bcd); octet-string and
visible-string with a short-form length. Anything else (null, boolean, floats, dates,
bit-strings, compact arrays, long-form lengths) is never compiled: such notifications
always take the general decoder.

Why a match is exact: for these types the general decoder's path through the bytes
depends only on the skeleton octets, and it accepts any value octets (an integer of any
bits, any octets, any latin-1 text), so the same skeleton at the same length gives the
same values. Learning also reads the learnt APDU both ways and keeps the layout only if
they agree.
"""

from __future__ import annotations

import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from .apdu import DataNotification
from .axdr import Data, DataType

__all__ = ["MAX_LAYOUTS", "NotificationLayout", "NotificationLayouts", "flatten"]

_from_bytes: Final = int.from_bytes

#: Default bound of the layouts kept (the oldest learnt is forgotten first).
MAX_LAYOUTS: Final = 64
#: Layouts of one APDU length tried before giving up (the rest wait for an eviction).
_MAX_PER_LENGTH: Final = 8
#: Values in one compiled layout at most (larger notifications take the general decoder).
_MAX_VALUES: Final = 1024
#: Blue Book 4.1.5: a length or count octet below 0x80 is the short form.
_SHORT_FORM_LIMIT: Final = 0x80
#: Long-Invoke-Id-And-Priority is an Unsigned32 (Green Book 9.5).
_INVOKE_FORMAT: Final = "I"

#: struct codes of the compiled fixed-size types (Blue Book 4.1.5 Table 2, big-endian).
_FIXED: Final[dict[int, str]] = {
    DataType.DOUBLE_LONG: "i",
    DataType.DOUBLE_LONG_UNSIGNED: "I",
    DataType.BCD: "B",
    DataType.INTEGER: "b",
    DataType.LONG: "h",
    DataType.UNSIGNED: "B",
    DataType.LONG_UNSIGNED: "H",
    DataType.LONG64: "q",
    DataType.LONG64_UNSIGNED: "Q",
    DataType.ENUM: "B",
}
_CONTAINERS: Final = frozenset({DataType.ARRAY, DataType.STRUCTURE})
_TYPE_OF: Final[dict[int, DataType]] = {int(t): t for t in DataType}


@dataclass(frozen=True, slots=True, eq=False)
class NotificationLayout:
    """One compiled Data-Notification skeleton.

    Values read through it are a tuple: the raw Long-Invoke-Id-And-Priority, the
    date-time octets (``b""`` when absent), then every scalar of the body in order
    (depth first), as the general decoder gives them. ``fields`` lists (type, string
    length or 0) of the body's members when the body is a structure of scalars only.
    ``note`` is what the owner's ``annotate`` made of the layout when it was learnt.
    """

    length: int
    leaf_types: tuple[DataType, ...]
    fields: tuple[tuple[DataType, int], ...] | None
    #: ``take(apdu)`` of an APDU of ``length`` octets: its values (visible-strings decoded)
    #: if its skeleton octets are the learnt ones, else None.
    take: Callable[[bytes], tuple[Any, ...] | None]
    texts: tuple[int, ...]  # value positions of visible-strings (latin-1 decoded)
    note: object = None

    def read(self, apdu: bytes) -> tuple[Any, ...] | None:
        """The values of ``apdu`` if it has this skeleton, else None."""
        if len(apdu) != self.length:
            return None
        return self.take(apdu)


#: struct codes of skeleton chunks by size: a run of skeleton octets is read as integers
#: of 8, 4, 2 and 1 octets, largest first.
_CHUNKS: Final = ((8, "Q"), (4, "I"), (2, "H"), (1, "B"))


def _taker(
    buf: bytes, pieces: list[tuple[bool, int, str]], texts: tuple[int, ...]
) -> Callable[[bytes], tuple[Any, ...] | None]:
    """One generated function for the layout of ``buf`` (its ``pieces``, skeleton runs
    merged): unpack skeleton chunks and values in one ``struct`` call into locals, compare
    each chunk with ``buf``'s, return the values with the visible-strings (value positions
    ``texts``) decoded (latin-1, Blue Book 4.1.5: the general decoder's str). Only integers
    reach the generated source."""
    codes: list[str] = [">"]
    names: list[str] = []  # the locals the struct unpacks into
    checks: list[str] = []  # each skeleton chunk against the learnt one
    outs: list[str] = []  # the values returned
    at = 0
    for is_skeleton, size, code in pieces:
        if is_skeleton:
            left = size
            while left:
                width, chunk = next((w, c) for w, c in _CHUNKS if w <= left)
                name = f"s{len(names)}"
                codes.append(chunk)
                names.append(name)
                checks.append(f"{name} != {_from_bytes(buf[at : at + width], 'big')}")
                at += width
                left -= width
            continue
        name = f"v{len(names)}"
        codes.append(code)
        names.append(name)
        outs.append(f"{name}.decode('latin-1')" if len(outs) in texts else name)
        at += size
    unpack = struct.Struct("".join(codes))
    if unpack.size != len(buf):
        raise ValueError(f"layout of {len(buf)} octets read as {unpack.size}")
    source = (
        f"def take(apdu):\n    {', '.join(names)}, = UNPACK(apdu)\n"
        f"    if {' or '.join(checks) or 'False'}:\n        return None\n"
        f"    return ({', '.join(outs)},)\n"
    )
    namespace: dict[str, Any] = {"UNPACK": unpack.unpack}
    exec(source, namespace)  # noqa: S102 - integers and fixed names only
    take: Callable[[bytes], tuple[Any, ...] | None] = namespace["take"]
    return take


class _Compiler:
    """Walks one encoding, collecting skeleton octets and value fields in order."""

    def __init__(self, apdu: bytes) -> None:
        self.buf = apdu
        self.pieces: list[tuple[bool, int, str]] = []  # (is skeleton, size, value code)
        self.leaf_types: list[DataType] = []
        self.texts: list[int] = []

    def skeleton(self, size: int) -> None:
        self.pieces.append((True, size, ""))

    def value(self, size: int, code: str) -> None:
        self.pieces.append((False, size, code))

    def body(self, pos: int) -> int | None:
        """Compile the Data at ``pos``; the position after it, or None if not compilable."""
        buf = self.buf
        if pos >= len(buf) or len(self.leaf_types) > _MAX_VALUES:
            return None
        dtype = _TYPE_OF.get(buf[pos])
        if dtype is None:
            return None
        if dtype in _CONTAINERS or dtype in (DataType.OCTET_STRING, DataType.VISIBLE_STRING):
            if pos + 1 >= len(buf) or buf[pos + 1] >= _SHORT_FORM_LIMIT:
                return None
            count = buf[pos + 1]
            self.skeleton(2)
            if dtype in _CONTAINERS:
                next_pos: int | None = pos + 2
                for _ in range(count):
                    assert next_pos is not None
                    next_pos = self.body(next_pos)
                    if next_pos is None:
                        return None
                return next_pos
            if dtype is DataType.VISIBLE_STRING:
                self.texts.append(2 + len(self.leaf_types))
            self.leaf_types.append(dtype)
            self.value(count, f"{count}s")
            return pos + 2 + count
        code = _FIXED.get(dtype)
        if code is None:
            return None
        self.skeleton(1)
        self.leaf_types.append(dtype)
        self.value(struct.calcsize(">" + code), code)
        return pos + 1 + struct.calcsize(">" + code)

    def layout(self) -> NotificationLayout | None:
        buf = self.buf
        if len(buf) < 6 or buf[5] >= _SHORT_FORM_LIMIT:  # tag, invoke (4), date-time length
            return None
        dt_length = buf[5]
        self.skeleton(1)  # the APDU tag
        self.value(4, _INVOKE_FORMAT)
        self.skeleton(1)
        self.value(dt_length, f"{dt_length}s")
        end = self.body(6 + dt_length)
        if end != len(buf):
            return None
        return NotificationLayout(
            length=len(buf),
            leaf_types=tuple(self.leaf_types),
            fields=_fields(buf, dt_length),
            take=_taker(buf, _merged(self.pieces), tuple(self.texts)),
            texts=tuple(self.texts),
        )


def _merged(pieces: list[tuple[bool, int, str]]) -> list[tuple[bool, int, str]]:
    """The pieces with adjacent skeleton octets joined into one run."""
    out: list[tuple[bool, int, str]] = []
    for piece in pieces:
        if piece[0] and out and out[-1][0]:
            out[-1] = (True, out[-1][1] + piece[1], "")
        else:
            out.append(piece)
    return out


def _fields(buf: bytes, dt_length: int) -> tuple[tuple[DataType, int], ...] | None:
    """(type, string length or 0) of a body structure's members, if all are scalars."""
    pos = 6 + dt_length
    if buf[pos] != DataType.STRUCTURE:
        return None
    out: list[tuple[DataType, int]] = []
    pos += 2
    for _ in range(buf[pos - 1]):
        dtype = _TYPE_OF[buf[pos]]
        if dtype in _CONTAINERS:
            return None
        if dtype in (DataType.OCTET_STRING, DataType.VISIBLE_STRING):
            out.append((dtype, buf[pos + 1]))
            pos += 2 + buf[pos + 1]
        else:
            out.append((dtype, 0))
            pos += 1 + struct.calcsize(">" + _FIXED[dtype])
    return tuple(out)


def flatten(data: Data) -> list[Data]:
    """The scalars of ``data``, depth first: what a layout's values list after the header."""
    if data.type in _CONTAINERS and isinstance(data.value, tuple):
        return [leaf for member in data.value for leaf in flatten(member)]
    return [data]


class NotificationLayouts:
    """The layouts learnt so far, by APDU length; at most ``max_layouts`` (oldest first out).

    ``annotate(layout)`` is called once per learnt layout; what it returns is the layout's
    ``note`` (a caller's per-layout decision, e.g. which kind of push the body is).
    """

    def __init__(
        self,
        *,
        max_layouts: int = MAX_LAYOUTS,
        annotate: Callable[[NotificationLayout], object] | None = None,
    ) -> None:
        if max_layouts < 1:
            raise ValueError("max_layouts must be >= 1")
        self.max_layouts = max_layouts
        self._annotate = annotate
        self._by_length: dict[int, list[NotificationLayout]] = {}
        self._order: deque[NotificationLayout] = deque()
        # learn() changes the tables under this lock (callers may share one cache between
        # threads); match() only reads them, and a layout it misses leaves the APDU to the
        # general decoder, never to a wrong reading.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._order)

    def match(self, apdu: bytes) -> tuple[NotificationLayout, tuple[Any, ...]] | None:
        """(layout, values) of ``apdu`` through a learnt layout, or None (not learnt)."""
        candidates = self._by_length.get(len(apdu))
        if candidates is None:
            return None
        for layout in candidates:
            values = layout.take(apdu)
            if values is not None:
                return layout, values
        return None

    def learn(self, apdu: bytes, notification: DataNotification) -> NotificationLayout | None:
        """Compile the skeleton of ``apdu``, which the general decoder read as
        ``notification``; None if it is not compilable (or already learnt)."""
        if self.match(apdu) is not None:
            return None
        layout = _Compiler(bytes(apdu)).layout()
        if layout is None:
            return None
        values = layout.read(apdu)
        leaves = flatten(notification.body)
        if (
            values is None
            or values[0] != notification.long_invoke.to_int()
            or (values[1] or None) != notification.date_time
            or [Data(t, v) for t, v in zip(layout.leaf_types, values[2:], strict=True)] != leaves
        ):
            return None  # not what the general decoder read: never used
        if self._annotate is not None:
            layout = replace(layout, note=self._annotate(layout))
        with self._lock:
            if len(self._by_length.get(layout.length, ())) >= _MAX_PER_LENGTH:
                return None
            if len(self._order) >= self.max_layouts:
                oldest = self._order.popleft()
                kept = [x for x in self._by_length[oldest.length] if x is not oldest]
                if kept:
                    self._by_length[oldest.length] = kept
                else:
                    del self._by_length[oldest.length]
            # new lists, never one match() may be iterating
            self._by_length[layout.length] = [*self._by_length.get(layout.length, ()), layout]
            self._order.append(layout)
        return layout
