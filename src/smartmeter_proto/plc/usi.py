"""Microchip USI serial framing (sans-IO): frame codec and a resynchronising stream parser.

The documented interface implemented here is Microchip's **USI (Universal Serial
Interface)** service, as used by the PL360/PL460 (formerly ATPL360) G3-PLC modem
firmware ("G3 ADP serialized" / "adp_mac_serialized" applications) to carry the G3
ADP serial protocol (USI protocol 0x25, see :mod:`smartmeter_proto.plc.g3adp`).

Wire format (Microchip-MPLAB-Harmony/smartenergy ``service/usi/src/srv_usi.c``,
``srv_usi_local.h``; ``service/pcrc/srv_pcrc.c``)::

    7E | LEN_HI | LEN_LO<<6 | PROTO | DATA... | CRC (1, 2 or 4 bytes, big-endian) | 7E

* 10-bit DATA length: ``LEN_HI = len >> 2``, top two bits of byte 1 = ``len & 3``,
  low six bits of byte 1 = protocol id. The length counts DATA only.
* Every byte between the delimiters (header, DATA, CRC) is escaped:
  ``7E -> 7D 5E`` and ``7D -> 7D 5D``.
* The CRC covers the unescaped header and DATA, register starting at 0; its type
  depends on the protocol (``_SRV_USI_GetCRCTypeFromProtocol``): CRC-32 for the PRIME
  management protocols 0x00-0x07, CRC-16 for 0x13, 0x1F and the G3 protocols
  0x22-0x26, and an 8-bit XOR of all bytes ("CRC8", ``Get8ForUsi``) for the rest.
* Extended length (XLEN) for 0x25/0x26/0x30 puts length bits 10-11 into bits 6-7 of
  the first DATA byte in newer Harmony code only. This codec keeps frames within the
  10-bit maximum (1023 DATA bytes) and rejects longer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ..errors import DecodeError, EncodeError

__all__ = [
    "MAX_DATA_LENGTH",
    "CrcType",
    "UsiFrame",
    "UsiParser",
    "UsiProtocol",
    "crc16_usi",
    "crc32_usi",
    "crc_type_for",
    "decode_frame",
    "encode_frame",
    "xor8_usi",
]

_LAYER = "usi"

#: Frame delimiter and escape byte (srv_usi_local.h USI_ESC_KEY_7E / USI_ESC_KEY_7D).
DELIMITER = 0x7E
ESCAPE = 0x7D
#: An escaped byte is sent as 7D followed by the byte XOR 0x20 (7E -> 5E, 7D -> 5D).
_ESCAPE_XOR = 0x20
_ESCAPED = {0x5E: 0x7E, 0x5D: 0x7D}

#: Largest DATA length the 10-bit length field can carry (srv_usi_local.h: 8 + 2 bits).
MAX_DATA_LENGTH = 0x3FF
#: Header is two bytes: LEN_HI, then LEN_LO (bits 7-6) + protocol id (bits 5-0).
_HEADER_SIZE = 2
_PROTOCOL_MASK = 0x3F
_MAX_CRC_SIZE = 4
#: Largest unescaped frame body (header + DATA + CRC-32) the parser buffers.
MAX_FRAME_BODY = _HEADER_SIZE + MAX_DATA_LENGTH + _MAX_CRC_SIZE


class UsiProtocol(IntEnum):
    """USI protocol ids (smartenergy ``srv_usi_definitions.h``, SRV_USI_PROTOCOL_ID)."""

    MNGP_PRIME_GETQRY = 0x00
    MNGP_PRIME_GETRSP = 0x01
    MNGP_PRIME_SET = 0x02
    MNGP_PRIME_RESET = 0x03
    MNGP_PRIME_REBOOT = 0x04
    MNGP_PRIME_FU = 0x05
    MNGP_PRIME_GETQRY_EN = 0x06
    MNGP_PRIME_GETRSP_EN = 0x07
    SNIF_PRIME = 0x13
    PHY_SERIAL_PRIME = 0x1F
    PHY = 0x22
    SNIFF_G3 = 0x23
    MAC_G3 = 0x24
    ADP_G3 = 0x25
    COORD_G3 = 0x26
    PHY_MICROPLC = 0x27
    PRIME_API = 0x30


class CrcType(IntEnum):
    """USI check type; the value is log2 of its size in bytes (srv_pcrc.h PCRC_CRC_TYPE)."""

    XOR8 = 0
    CRC16 = 1
    CRC32 = 2

    @property
    def size(self) -> int:
        return 1 << int(self)


_CRC32_PROTOCOLS = frozenset(range(0x00, 0x08))
_CRC16_PROTOCOLS = frozenset({0x13, 0x1F, 0x22, 0x23, 0x24, 0x25, 0x26})


def crc_type_for(protocol: int) -> CrcType:
    """The check a USI frame of ``protocol`` carries (srv_usi.c GetCRCTypeFromProtocol)."""
    if protocol in _CRC32_PROTOCOLS:
        return CrcType.CRC32
    if protocol in _CRC16_PROTOCOLS:
        return CrcType.CRC16
    return CrcType.XOR8


def _table16() -> tuple[int, ...]:
    out = []
    for i in range(256):
        reg = i << 8
        for _ in range(8):
            reg = ((reg << 1) ^ 0x1021) if reg & 0x8000 else reg << 1
        out.append(reg & 0xFFFF)
    return tuple(out)


def _table32() -> tuple[int, ...]:
    out = []
    for i in range(256):
        reg = i << 24
        for _ in range(8):
            reg = ((reg << 1) ^ 0x04C11DB7) if reg & 0x80000000 else reg << 1
        out.append(reg & 0xFFFFFFFF)
    return tuple(out)


#: Polynomial 0x1021 table, identical to srv_pcrc.c pCrcTable16.
_T16 = _table16()
#: Polynomial 0x04C11DB7 MSB-first table, identical to srv_pcrc.c pCrcTable32.
_T32 = _table32()


def crc16_usi(data: bytes, init: int = 0) -> int:
    """Microchip's USI CRC-16 (srv_pcrc.c ``lSRV_PCRC_Get16``).

    Each byte is XORed into the low end of the register after the table step, the
    "augmented" table form: ``crc16_usi(m + b"\\0\\0") == CRC-16/XMODEM(m)``; check value
    over ``b"123456789"`` is 0xBEEF (XMODEM gives 0x31C3).
    """
    crc = init & 0xFFFF
    for byte in data:
        crc = (_T16[crc >> 8] ^ (crc << 8) ^ byte) & 0xFFFF
    return crc


def crc32_usi(data: bytes, init: int = 0) -> int:
    """USI CRC-32 (srv_pcrc.c ``lSRV_PCRC_Get32``): poly 0x04C11DB7, MSB first, no final XOR."""
    crc = init & 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _T32[((crc >> 24) ^ byte) & 0xFF]
    return crc


def xor8_usi(data: bytes, init: int = 0) -> int:
    """USI "CRC8": XOR of all bytes (srv_pcrc.c ``lSRV_PCRC_Get8ForUsi``)."""
    crc = init & 0xFF
    for byte in data:
        crc ^= byte
    return crc


def _check(crc_type: CrcType, body: bytes) -> int:
    if crc_type is CrcType.CRC16:
        return crc16_usi(body)
    if crc_type is CrcType.CRC32:
        return crc32_usi(body)
    return xor8_usi(body)


@dataclass(frozen=True, slots=True, repr=False)
class UsiFrame:
    """One USI frame: ``protocol`` (6-bit id, :class:`UsiProtocol` when known) and DATA.

    The repr shows only the first DATA byte (the command): DATA may carry keys.
    """

    protocol: UsiProtocol | int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= int(self.protocol) <= _PROTOCOL_MASK:
            raise ValueError(f"USI protocol id must be 0..0x3F, got {int(self.protocol):#x}")
        if len(self.data) > MAX_DATA_LENGTH:
            raise ValueError(f"USI DATA is at most {MAX_DATA_LENGTH} bytes, got {len(self.data)}")

    def encode(self) -> bytes:
        return encode_frame(self)

    def __repr__(self) -> str:
        head = f"{self.data[0]:#04x}, " if self.data else ""
        return f"UsiFrame(protocol={self.protocol!r}, data=<{head}{len(self.data)} bytes>)"


def _protocol(value: int) -> UsiProtocol | int:
    try:
        return UsiProtocol(value)
    except ValueError:
        return value


def _escape(body: bytes) -> bytes:
    out = bytearray()
    for byte in body:
        if byte in (DELIMITER, ESCAPE):
            out += bytes((ESCAPE, byte ^ _ESCAPE_XOR))
        else:
            out.append(byte)
    return bytes(out)


def encode_frame(frame: UsiFrame) -> bytes:
    """Delimited, escaped bytes of ``frame`` ready for the serial line."""
    length = len(frame.data)
    if length > MAX_DATA_LENGTH:
        raise EncodeError(f"USI DATA is at most {MAX_DATA_LENGTH} bytes, got {length}")
    protocol = int(frame.protocol)
    header = bytes((length >> 2, ((length & 0x03) << 6) | (protocol & _PROTOCOL_MASK)))
    body = header + frame.data
    crc_type = crc_type_for(protocol)
    body += _check(crc_type, body).to_bytes(crc_type.size, "big")
    return bytes((DELIMITER,)) + _escape(body) + bytes((DELIMITER,))


def _decode_body(body: bytes, offset: int) -> UsiFrame:
    """Validate an unescaped body (header + DATA + check); ``offset`` labels errors."""
    if len(body) < _HEADER_SIZE + 1:
        raise DecodeError(_LAYER, offset, f"frame of {len(body)} bytes is shorter than a header")
    protocol = body[1] & _PROTOCOL_MASK
    crc_type = crc_type_for(protocol)
    declared = (body[0] << 2) | (body[1] >> 6)
    data_len = len(body) - _HEADER_SIZE - crc_type.size
    if data_len != declared:
        raise DecodeError(
            _LAYER, offset, f"length field says {declared} DATA bytes, frame holds {data_len}"
        )
    covered = body[: _HEADER_SIZE + data_len]
    received = int.from_bytes(body[_HEADER_SIZE + data_len :], "big")
    if _check(crc_type, covered) != received:
        raise DecodeError(_LAYER, offset, f"{crc_type.name} check mismatch")
    return UsiFrame(_protocol(protocol), bytes(body[_HEADER_SIZE : _HEADER_SIZE + data_len]))


def decode_frame(raw: bytes) -> UsiFrame:
    """Decode exactly one delimited frame ``7E ... 7E``; anything else is a DecodeError."""
    if len(raw) < 2 or raw[0] != DELIMITER or raw[-1] != DELIMITER:
        raise DecodeError(_LAYER, 0, "a USI frame starts and ends with 0x7E")
    body = bytearray()
    i = 1
    end = len(raw) - 1
    while i < end:
        byte = raw[i]
        if byte == DELIMITER:
            raise DecodeError(_LAYER, i, "unescaped 0x7E inside a frame")
        if byte == ESCAPE:
            if i + 1 >= end or raw[i + 1] not in _ESCAPED:
                raise DecodeError(_LAYER, i, "0x7D must be followed by 0x5E or 0x5D")
            body.append(_ESCAPED[raw[i + 1]])
            i += 2
            continue
        body.append(byte)
        i += 1
    if len(body) > MAX_FRAME_BODY:
        raise DecodeError(_LAYER, 0, f"frame body of {len(body)} bytes exceeds {MAX_FRAME_BODY}")
    return _decode_body(bytes(body), 0)


class _State(IntEnum):
    HUNT = 0  # before the first delimiter: bytes are line noise
    FRAME = 1  # collecting a frame body
    ESCAPED = 2  # previous byte was 0x7D
    DISCARD = 3  # frame already broken: skip to the next delimiter


class UsiParser:
    """Incremental USI receiver: ``feed(bytes)`` returns frames and errors in stream order.

    Every 0x7E both ends the frame in progress and starts the next one, so two
    adjacent delimiters (end + start) are harmless and any loss - garbage, bad check,
    truncation, bad escape, oversize - costs at most the frame it hit. Offsets in
    errors count bytes fed since construction. The buffer never exceeds
    ``max_body`` unescaped bytes; longer frames are dropped.
    """

    __slots__ = (
        "_body",
        "_frame_start",
        "_max_body",
        "_noise",
        "_noise_start",
        "_pos",
        "_state",
        "bytes_discarded",
        "frames_dropped",
        "frames_received",
    )

    def __init__(self, *, max_body: int = MAX_FRAME_BODY) -> None:
        if not _HEADER_SIZE + 1 <= max_body <= MAX_FRAME_BODY:
            raise ValueError(f"max_body must be 3..{MAX_FRAME_BODY}, got {max_body}")
        self._max_body = max_body
        self._body = bytearray()
        self._state = _State.HUNT
        self._pos = 0
        self._frame_start = 0
        self._noise = 0
        self._noise_start = 0
        self.frames_received = 0
        self.frames_dropped = 0
        self.bytes_discarded = 0

    def feed(self, data: bytes) -> list[UsiFrame | DecodeError]:
        out: list[UsiFrame | DecodeError] = []
        for byte in data:
            self._step(byte, out)
            self._pos += 1
        return out

    def _drop(self, out: list[UsiFrame | DecodeError], reason: str) -> None:
        self.frames_dropped += 1
        out.append(DecodeError(_LAYER, self._frame_start, reason))
        self._body.clear()

    def _flush_noise(self, out: list[UsiFrame | DecodeError]) -> None:
        if self._noise:
            out.append(
                DecodeError(_LAYER, self._noise_start, f"{self._noise} bytes outside any frame")
            )
            self.bytes_discarded += self._noise
            self._noise = 0

    def _delimiter(self, out: list[UsiFrame | DecodeError]) -> None:
        if self._state is _State.HUNT:
            self._flush_noise(out)
        elif self._state is _State.ESCAPED:
            self._drop(out, "frame ended right after an escape byte")
        elif self._state is _State.FRAME and self._body:
            try:
                frame = _decode_body(bytes(self._body), self._frame_start)
            except DecodeError as exc:
                self.frames_dropped += 1
                out.append(exc)
            else:
                self.frames_received += 1
                out.append(frame)
            self._body.clear()
        self._state = _State.FRAME
        self._frame_start = self._pos

    def _step(self, byte: int, out: list[UsiFrame | DecodeError]) -> None:
        if byte == DELIMITER:
            self._delimiter(out)
            return
        state = self._state
        if state is _State.HUNT:
            if not self._noise:
                self._noise_start = self._pos
            self._noise += 1
            return
        if state is _State.DISCARD:
            return
        if state is _State.ESCAPED:
            if byte not in _ESCAPED:
                self._drop(out, f"0x7D followed by {byte:#04x}, expected 0x5E or 0x5D")
                self._state = _State.DISCARD
                return
            byte = _ESCAPED[byte]
            self._state = _State.FRAME
        elif byte == ESCAPE:
            self._state = _State.ESCAPED
            return
        if len(self._body) >= self._max_body:
            self._drop(out, f"frame exceeds {self._max_body} bytes")
            self._state = _State.DISCARD
            return
        self._body.append(byte)
