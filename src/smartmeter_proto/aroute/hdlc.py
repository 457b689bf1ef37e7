"""HDLC frames of the DLMS/COSEM serial profile (IEC 62056-46, Green Book HDLC-based profile).

Frame format type 3::

    7E | format (2) | destination (1/2/4) | source (1/2/4) | control (1) |
       [ HCS (2) | information ] | FCS (2) | 7E

* format field: type 0xA in the top nibble, segmentation bit S (0x0800), 11-bit length
  counting every byte between the flags;
* addresses: 7 bits per byte, bit 0 set on the last byte (extension bit); a server address
  is 1, 2 or 4 bytes (upper/logical and lower/physical halves), a client address 1 byte;
* HCS (only with an information field) covers format..control; FCS covers format..end of
  information. Both are the 16-bit FCS of RFC 1662 (CRC-16/X.25: reflected 0x1021, init
  and xor-out 0xFFFF, check value 0x906E for "123456789"), sent least significant byte
  first;
* no byte stuffing: the length field delimits the frame, the flags only help
  resynchronisation. The closing flag of one frame may open the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .._buffer import Cursor
from ..errors import DecodeError, EncodeError

__all__ = [
    "FLAG",
    "LLC_COMMAND",
    "LLC_RESPONSE",
    "Control",
    "FrameType",
    "HdlcAddress",
    "HdlcFrame",
    "HdlcParser",
    "add_llc",
    "decode",
    "encode",
    "fcs16",
    "strip_llc",
]

_LAYER = "hdlc"

#: IEC 62056-46 frame format: opening and closing flag.
FLAG = 0x7E
#: IEC 62056-46 frame format field: type 3 in the top 4 bits of the format field.
_FORMAT_TYPE_3 = 0xA
_SEGMENTED = 0x0800
_LENGTH_MASK = 0x07FF
#: format (2) + destination (1) + source (1) + control (1) + FCS (2).
_MIN_LENGTH = 7
#: Green Book, LLC sub-layer of the HDLC profile: destination LSAP 0xE6, source LSAP
#: 0xE6 for a command (client to server) or 0xE7 for a response, LLC quality 0x00.
LLC_COMMAND = b"\xe6\xe6\x00"
LLC_RESPONSE = b"\xe6\xe7\x00"

# RFC 1662 appendix C: reflected polynomial 0x8408, initial 0xFFFF, final one's complement.
_FCS_TABLE: list[int] = []
for _byte in range(256):
    _v = _byte
    for _ in range(8):
        _v = (_v >> 1) ^ 0x8408 if _v & 1 else _v >> 1
    _FCS_TABLE.append(_v)


def fcs16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/X.25 (RFC 1662 FCS-16) of ``data``; put on the wire little-endian."""
    crc = 0xFFFF
    table = _FCS_TABLE
    for b in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFF


class FrameType(IntEnum):
    """Control field with P/F, N(S) and N(R) cleared (IEC 62056-46 control field encodings)."""

    I = 0x00  # noqa: E741 - the spec's name for an information frame
    RR = 0x01
    RNR = 0x05
    UI = 0x03
    DM = 0x0F
    DISC = 0x43
    UA = 0x63
    SNRM = 0x83
    FRMR = 0x87


_POLL_FINAL = 0x10


def _frame_type(value: int) -> FrameType | int:
    try:
        return FrameType(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class Control:
    """Control field: frame type, P/F bit, N(S) (I frames), N(R) (I and S frames)."""

    type: FrameType | int
    poll_final: bool = True
    send_seq: int = 0
    recv_seq: int = 0

    @property
    def is_information(self) -> bool:
        return int(self.type) & 1 == 0

    @property
    def is_supervisory(self) -> bool:
        return int(self.type) & 3 == 1

    @classmethod
    def from_byte(cls, value: int) -> Control:
        pf = bool(value & _POLL_FINAL)
        if value & 1 == 0:
            return cls(FrameType.I, pf, (value >> 1) & 7, value >> 5)
        if value & 3 == 1:
            return cls(_frame_type(value & 0x0F), pf, 0, value >> 5)
        return cls(_frame_type(value & 0xEF), pf)

    def to_byte(self) -> int:
        kind = int(self.type)
        if not 0 <= self.send_seq <= 7 or not 0 <= self.recv_seq <= 7:
            raise EncodeError("N(S) and N(R) are 3-bit sequence numbers (0..7)")
        pf = _POLL_FINAL if self.poll_final else 0
        if kind == FrameType.I:
            return (self.recv_seq << 5) | pf | (self.send_seq << 1)
        if kind & 3 == 1 and kind & 0xF0 == 0:
            if self.send_seq:
                raise EncodeError("supervisory frames carry no N(S)")
            return (self.recv_seq << 5) | pf | kind
        if kind & 3 == 3 and kind & 0x10 == 0 and 0 <= kind <= 0xFF:
            if self.send_seq or self.recv_seq:
                raise EncodeError("unnumbered frames carry no sequence numbers")
            return kind | pf
        raise EncodeError(f"not a control field pattern: 0x{kind:02X}")


@dataclass(frozen=True, slots=True)
class HdlcAddress:
    """HDLC address: ``logical`` (upper) and optional ``physical`` (lower) part.

    ``size`` is the wire length (1, 2 or 4 bytes); 0 picks the smallest that fits.
    """

    logical: int
    physical: int | None = None
    size: int = 0

    def __post_init__(self) -> None:
        size = self.size
        if size == 0:
            if self.physical is None:
                size = 1
            else:
                size = 2 if max(self.logical, self.physical) <= 0x7F else 4
            object.__setattr__(self, "size", size)
        limit = {1: 0x7F, 2: 0x7F, 4: 0x3FFF}.get(size)
        if limit is None:
            raise ValueError(f"HDLC address size must be 1, 2 or 4, got {size}")
        if (size == 1) != (self.physical is None):
            raise ValueError("a 1-byte address has no physical part; 2 and 4 bytes need one")
        if not 0 <= self.logical <= limit or not 0 <= (self.physical or 0) <= limit:
            raise ValueError(f"address parts out of range for {size} bytes")

    def to_bytes(self) -> bytes:
        if self.size == 1:
            values = [self.logical]
        elif self.size == 2:
            values = [self.logical, self.physical or 0]
        else:
            lower = self.physical or 0
            values = [self.logical >> 7, self.logical & 0x7F, lower >> 7, lower & 0x7F]
        out = bytearray(v << 1 for v in values)
        out[-1] |= 1
        return bytes(out)


def _pull_address(cur: Cursor, what: str) -> HdlcAddress:
    start = cur.offset
    values: list[int] = []
    while True:
        b = cur.pull_uint8(what)
        values.append(b >> 1)
        if b & 1:
            break
        if len(values) == 4:
            raise cur.error(f"{what}: no end bit within 4 bytes", start)
    if len(values) == 1:
        return HdlcAddress(values[0])
    if len(values) == 2:
        return HdlcAddress(values[0], values[1], 2)
    if len(values) == 4:
        return HdlcAddress(values[0] << 7 | values[1], values[2] << 7 | values[3], 4)
    raise cur.error(f"{what}: {len(values)}-byte address (1, 2 or 4 allowed)", start)


@dataclass(frozen=True, slots=True)
class HdlcFrame:
    """One HDLC frame; ``information`` is raw (LLC header included when present)."""

    destination: HdlcAddress
    source: HdlcAddress
    control: Control
    information: bytes = b""
    segmented: bool = False


def encode(frame: HdlcFrame) -> bytes:
    """Flags, format, addresses, control, HCS, information, FCS."""
    header = frame.destination.to_bytes() + frame.source.to_bytes()
    header += bytes([frame.control.to_byte()])
    length = 2 + len(header) + 2 + (2 + len(frame.information) if frame.information else 0)
    if length > _LENGTH_MASK:
        raise EncodeError(f"frame length {length} exceeds the 11-bit format field")
    fmt = (_FORMAT_TYPE_3 << 12) | (_SEGMENTED if frame.segmented else 0) | length
    body = bytearray(fmt.to_bytes(2, "big") + header)
    if frame.information:
        body += fcs16(body).to_bytes(2, "little")
        body += frame.information
    body += fcs16(body).to_bytes(2, "little")
    return bytes([FLAG]) + bytes(body) + bytes([FLAG])


class _FcsError(DecodeError):
    """The header was sound, the frame check sequence was not."""


def decode(data: bytes) -> HdlcFrame:
    """Exactly one frame with both flags."""
    cur = Cursor(data, _LAYER)
    if cur.pull_uint8("opening flag") != FLAG:
        raise cur.error("frame does not start with the flag 0x7E", 0)
    fmt = cur.pull_uint16("format field")
    if fmt >> 12 != _FORMAT_TYPE_3:
        raise cur.error(f"frame format type 0x{fmt >> 12:X}, expected 0xA", 1)
    length = fmt & _LENGTH_MASK
    if length < _MIN_LENGTH:
        raise cur.error(f"frame length {length} below the minimum {_MIN_LENGTH}", 1)
    if len(data) != length + 2:
        raise cur.error(f"format field says {length} bytes between flags, found {len(data) - 2}", 1)
    destination = _pull_address(cur, "destination address")
    source = _pull_address(cur, "source address")
    control = Control.from_byte(cur.pull_uint8("control field"))
    header_end = cur.offset
    rest = length + 1 - header_end  # bytes left before the closing flag
    information = b""
    if rest == 2:
        pass
    elif rest >= 4:
        hcs = cur.pull_bytes(2, "HCS")
        if hcs != fcs16(data[1:header_end]).to_bytes(2, "little"):
            raise cur.error("HCS does not match the header", header_end)
        information = cur.pull_bytes(rest - 4, "information field")
        if not information:
            raise cur.error("HCS present without an information field", header_end)
    else:
        raise cur.error(
            f"{rest} bytes after the control field: neither FCS nor HCS + FCS", header_end
        )
    fcs_at = cur.offset
    fcs = cur.pull_bytes(2, "FCS")
    if fcs != fcs16(data[1:fcs_at]).to_bytes(2, "little"):
        raise _FcsError(_LAYER, fcs_at, "FCS does not match the frame")
    if cur.pull_uint8("closing flag") != FLAG:
        raise cur.error("frame does not end with the flag 0x7E", cur.offset - 1)
    cur.expect_end("closing flag")
    return HdlcFrame(destination, source, control, information, bool(fmt & _SEGMENTED))


def add_llc(apdu: bytes, *, response: bool) -> bytes:
    """Prefix the LLC header of the first I-frame of a message."""
    return (LLC_RESPONSE if response else LLC_COMMAND) + apdu


def strip_llc(information: bytes) -> tuple[bool, bytes]:
    """Split off the LLC header: (is_response, apdu)."""
    head = information[:3]
    if head == LLC_COMMAND:
        return False, information[3:]
    if head == LLC_RESPONSE:
        return True, information[3:]
    raise DecodeError(_LAYER, 0, f"LLC header E6 E6 00 or E6 E7 00 expected, found {head.hex()}")


def _header_verdict(buf: bytearray, length: int) -> str | None:
    """'' if the frame header (and HCS, when the length implies one) is sound, a reason if
    not, None if more bytes are needed to tell."""
    at = 3
    for _ in range(2):  # destination, source
        size = 0
        while True:
            if at >= len(buf):
                return None
            size += 1
            last = buf[at] & 1
            at += 1
            if last:
                break
            if size == 4:
                return "address without end bit"
        if size == 3:
            return "3-byte address"
    at += 1  # control
    rest = length + 1 - at
    if rest in (2,):
        return ""
    if rest < 4:
        return "frame too short for its header"
    if at + 2 > len(buf):
        return None
    if bytes(buf[at : at + 2]) != fcs16(buf[1:at]).to_bytes(2, "little"):
        return "HCS does not match the header"
    return ""


class HdlcParser:
    """Splits a serial byte stream into frames; resynchronises on the next flag.

    Bytes outside frames are dropped and counted (``dropped_bytes``); a frame that fails its
    checks is counted in ``bad_frames`` (last one in ``last_error``) and skipped: from its
    opening flag to the next flag, or wholly when only its FCS failed. Buffering is bounded
    by the 11-bit length field.
    """

    __slots__ = ("_buf", "bad_frames", "dropped_bytes", "last_error")

    def __init__(self) -> None:
        self._buf = bytearray()
        self.dropped_bytes = 0
        self.bad_frames = 0
        self.last_error: DecodeError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def _reject(self, error: DecodeError, skip: int) -> None:
        self.bad_frames += 1
        self.last_error = error
        self.dropped_bytes += skip
        del self._buf[:skip]

    def feed(self, data: bytes) -> list[HdlcFrame]:
        """Add bytes; return the complete, valid frames."""
        buf = self._buf
        buf += data
        frames: list[HdlcFrame] = []
        while True:
            start = buf.find(FLAG)
            if start < 0:
                self.dropped_bytes += len(buf)
                buf.clear()
                break
            if start:
                self.dropped_bytes += start
                del buf[:start]
            if len(buf) < 3:
                break
            if buf[1] == FLAG:  # empty frame or inter-frame fill: keep the later flag
                del buf[:1]
                continue
            fmt = buf[1] << 8 | buf[2]
            length = fmt & _LENGTH_MASK
            if fmt >> 12 != _FORMAT_TYPE_3 or length < _MIN_LENGTH:
                self._reject(DecodeError(_LAYER, 1, "no frame format type 3 after flag"), 1)
                continue
            end = length + 2
            # Check the header (and HCS) first: garbage announcing a long frame neither
            # stalls the stream until 2 KiB arrive nor costs a full decode per false flag.
            verdict = _header_verdict(buf, length)
            if verdict:
                self._reject(DecodeError(_LAYER, 1, verdict), 1)
                continue
            if verdict is None or len(buf) < end:
                break
            if buf[end - 1] != FLAG:
                self._reject(
                    DecodeError(_LAYER, end - 1, "no closing flag where the length field puts it"),
                    1,
                )
                continue
            try:
                frames.append(decode(bytes(buf[:end])))
            except _FcsError as exc:
                self._reject(exc, end - 1)
                continue
            except DecodeError as exc:
                self._reject(exc, 1)
                continue
            del buf[: end - 1]  # the closing flag may open the next frame
        return frames
