"""ECHONET Lite frame codec (ECHONET Lite Specification Part II, chapter 3).

Format 1 (EHD 0x1081) is decoded field by field; format 2 (EHD 0x1082,
"arbitrary message format") keeps its EDATA opaque. ``encode(decode(b)) == b``
for every frame this module accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar

from ..errors import DecodeError, EncodeError

__all__ = [
    "ECHONET_PORT",
    "EHD1_ECHONET_LITE",
    "EHD2_ARBITRARY",
    "EHD2_SPECIFIED",
    "EOJ",
    "ESV",
    "LAYER",
    "ArbitraryFrame",
    "Frame",
    "Property",
    "decode",
    "encode",
]

LAYER: Final = "echonet-lite"
#: The UDP port of ECHONET Lite, source and destination alike (ECHONET Lite Specification
#: Part II §3.1.2), whatever carries the UDP: a LAN, Wi-SUN (6LoWPAN) or G3-PLC.
ECHONET_PORT: Final = 3610

_T = TypeVar("_T")
if TYPE_CHECKING:

    def new_tuple(cls: type[_T], values: tuple[Any, ...], /) -> _T: ...

else:
    new_tuple = tuple.__new__

#: EHD1 0x10 = ECHONET Lite (Part II §3.2.1.1); 0x80 and below are legacy ECHONET.
EHD1_ECHONET_LITE: Final = 0x10
#: EHD2 0x81 = specified message format (format 1), 0x82 = arbitrary format (format 2), §3.2.1.2.
EHD2_SPECIFIED: Final = 0x81
EHD2_ARBITRARY: Final = 0x82
#: EHD(2) + TID(2) + SEOJ(3) + DEOJ(3) + ESV(1) + OPC(1), §3.2.
_HEADER_SIZE: Final = 12
_MAX_OPC: Final = 0xFF
_MAX_PDC: Final = 0xFF


class ESV(IntEnum):
    """ECHONET Lite service codes (Part II §3.2.5, Tables 3-9 to 3-11)."""

    SETI_SNA = 0x50
    SETC_SNA = 0x51
    GET_SNA = 0x52
    INF_SNA = 0x53
    SETGET_SNA = 0x5E
    SETI = 0x60
    SETC = 0x61
    GET = 0x62
    INF_REQ = 0x63
    SETGET = 0x6E
    SET_RES = 0x71
    GET_RES = 0x72
    INF = 0x73
    INFC = 0x74
    INFC_RES = 0x7A
    SETGET_RES = 0x7E

    @property
    def is_request(self) -> bool:
        """0x6X: a request a node must answer or refuse."""
        return 0x60 <= self <= 0x6F

    @property
    def is_sna(self) -> bool:
        """0x5X: "service not available", the answer to a request that could not be met."""
        return 0x50 <= self <= 0x5F


_ESV_BY_CODE: Final[dict[int, ESV]] = {e.value: e for e in ESV}
#: The SetGet family carries two property lists (OPCSet, then OPCGet), §3.2.7.
_SETGET_CODES: Final = frozenset({ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA})


@dataclass(frozen=True, slots=True)
class EOJ:
    """ECHONET object: class group code, class code, instance code (Part II §3.2.4)."""

    class_group: int
    class_code: int
    instance: int

    def __post_init__(self) -> None:
        for name in ("class_group", "class_code", "instance"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ValueError(f"EOJ {name} must be 0..255, got {value!r}")

    @classmethod
    def from_int(cls, value: int) -> EOJ:
        """``EOJ.from_int(0x028801)``."""
        if not 0 <= value <= 0xFFFFFF:
            raise ValueError(f"EOJ must be 0..0xFFFFFF, got {value:#x}")
        return cls((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)

    @classmethod
    def parse(cls, text: str) -> EOJ:
        """Parse ``"028801"``, ``"0x028801"`` or ``"02-88-01"``."""
        cleaned = text.lower().removeprefix("0x").replace("-", "").replace(":", "")
        if len(cleaned) != 6:
            raise ValueError(f"EOJ needs 6 hex digits, got {text!r}")
        return cls.from_int(int(cleaned, 16))

    @property
    def class_id(self) -> int:
        """Class group and class code as one number, e.g. 0x0288."""
        return (self.class_group << 8) | self.class_code

    def to_bytes(self) -> bytes:
        return bytes((self.class_group, self.class_code, self.instance))

    def __int__(self) -> int:
        return (self.class_group << 16) | (self.class_code << 8) | self.instance

    def __str__(self) -> str:
        return f"{int(self):06X}"


# Property and Frame are immutable NamedTuple records rather than frozen
# dataclasses: decoding builds one per property per frame, and a frozen
# dataclass costs about 1 µs to build against 0.15 µs for a tuple (measured in
# benchmarks/bench_echonet.py). They validate when built by callers; the
# decoder builds them through ``tuple.__new__`` after checking the bytes.
class _PropertyRecord(NamedTuple):
    epc: int
    edt: bytes


class Property(_PropertyRecord):
    """One processing target property: EPC and its EDT (PDC is ``len(edt)``)."""

    __slots__ = ()

    def __new__(cls, epc: int, edt: bytes = b"") -> Property:
        if not isinstance(epc, int) or not 0 <= epc <= 0xFF:
            raise ValueError(f"EPC must be 0..255, got {epc!r}")
        if len(edt) > _MAX_PDC:
            raise ValueError(f"EDT is {len(edt)} bytes; PDC allows at most {_MAX_PDC}")
        return new_tuple(cls, (epc, bytes(edt)))

    @property
    def pdc(self) -> int:
        return len(self.edt)


class _FrameRecord(NamedTuple):
    tid: int
    seoj: EOJ
    deoj: EOJ
    esv: ESV | int
    properties: tuple[Property, ...]
    get_properties: tuple[Property, ...]


class Frame(_FrameRecord):
    """An ECHONET Lite format-1 frame.

    For the SetGet family (0x6E, 0x7E, 0x5E) ``properties`` is the Set list
    (OPCSet) and ``get_properties`` the Get list (OPCGet); for every other
    service ``get_properties`` is empty. ``esv`` is a plain ``int`` for codes
    the specification does not define.
    """

    __slots__ = ()

    def __new__(
        cls,
        tid: int,
        seoj: EOJ,
        deoj: EOJ,
        esv: ESV | int,
        properties: tuple[Property, ...] = (),
        get_properties: tuple[Property, ...] = (),
    ) -> Frame:
        if not isinstance(tid, int) or not 0 <= tid <= 0xFFFF:
            raise ValueError(f"TID must be 0..65535, got {tid!r}")
        if not isinstance(seoj, EOJ) or not isinstance(deoj, EOJ):
            raise TypeError("SEOJ and DEOJ must be EOJ instances")
        if not isinstance(esv, int) or not 0 <= int(esv) <= 0xFF:
            raise ValueError(f"ESV must be 0..255, got {esv!r}")
        properties, get_properties = tuple(properties), tuple(get_properties)
        if len(properties) > _MAX_OPC or len(get_properties) > _MAX_OPC:
            raise ValueError(f"at most {_MAX_OPC} properties per list")
        if any(not isinstance(p, Property) for p in (*properties, *get_properties)):
            raise TypeError("properties must be Property instances")
        if get_properties and esv not in _SETGET_CODES:
            raise ValueError("get_properties only exist in the SetGet services (0x6E/0x7E/0x5E)")
        return new_tuple(cls, (tid, seoj, deoj, esv, properties, get_properties))

    @property
    def epcs(self) -> tuple[int, ...]:
        return tuple(p.epc for p in self.properties)


@dataclass(frozen=True, slots=True)
class ArbitraryFrame:
    """An ECHONET Lite format-2 frame (EHD2 0x82): TID plus opaque EDATA."""

    tid: int
    edata: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.tid <= 0xFFFF:
            raise ValueError(f"TID must be 0..65535, got {self.tid!r}")


# Interned EOJs: a node talks to a handful of objects, so decoding reuses them.
# Budget: 4 096 entries x 256 B (3-byte key 36 B, EOJ object ~72 B, dict slot with resize
# slack) = 1 MiB at most. Full, the oldest entry is evicted (insertion order: a hit is not
# refreshed, which would cost the decoder two dict operations per EOJ; a hot EOJ evicted
# by a flood of others is re-interned at its next miss).
_EOJ_CACHE: dict[bytes, EOJ] = {}
_EOJ_CACHE_LIMIT: Final = 4096


def _eoj(raw: bytes) -> EOJ:
    eoj = _EOJ_CACHE.get(raw)
    if eoj is None:
        eoj = EOJ(raw[0], raw[1], raw[2])
        if len(_EOJ_CACHE) >= _EOJ_CACHE_LIMIT:
            del _EOJ_CACHE[next(iter(_EOJ_CACHE))]
        _EOJ_CACHE[raw] = eoj
    return eoj


def _property(epc: int, edt: bytes) -> Property:
    # Decoder fast path: the bytes already bound EPC and PDC to one byte each.
    return new_tuple(Property, (epc, edt))


def _pull_properties(data: bytes, offset: int, what: str) -> tuple[tuple[Property, ...], int]:
    size = len(data)
    if offset >= size:
        raise DecodeError(LAYER, offset, f"{what}: missing property count")
    count = data[offset]
    offset += 1
    props = []
    for index in range(count):
        if offset + 2 > size:
            raise DecodeError(
                LAYER, offset, f"{what}: property {index + 1} of {count} truncated (no EPC/PDC)"
            )
        epc = data[offset]
        end = offset + 2 + data[offset + 1]
        if end > size:
            raise DecodeError(
                LAYER,
                offset + 1,
                f"{what}: EPC 0x{epc:02X} declares PDC {data[offset + 1]}, "
                f"{size - offset - 2} bytes left",
            )
        props.append(_property(epc, data[offset + 2 : end]))
        offset = end
    return tuple(props), offset


def decode(data: bytes | bytearray | memoryview, *, strict: bool = False) -> Frame | ArbitraryFrame:
    """Decode one ECHONET Lite frame; raise :class:`DecodeError` on anything malformed.

    With ``strict=True`` an ESV the specification does not define is an error;
    otherwise it is kept as a plain ``int``.
    """
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size < _HEADER_SIZE or data[1] != EHD2_SPECIFIED:
        return _decode_unusual(data, strict)
    if data[0] != EHD1_ECHONET_LITE:
        raise DecodeError(LAYER, 0, f"EHD1 is 0x{data[0]:02X}, expected 0x10 (ECHONET Lite)")
    code = data[10]
    esv: ESV | int | None = _ESV_BY_CODE.get(code)
    if esv is None:
        if strict:
            raise DecodeError(LAYER, 10, f"unknown ESV 0x{code:02X}")
        esv = code
    # The common case inline: one property list (every service but SetGet).
    count = data[11]
    offset = 12
    props: list[Property] = []
    append = props.append
    for index in range(count):
        if offset + 2 > size:
            raise DecodeError(
                LAYER, offset, f"OPC: property {index + 1} of {count} truncated (no EPC/PDC)"
            )
        end = offset + 2 + data[offset + 1]
        if end > size:
            raise DecodeError(
                LAYER,
                offset + 1,
                f"OPC: EPC 0x{data[offset]:02X} declares PDC {data[offset + 1]}, "
                f"{size - offset - 2} bytes left",
            )
        append(new_tuple(Property, (data[offset], data[offset + 2 : end])))
        offset = end
    get_props: tuple[Property, ...] = ()
    if code in _SETGET_RAW:
        get_props, offset = _pull_properties(data, offset, "OPCGet")
    if offset != size:
        raise DecodeError(LAYER, offset, f"{size - offset} trailing bytes after the last property")
    seoj = _EOJ_CACHE.get(data[4:7]) or _eoj(data[4:7])
    deoj = _EOJ_CACHE.get(data[7:10]) or _eoj(data[7:10])
    return new_tuple(Frame, ((data[2] << 8) | data[3], seoj, deoj, esv, tuple(props), get_props))


def _decode_unusual(data: bytes, strict: bool) -> Frame | ArbitraryFrame:
    """Short frames, format 2 and bad headers: the error paths off the hot loop."""
    size = len(data)
    if size < 4:
        raise DecodeError(LAYER, size, f"frame too short: {size} bytes, need at least 4 (EHD, TID)")
    if data[0] != EHD1_ECHONET_LITE:
        raise DecodeError(LAYER, 0, f"EHD1 is 0x{data[0]:02X}, expected 0x10 (ECHONET Lite)")
    tid = (data[2] << 8) | data[3]
    if data[1] == EHD2_ARBITRARY:
        return ArbitraryFrame(tid, data[4:])
    if data[1] != EHD2_SPECIFIED:
        raise DecodeError(LAYER, 1, f"EHD2 is 0x{data[1]:02X}, expected 0x81 or 0x82")
    raise DecodeError(
        LAYER, size, f"frame too short: {size} bytes, format 1 needs at least {_HEADER_SIZE}"
    )


_SETGET_RAW: Final = frozenset(int(e) for e in _SETGET_CODES)


def _push_properties(out: bytearray, props: tuple[Property, ...]) -> None:
    out.append(len(props))
    for prop in props:
        out.append(prop.epc)
        out.append(len(prop.edt))
        out += prop.edt


def encode(frame: Frame | ArbitraryFrame) -> bytes:
    """Encode a frame to bytes (the inverse of :func:`decode`)."""
    if isinstance(frame, ArbitraryFrame):
        return (
            bytes((EHD1_ECHONET_LITE, EHD2_ARBITRARY)) + frame.tid.to_bytes(2, "big") + frame.edata
        )
    if not isinstance(frame, Frame):
        raise EncodeError(f"cannot encode {type(frame).__name__} as an ECHONET Lite frame")
    out = bytearray(
        (
            EHD1_ECHONET_LITE,
            EHD2_SPECIFIED,
            frame.tid >> 8,
            frame.tid & 0xFF,
            frame.seoj.class_group,
            frame.seoj.class_code,
            frame.seoj.instance,
            frame.deoj.class_group,
            frame.deoj.class_code,
            frame.deoj.instance,
            int(frame.esv),
        )
    )
    _push_properties(out, frame.properties)
    if frame.esv in _SETGET_CODES:
        _push_properties(out, frame.get_properties)
    return bytes(out)
