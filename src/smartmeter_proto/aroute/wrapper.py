"""DLMS/COSEM wrapper for TCP and UDP (IEC 62056-47 / Green Book TCP-UDP profile, port 4059).

Each APDU is preceded by an 8-byte header, all fields big-endian uint16:
version (0x0001), source wPort, destination wPort, length of the APDU that follows.
The wPorts carry the DLMS SAPs: the client SAP (e.g. 0x10 public client) and the server
logical device (e.g. 0x01 management logical device).

The wrapper has no frame delimiter and no check sequence: on TCP a corrupted header
leaves no way to find the next frame. :class:`WrapperParser` therefore does not try to
resynchronise; after a bad header it stays failed and every later ``feed`` raises, so the
caller closes the connection (the only recovery the standard allows).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from .._buffer import Cursor
from ..errors import DecodeError, EncodeError

__all__ = [
    "DLMS_PORT",
    "MANAGEMENT_LOGICAL_DEVICE",
    "WRAPPER_HEADER_LENGTH",
    "WRAPPER_VERSION",
    "WPort",
    "WrapperFrame",
    "WrapperParser",
    "decode",
    "encode",
]

_LAYER = "dlms-wrapper"

#: IANA "dlms" TCP and UDP port 4059 (Green Book TCP-UDP based profile).
DLMS_PORT = 4059
#: Green Book, wrapper protocol: the protocol version is 0x0001.
WRAPPER_VERSION = 0x0001
#: version + source wPort + destination wPort + length.
WRAPPER_HEADER_LENGTH = 8
_HEADER = struct.Struct(">HHHH")
_MAX_LENGTH = 0xFFFF


class WPort(IntEnum):
    """Reserved wPort numbers: the DLMS SAPs.

    Green Book SAP assignment; DSMR P3 2.1 names public client 16 and management client 1.

    Client side: 0x01 client management process, 0x10 public client. Server side: 0x01
    management logical device. Other values are free and survive as raw ints.
    """

    NO_STATION = 0x00
    CLIENT_MANAGEMENT_PROCESS = 0x01
    PUBLIC_CLIENT = 0x10


#: Server-side wPort of the management logical device (Green Book: SAP 0x01).
MANAGEMENT_LOGICAL_DEVICE = 0x01


@dataclass(frozen=True, slots=True)
class WrapperFrame:
    """One wrapper PDU: the two wPorts and the APDU (the header length is derived)."""

    source_wport: int
    destination_wport: int
    apdu: bytes
    version: int = WRAPPER_VERSION


def encode(frame: WrapperFrame) -> bytes:
    """Header + APDU."""
    for name, value in (
        ("version", frame.version),
        ("source wPort", frame.source_wport),
        ("destination wPort", frame.destination_wport),
    ):
        if not 0 <= value <= 0xFFFF:
            raise EncodeError(f"{name} out of range: {value}")
    if len(frame.apdu) > _MAX_LENGTH:
        raise EncodeError(f"APDU of {len(frame.apdu)} bytes exceeds the 16-bit wrapper length")
    header = _HEADER.pack(
        frame.version, frame.source_wport, frame.destination_wport, len(frame.apdu)
    )
    return header + frame.apdu


def _pull_header(cur: Cursor) -> tuple[int, int, int]:
    version = cur.pull_uint16("version")
    if version != WRAPPER_VERSION:
        raise cur.error(f"wrapper version 0x{version:04X}, expected 0x0001", cur.offset - 2)
    source = cur.pull_uint16("source wPort")
    destination = cur.pull_uint16("destination wPort")
    return source, destination, cur.pull_uint16("length")


def decode(data: bytes) -> WrapperFrame:
    """One UDP datagram: exactly one header and its APDU."""
    cur = Cursor(data, _LAYER)
    source, destination, length = _pull_header(cur)
    apdu = cur.pull_bytes(length, "APDU")
    cur.expect_end("wrapper APDU")
    return WrapperFrame(source, destination, apdu)


class WrapperParser:
    """Splits a TCP byte stream into :class:`WrapperFrame` objects.

    ``max_apdu_length`` bounds the buffered APDU (default: the 16-bit maximum); a header
    announcing more, or a wrong version, fails the stream for good (see module docstring).
    """

    __slots__ = ("_buf", "_consumed", "_error", "max_apdu_length")

    def __init__(self, *, max_apdu_length: int = _MAX_LENGTH) -> None:
        self.max_apdu_length = max_apdu_length
        self._buf = bytearray()
        self._consumed = 0  # stream offset of _buf[0], for error offsets
        self._error: DecodeError | None = None

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[WrapperFrame]:
        """Add bytes; return every complete frame.

        Raises DecodeError once the stream is bad (frames completed before the bad header in
        the same call are returned first; the next call raises).
        """
        if self._error is not None:
            raise self._error
        self._buf += data
        frames: list[WrapperFrame] = []
        while len(self._buf) >= WRAPPER_HEADER_LENGTH:
            version, source, destination, length = _HEADER.unpack_from(self._buf, 0)
            reason = None
            if version != WRAPPER_VERSION:
                reason = (
                    f"wrapper version 0x{version:04X}, expected 0x0001; "
                    "the stream cannot be resynchronised"
                )
            elif length > self.max_apdu_length:
                reason = f"APDU length {length} exceeds the limit {self.max_apdu_length}"
            if reason is not None:
                self._error = DecodeError(_LAYER, self._consumed, reason)
                self._buf.clear()
                if frames:
                    return frames
                raise self._error
            end = WRAPPER_HEADER_LENGTH + length
            if len(self._buf) < end:
                break
            frames.append(WrapperFrame(source, destination, bytes(self._buf[8:end]), version))
            del self._buf[:end]
            self._consumed += end
        return frames
