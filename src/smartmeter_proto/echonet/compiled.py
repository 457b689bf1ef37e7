"""Straight-line decoders generated for one frame shape (objects, service, EPCs and PDCs).

A HEMS receives the same few shapes again and again (Part II §3.2: EHD, TID,
SEOJ, DEOJ, ESV, OPC, then EPC, PDC, EDT per property). For a shape met twice,
:func:`shape_decoder` writes one Python function that reads the frame through
two precompiled ``struct`` formats (the EDTs as bytes; EHD, TID, the skeleton
and the numbers inside the EDTs as numbers), checks EHD and every EPC/PDC pair,
and types each EDT by its class's rule (``specs/echonet``), all with the rule's
numbers as constants: no loop, and no per-property call for integers, one-byte
enums, dates and times, and structs of those (0x0288 0xEA, 0xE8).

The function returns the frame's typed columns; whenever anything is not
exactly as compiled (another length or skeleton, another EHD, a special or
out-of-range code that the rule rejects, an EDT its decoder refuses) it hands
the frame to ``fallback`` (or returns ``None``), which gives the error. Only
integers and names defined here reach the generated source; every object is a
name in the function's own namespace.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from ..errors import DecodeError
from .datatypes import DataType

__all__ = ["EHD_FORMAT_1", "ShapeProperty", "shape_decoder"]

#: EHD1 0x10 (ECHONET Lite) and EHD2 0x81 (format 1) as one big-endian number (Part II §3.2.1).
EHD_FORMAT_1: Final = 0x1081
#: Frame bytes 0..11: EHD (2), TID (2), SEOJ (3), DEOJ (3), ESV (1), OPC (1) (Part II §3.2).
_HEAD_FORMAT: Final = ">HH8x"
_HEAD_SKIP: Final = ">12x"
_HEADER_SIZE: Final = 12
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
_INT_KINDS: Final = frozenset({"signed", "unsigned"})
#: Calendar fields are all 0xFF when the date or time is not set (APPENDIX §1.3).
_UNSET: Final = {"H": 0xFFFF, "B": 0xFF}

#: One property of a shape: EPC, PDC and its data type (``None``: the class does not
#: specify the EPC, its value is the EDT).
ShapeProperty = tuple[int, int, DataType | None]

_MISSING: Final = object()


def _int_code(data_type: DataType, pdc: int) -> str | None:
    """The ``struct`` code of an integer EDT read straight as its raw value, if one fits."""
    if data_type.kind not in _INT_KINDS or data_type.size != pdc or data_type.int_rule is None:
        return None
    return _INT_CODES.get((pdc, data_type.kind == "signed"))


def _enum_code(data_type: DataType, pdc: int) -> bool:
    """Whether the EDT is a one-byte enum whose listed codes map straight to labels."""
    return data_type.kind == "enum" and data_type.size == pdc == 1 and data_type.labels is not None


def _literal(item: object) -> str | None:
    """The source of an ``int`` or a tuple of ``int`` (a constant, read faster than a
    name); ``None`` for anything else, which goes in the namespace."""
    if type(item) is int:
        return str(item)
    if type(item) is tuple and all(type(part) is int for part in item):
        return "(" + "".join(f"{part}, " for part in item) + ")"
    return None


class _Writer:
    """The parts of one generated decoder: the numbers format, its names, the lines."""

    def __init__(self, namespace: dict[str, Any], other: str) -> None:
        self.namespace = namespace
        #: The expression returned when the frame is not as compiled.
        self.other = other
        self.int_format: list[str] = []
        self.names: list[str] = []
        self.lines: list[str] = []
        #: Whether a line calls a decoder (which may raise :class:`DecodeError`).
        self.raises = False
        self._count = 0

    def fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def const(self, prefix: str, value: Any) -> str:
        """A name in the namespace bound to ``value``."""
        name = self.fresh(prefix)
        self.namespace[name] = value
        return name

    def number(self, code: str) -> str:
        """Read the next field of the numbers format (``code``) into a fresh name."""
        name = self.fresh("r")
        self.int_format.append(code)
        self.names.append(name)
        return name

    def value(self, data_type: DataType, offset: int, edt: str) -> str:
        """Emit what reads ``data_type`` (fixed size, at frame ``offset``; ``edt`` the
        expression of its bytes) and return the name of its value."""
        size = data_type.size
        assert size is not None
        code = _int_code(data_type, size)
        if code is not None:
            return self._integer(data_type, self.number(code))
        if _enum_code(data_type, size):
            raw = self.number("B")
            labels = self.const("L", data_type.labels)
            value = self.fresh("v")
            self.lines.append(f"{value} = {labels}.get({raw}, MISSING)")
            self.lines.append(f"if {value} is MISSING:")
            self.lines.extend(f"    {line}" for line in self.decoded(data_type, value, edt))
            return value
        if data_type.calendar is not None:
            return self._calendar(data_type.calendar)
        if data_type.fields is not None:
            return self._struct(data_type.fields, offset, edt)
        self.int_format.append(f"{size}x")
        value = self.fresh("v")
        self.lines.extend(self.decoded(data_type, value, edt))
        return value

    def decoded(self, data_type: DataType, value: str, edt: str) -> list[str]:
        """The lines that set ``value`` to ``data_type``'s value of ``edt`` through its
        decoder: its ``attempt`` where it has one (an error it returns hands over), else
        ``decode`` (an error it raises hands over)."""
        if data_type.attempt is not None:
            attempt = self.const("D", data_type.attempt)
            return [
                f"{value} = {attempt}({edt})",
                f"if type({value}) is DecodeError: return {self.other}",
            ]
        self.raises = True
        return [f"{value} = {self.const('D', data_type.decode)}({edt})"]

    def _integer(self, data_type: DataType, raw: str) -> str:
        """``DataType.int_rule`` inlined on the raw number; out of range hands over."""
        rule = data_type.int_rule
        assert rule is not None
        specials, low, high, allowed, divisor, factor = rule
        value = self.fresh("v")
        if divisor != 1:
            scaled = f"{raw} / {int(divisor)}"
        elif factor != 1:
            scaled = f"{raw} * {int(factor)}"
        else:
            scaled = raw
        broken = []
        if low is not None:
            broken.append(f"{raw} < {int(low)}")
        if high is not None:
            broken.append(f"{raw} > {int(high)}")
        if allowed is not None:
            broken.append(f"{raw} not in {self.const('A', allowed)}")
        table = self.const("S", specials) if specials else None
        if not broken and scaled == raw:
            plain = f"{value} = {raw}"
            self.lines.append(f"{value} = {table}.get({raw}, {raw})" if table else plain)
            return value
        if table:
            self.lines.append(f"if {raw} in {table}: {value} = {table}[{raw}]")
        if broken:
            keyword = "elif" if table else "if"
            self.lines.append(f"{keyword} {' or '.join(broken)}: return {self.other}")
        self.lines.append(f"{'else: ' if table or broken else ''}{value} = {scaled}")
        return value

    def _calendar(self, calendar: tuple[Callable[..., Any], str]) -> str:
        """A date or time: ``None`` if all 0xFF, else its constructor of the fields."""
        make, codes = calendar
        raws = [self.number(code) for code in codes]
        value, constructor = self.fresh("v"), self.const("M", make)
        pairs = zip(raws, codes, strict=True)
        unset = " and ".join(f"{raw} == {_UNSET[code]}" for raw, code in pairs)
        self.lines.extend(
            [
                f"if {unset}: {value} = None",
                "else:",
                "    try:",
                f"        {value} = {constructor}({', '.join(raws)})",
                "    except ValueError:",
                f"        return {self.other}",
            ]
        )
        return value

    def _struct(self, fields: tuple[tuple[str, DataType], ...], offset: int, edt: str) -> str:
        """A struct of fixed-size fields: the dict of the fields' values, in EDT order.

        A field's bytes are sliced from ``edt`` (the struct's EDT, which ``struct`` made
        ``bytes``), never from the frame: that may be a read-only ``memoryview``.
        """
        items = []
        start = offset
        for name, field_type in fields:
            size = field_type.size
            assert size is not None
            at = offset - start
            read = self.value(field_type, offset, f"{edt}[{at}:{at + size}]")
            items.append(f"{self.const('K', name)}: {read}")
            offset += size
        value = self.fresh("v")
        self.lines.append(f"{value} = {{{', '.join(items)}}}")
        return value


def shape_decoder(
    size: int,
    props: tuple[ShapeProperty, ...],
    result: type[tuple[Any, ...]],
    head: tuple[Any, ...],
    tail: tuple[Any, ...],
    fallback: Callable[[bytes], Any] | None = None,
) -> Callable[[bytes], Any]:
    """Generate the decoder of one shape: ``decode(frame) -> result(tid, *head, edts, values,
    *tail)``, or ``fallback(frame)`` (``None`` without one) if ``frame`` is not this shape
    or an EDT breaks its type.

    ``size`` is the frame length; ``props`` the shape's properties in frame order
    (the first pair is assumed checked by the caller's lookup, on frame bytes
    4..13); ``head`` the fields between TID and the EDTs (SEOJ, DEOJ, ESV,
    EPCs), ``tail`` those after the values.
    """
    namespace: dict[str, Any] = {
        "StructError": struct.error,
        "DecodeError": DecodeError,
        "NEW": tuple.__new__,
        "RESULT": result,
        "MISSING": _MISSING,
        "FALLBACK": fallback,
    }
    other = "FALLBACK(data)" if fallback is not None else "None"
    writer = _Writer(namespace, other)
    edt_format = [_HEAD_SKIP]
    writer.int_format.append(_HEAD_FORMAT)
    writer.names.extend(("ehd", "tid"))
    checks = [f"ehd != {EHD_FORMAT_1}"]
    fields = ["tid"]
    for item in head:
        fields.append(_literal(item) or writer.const("H", item))
    values = []
    offset = _HEADER_SIZE
    for index, (epc, pdc, data_type) in enumerate(props):
        edt_format.append(f"2x{pdc}s")
        if index:
            checks.append(f"{writer.number('H')} != {epc << 8 | pdc}")
        else:
            writer.int_format.append("2x")
        offset += 2
        if not pdc:
            values.append("None")
        elif data_type is None or data_type.size != pdc:
            # Not specified (the value is the EDT), or a size the type refuses: the
            # compiler only sees shapes whose EDTs all decoded, so the latter is a type
            # without a fixed size.
            writer.int_format.append(f"{pdc}x")
            if data_type is None:
                values.append(f"edts[{index}]")
            else:
                value = writer.fresh("v")
                writer.lines.extend(writer.decoded(data_type, value, f"edts[{index}]"))
                values.append(value)
        else:
            values.append(writer.value(data_type, offset, f"edts[{index}]"))
        offset += pdc
    fields.extend(("edts", "(" + "".join(f"{value}, " for value in values) + ")"))
    for item in tail:
        fields.append(_literal(item) or writer.const("T", item))
    namespace["EDTS"] = struct.Struct("".join(edt_format)).unpack
    ints = struct.Struct("".join(writer.int_format))
    edts_size = struct.calcsize("".join(edt_format))
    if ints.size != size or edts_size != size:
        raise ValueError(f"shape of {size} bytes laid out as {ints.size}/{edts_size}")
    namespace["INTS"] = ints.unpack
    body = [
        "def decode(data):",
        "    try:",
        "        edts = EDTS(data)",
        f"        {', '.join(writer.names)}, = INTS(data)",
        "    except (StructError, BufferError):  # short, long, or a view not C-contiguous",
        f"        return {other}",
        f"    if {' or '.join(checks)}:",
        f"        return {other}",
    ]
    if writer.raises:
        body.append("    try:")
        body.extend(f"        {line}" for line in writer.lines)
        body.extend(["    except DecodeError:", f"        return {other}"])
    else:
        body.extend(f"    {line}" for line in writer.lines)
    body.append(f"    return NEW(RESULT, ({', '.join(fields)}))")
    exec("\n".join(body), namespace)  # noqa: S102 - integers and fixed names only
    decode: Callable[[bytes], Any] = namespace["decode"]
    return decode
