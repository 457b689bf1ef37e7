"""ROHM J11 binary UART frame codec (BP35C0-J11, BP35C2-J11-T01, RATOC RS-WSUHA-J11).

A frame is a 12-byte big-endian header and a data block::

    unique code (4) | command (2) | message length (2) | header sum (2) | data sum (2) | data

The message length counts the two checksum fields and the data (4 + N). The
header sum is the byte sum of header bytes 0..7, the data sum the byte sum of
the data, both modulo 0x10000. Sources: ROHM "BP35C0-J11 UART IF
specification" No. 63TR008E as cited by broute-j11 0.1.0; frame samples of ROHM
application note 63AN028E; unit tests of Tosainu/bp35c0-j11-stuff.

Typed messages live in :mod:`smartmeter_proto.wisun.j11.messages`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from ipaddress import IPv6Address
from typing import Final

from ..._buffer import Cursor
from ...errors import EncodeError

__all__ = [
    "ALL_CHANNELS_MASK",
    "HEADER_SIZE",
    "LAYER",
    "MAX_CHANNEL",
    "MAX_DATA_SIZE",
    "MAX_FRAME_SIZE",
    "MAX_UDP_PAYLOAD",
    "MIN_CHANNEL",
    "BlockState",
    "Command",
    "ConnectionState",
    "FrameParser",
    "GlobalState",
    "J11Frame",
    "J11Garbled",
    "OperationMode",
    "PanaResult",
    "ReceptionFailureReason",
    "Result",
    "TxPower",
    "UniqueCode",
    "channel_for_frequency_khz",
    "channel_frequency_khz",
    "checksum",
    "decode",
    "encode",
    "link_local_from_mac",
    "mac_from_link_local",
    "mask_channels",
    "pairing_id",
    "response_code",
    "scan_duration_ms",
    "scan_mask",
]

LAYER: Final = "j11"

HEADER_SIZE: Final = 12
#: Unique code + command + message length: the bytes the header sum covers.
_PREFIX_SIZE: Final = 8
#: The message length counts the header sum and data sum fields before the data.
_LENGTH_OVERHEAD: Final = 4
#: Largest frame the module handles, header included (63TR008E §3 per broute-j11).
MAX_FRAME_SIZE: Final = 1361
MAX_DATA_SIZE: Final = MAX_FRAME_SIZE - HEADER_SIZE
#: Largest UDP payload of Transmit Data, 0x4D0 (broute-j11, Tosainu bp35c0-j11).
MAX_UDP_PAYLOAD: Final = 1232

_PREFIX: Final = struct.Struct(">IHH")
_HEADER: Final = struct.Struct(">IHHHH")
_SUMS: Final = struct.Struct(">HH")
_CHECKSUM_MASK: Final = 0xFFFF
#: A response code is its request code with this bit set (0x0001 -> 0x2001).
_RESPONSE_FLAG: Final = 0x2000


class UniqueCode(IntEnum):
    """First four bytes of a frame; they give its direction."""

    REQUEST = 0xD0EA83FC  # host -> module
    RESPONSE = 0xD0F9EE5D  # module -> host: responses, notifications, error frames


_UNIQUE_VALUES: Final = frozenset(int(code) for code in UniqueCode)
_CODE_BYTES: Final = tuple(code.to_bytes(4, "big") for code in UniqueCode)
#: Both unique codes start with 0xD0 and hold no other 0xD0, so a resync looks for it.
_SYNC_BYTE: Final = 0xD0


class Command(IntEnum):
    """Command codes of a B-route session (63TR008E Table 33 via broute-j11 and a C++ driver)."""

    # host -> module requests
    GET_STATUS = 0x0001
    OPEN_UDP_PORT = 0x0005
    CLOSE_UDP_PORT = 0x0006
    TRANSMIT_DATA = 0x0008
    ACTIVE_SCAN = 0x0051
    START_ROUTE_B = 0x0053
    SET_ROUTE_B_AUTH = 0x0054
    START_PANA = 0x0056
    TERMINATE_PANA = 0x0057
    TERMINATE_ROUTE_B = 0x0058
    GET_ROUTE_B_KEY = 0x0059
    SET_INITIAL_SETTINGS = 0x005F
    GET_VERSION = 0x006B
    GET_INITIAL_SETTINGS = 0x0107
    REAUTH_PANA = 0x00D2
    HARDWARE_RESET = 0x00D9
    # module -> host responses (request | 0x2000)
    GET_STATUS_RESPONSE = 0x2001
    OPEN_UDP_PORT_RESPONSE = 0x2005
    CLOSE_UDP_PORT_RESPONSE = 0x2006
    TRANSMIT_DATA_RESPONSE = 0x2008
    ACTIVE_SCAN_RESPONSE = 0x2051
    START_ROUTE_B_RESPONSE = 0x2053
    SET_ROUTE_B_AUTH_RESPONSE = 0x2054
    START_PANA_RESPONSE = 0x2056
    TERMINATE_PANA_RESPONSE = 0x2057
    TERMINATE_ROUTE_B_RESPONSE = 0x2058
    GET_ROUTE_B_KEY_RESPONSE = 0x2059
    SET_INITIAL_SETTINGS_RESPONSE = 0x205F
    GET_VERSION_RESPONSE = 0x206B
    GET_INITIAL_SETTINGS_RESPONSE = 0x2107
    REAUTH_PANA_RESPONSE = 0x20D2
    # module -> host notifications
    SCAN_RESULT = 0x4051
    DATA_RECEIVED = 0x6018
    STARTUP = 0x6019
    CONNECTION_STATE = 0x601A
    PANA_RESULT = 0x6028
    RECEPTION_FAILURE = 0x6038
    # module -> host error frames (63TR008E §2.10.7/§2.10.8 per a C++ driver; also ak1211)
    HEADER_CHECKSUM_ERROR = 0x2FFF
    INVALID_COMMAND = 0xFFFF


class Result(IntEnum):
    """First data byte of every response (63TR008E Table 34 per broute-j11)."""

    SUCCESS = 0x01
    ADDRESS_NOT_IN_DEVICE_LIST = 0x02
    INVALID_COMMAND = 0x03
    INVALID_PARAMETER = 0x04
    TX_ERROR_BAD_ADDRESS = 0x06
    PORT_ALREADY_OPEN = 0x0A
    PORT_NOT_OPEN = 0x0B
    MAC_CONNECTION_FAILED = 0x0E
    HAN_RUNNING_OR_MODE_MISMATCH = 0x0F
    NOT_STARTED = 0x10
    BAD_PARAMETER_LENGTH = 0x11
    TOO_MANY_PORTS = 0x12
    RECEPTION_TIMEOUT = 0x13
    WRONG_OPERATION_MODE = 0x14
    HAN_AUTHENTICATING = 0x33
    ROUTE_B_RUNNING = 0x34
    ROUTE_B_AUTHENTICATING = 0x35
    BLOCK_NOT_STARTED = 0x37
    BUSY = 0x3D
    PANA_SETTINGS_MISSING = 0x51
    PANA_SEQUENCE_RUNNING = 0x52
    PANA_NO_INFORMATION = 0x53
    PANA_ALREADY_SET = 0x58
    PANA_MAX_EXCEEDED = 0x59
    HEADER_CHECKSUM_ERROR = 0xF0
    DATA_CHECKSUM_ERROR = 0xF1
    MESSAGE_TOO_SHORT = 0xF2
    MESSAGE_TOO_LONG = 0xF3


class OperationMode(IntEnum):
    """Set Initial Settings operation mode (Tosainu lib.rs, broute-j11 Table 20)."""

    HAN_PAN_COORDINATOR = 0x01
    HAN_COORDINATOR = 0x02
    HAN_END_DEVICE = 0x03
    DUAL = 0x05  # HAN + B-route


class TxPower(IntEnum):
    """Set Initial Settings transmission power."""

    MW_20 = 0x00
    MW_10 = 0x01
    MW_1 = 0x02


class GlobalState(IntEnum):
    """Get Status: global block (Tosainu lib.rs GlobalBlockStatus)."""

    INACTIVE = 0x02
    ACTIVE = 0x03


class BlockState(IntEnum):
    """Get Status: Route-B and HAN blocks (Tosainu lib.rs)."""

    INACTIVE = 0x01
    ACTIVE = 0x02
    AUTHENTICATING = 0x03


class ConnectionState(IntEnum):
    """Connection state notification 0x601A (broute-j11 §3.2.5.3, a C++ driver)."""

    MAC_CONNECTED = 0x01
    PANA_CONNECTED = 0x02
    MAC_DISCONNECTED = 0x03
    PANA_DISCONNECTED = 0x04


class PanaResult(IntEnum):
    """PANA result notification 0x6028 (broute-j11 §3.2.5.4, ak1211)."""

    SUCCESS = 0x01
    FAILURE = 0x02
    NO_RESPONSE = 0x03


class ReceptionFailureReason(IntEnum):
    """Reception failure notification 0x6038 (broute-j11 §3.2.5.5)."""

    DECODE = 0x01
    MAC = 0x02
    SIXLOWPAN = 0x20
    IP = 0x30
    UDP = 0x40


#: Frames whose data block is a credential or key: never shown in a repr.
_SECRET_COMMANDS: Final = frozenset({Command.SET_ROUTE_B_AUTH, Command.GET_ROUTE_B_KEY_RESPONSE})


def response_code(request: int) -> int:
    """The command code the module answers ``request`` with."""
    return request | _RESPONSE_FLAG


def checksum(data: bytes | bytearray | memoryview) -> int:
    """J11 checksum: the byte sum modulo 0x10000."""
    return sum(data) & _CHECKSUM_MASK


def data_repr(command: int, data: bytes) -> str:
    if command in _SECRET_COMMANDS:
        return f"<{len(data)} bytes masked>"
    return repr(data)


@dataclass(frozen=True, slots=True, repr=False)
class J11Frame:
    """One frame: command code, data block, and the unique code that gives the direction."""

    command: int
    data: bytes = b""
    unique_code: UniqueCode = UniqueCode.RESPONSE

    def __post_init__(self) -> None:
        if not 0 <= self.command <= 0xFFFF:
            raise ValueError(f"command code must be 0..0xFFFF, got {self.command!r}")
        if not isinstance(self.unique_code, int) or self.unique_code not in _UNIQUE_VALUES:
            raise ValueError(f"unknown unique code {self.unique_code!r}")
        object.__setattr__(self, "unique_code", UniqueCode(self.unique_code))
        object.__setattr__(self, "data", bytes(self.data))

    @property
    def is_request(self) -> bool:
        """Host -> module (unique code 0xD0EA83FC)."""
        return self.unique_code is UniqueCode.REQUEST

    def __repr__(self) -> str:
        return (
            f"J11Frame(command={self.command:#06x}, data={data_repr(self.command, self.data)}, "
            f"unique_code={self.unique_code.name})"
        )


def encode(frame: J11Frame, *, max_frame_size: int = MAX_FRAME_SIZE) -> bytes:
    """Serialise ``frame``, computing the message length and both checksums."""
    size = HEADER_SIZE + len(frame.data)
    if size > max_frame_size:
        raise EncodeError(f"J11 frame of {size} bytes exceeds the {max_frame_size}-byte limit")
    prefix = _PREFIX.pack(frame.unique_code, frame.command, len(frame.data) + _LENGTH_OVERHEAD)
    return prefix + _SUMS.pack(checksum(prefix), checksum(frame.data)) + frame.data


def decode(data: bytes, *, max_frame_size: int = MAX_FRAME_SIZE) -> J11Frame:
    """Decode exactly one frame; any fault raises :class:`DecodeError` naming its offset."""
    cur = Cursor(data, LAYER)
    unique = cur.pull_uint32("unique code")
    if unique not in _UNIQUE_VALUES:
        raise cur.error(f"unknown unique code {unique:#010x}", 0)
    command = cur.pull_uint16("command code")
    length = cur.pull_uint16("message length")
    header_sum = cur.pull_uint16("header checksum")
    expected = checksum(data[:_PREFIX_SIZE])
    if header_sum != expected:
        raise cur.error(f"header checksum {header_sum:#06x}, expected {expected:#06x}", 8)
    if not _LENGTH_OVERHEAD <= length <= max_frame_size - _PREFIX_SIZE:
        raise cur.error(f"message length {length} out of range", 6)
    data_sum = cur.pull_uint16("data checksum")
    body = cur.pull_bytes(length - _LENGTH_OVERHEAD, "data block")
    if checksum(body) != data_sum:
        raise cur.error(f"data checksum {data_sum:#06x}, expected {checksum(body):#06x}", 10)
    cur.expect_end("J11 frame")
    return J11Frame(command, body, UniqueCode(unique))


@dataclass(frozen=True, slots=True)
class J11Garbled:
    """Bytes the parser threw away while resynchronising; ``reason`` names the first fault."""

    reason: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


class FrameParser:
    """Splits a serial byte stream, chunked any way, into frames and garbled-byte reports.

    Never raises on input: bytes that cannot start a valid frame are reported as
    :class:`J11Garbled` and skipped up to the next unique code. At most
    ``max_frame_size - 1`` bytes stay buffered between calls.
    """

    __slots__ = ("_buf", "_max_frame_size")

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        if max_frame_size < HEADER_SIZE:
            raise ValueError(f"max_frame_size must be at least {HEADER_SIZE}")
        self._max_frame_size = max_frame_size
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget buffered bytes (after reopening the port, for example)."""
        self._buf.clear()

    def feed(self, data: bytes | bytearray | memoryview) -> list[J11Frame | J11Garbled]:
        """Add ``data``; return the frames it completes and the garbage it reveals, in order."""
        buf = self._buf
        buf += data
        events: list[J11Frame | J11Garbled] = []
        pos = 0
        junk_start = -1
        junk_reason = ""

        def skip(to: int, reason: str) -> None:
            nonlocal pos, junk_start, junk_reason
            if junk_start < 0:
                junk_start, junk_reason = pos, reason
            pos = to

        def flush() -> None:
            nonlocal junk_start
            if junk_start >= 0:
                events.append(J11Garbled(junk_reason, bytes(buf[junk_start:pos])))
                junk_start = -1

        while True:
            start = _sync(buf, pos)
            if start > pos:
                skip(start, "no unique code")
            if len(buf) - pos < HEADER_SIZE:
                break
            unique, command, length, header_sum, data_sum = _HEADER.unpack_from(buf, pos)
            if header_sum != checksum(buf[pos : pos + _PREFIX_SIZE]):
                skip(pos + 1, "header checksum mismatch")
                continue
            total = _PREFIX_SIZE + length
            if length < _LENGTH_OVERHEAD or total > self._max_frame_size:
                skip(pos + 1, f"message length {length} out of range")
                continue
            if len(buf) - pos < total:
                break
            body = bytes(buf[pos + HEADER_SIZE : pos + total])
            if checksum(body) != data_sum:
                skip(pos + 1, "data checksum mismatch")
                continue
            flush()
            events.append(J11Frame(command, body, UniqueCode(unique)))
            pos += total
        flush()
        del buf[:pos]
        return events


def _sync(buf: bytearray, pos: int) -> int:
    """Index of the first byte at or after ``pos`` that starts (a prefix of) a unique code."""
    while True:
        at = buf.find(_SYNC_BYTE, pos)
        if at < 0:
            return len(buf)
        head = bytes(buf[at : at + 4])
        if any(code.startswith(head) for code in _CODE_BYTES):
            return at
        pos = at + 1


# --- radio helpers -------------------------------------------------------------------------

#: Channel numbers of Set Initial Settings: 4 (922.5 MHz) .. 17 (927.7 MHz), 400 kHz apart
#: (Tosainu bp35c0-j11 lib.rs Channel; broute-j11 cites 63TR008E Table 21).
MIN_CHANNEL: Final = 4
MAX_CHANNEL: Final = 17
_CHANNEL_BASE_KHZ: Final = 922_500
_CHANNEL_SPACING_KHZ: Final = 400
#: Active-scan mask with channels 4..17 set (bit n = channel n).
ALL_CHANNELS_MASK: Final = 0x0003FFF0
#: Scan duration code d dwells 9.64 ms * 2**d per channel, d = 1..14 (Tosainu, broute-j11).
_SCAN_UNIT_MS: Final = 9.64
_MIN_SCAN_DURATION: Final = 1
_MAX_SCAN_DURATION: Final = 14
_MAC_SIZE: Final = 8
#: fe80::/64: the meter is reached on its link-local address (broute-j11, RS-WSUHA bridge).
_LINK_LOCAL_PREFIX: Final = bytes.fromhex("fe80000000000000")
#: Universal/local bit of the first interface-ID byte, inverted between MAC and IID (RFC 4291).
_UL_BIT: Final = 0x02
#: An active scan filters on the last 8 characters of the 32-character B-route ID.
_PAIRING_ID_SIZE: Final = 8


def _check_channel(channel: int) -> None:
    if not MIN_CHANNEL <= channel <= MAX_CHANNEL:
        raise ValueError(f"channel must be {MIN_CHANNEL}..{MAX_CHANNEL}, got {channel!r}")


def channel_frequency_khz(channel: int) -> int:
    """Centre frequency of ``channel`` in kHz (4 -> 922500)."""
    _check_channel(channel)
    return _CHANNEL_BASE_KHZ + _CHANNEL_SPACING_KHZ * (channel - MIN_CHANNEL)


def channel_for_frequency_khz(frequency_khz: int) -> int:
    """Channel number whose centre frequency is ``frequency_khz``."""
    steps, rest = divmod(frequency_khz - _CHANNEL_BASE_KHZ, _CHANNEL_SPACING_KHZ)
    channel = MIN_CHANNEL + steps
    if rest or not MIN_CHANNEL <= channel <= MAX_CHANNEL:
        raise ValueError(f"{frequency_khz} kHz is not a J11 channel centre")
    return channel


def scan_mask(channels: Iterable[int]) -> int:
    """Active-scan channel mask with one bit per channel."""
    mask = 0
    for channel in channels:
        _check_channel(channel)
        mask |= 1 << channel
    return mask


def mask_channels(mask: int) -> tuple[int, ...]:
    """Channels selected by an active-scan mask, ascending."""
    if mask & ~ALL_CHANNELS_MASK:
        raise ValueError(f"mask {mask:#010x} selects bits outside channels 4..17")
    return tuple(ch for ch in range(MIN_CHANNEL, MAX_CHANNEL + 1) if mask >> ch & 1)


def scan_duration_ms(code: int) -> float:
    """Per-channel dwell time of active-scan duration ``code`` (1..14), in milliseconds."""
    if not _MIN_SCAN_DURATION <= code <= _MAX_SCAN_DURATION:
        raise ValueError(f"scan duration code must be 1..14, got {code!r}")
    return _SCAN_UNIT_MS * (1 << code)


def link_local_from_mac(mac: bytes) -> IPv6Address:
    """The meter's link-local address: fe80::/64 + MAC with the U/L bit flipped."""
    if len(mac) != _MAC_SIZE:
        raise ValueError(f"MAC address must be {_MAC_SIZE} bytes, got {len(mac)}")
    return IPv6Address(_LINK_LOCAL_PREFIX + bytes((mac[0] ^ _UL_BIT,)) + mac[1:])


def mac_from_link_local(address: IPv6Address) -> bytes:
    """Inverse of :func:`link_local_from_mac`."""
    packed = address.packed
    if packed[:8] != _LINK_LOCAL_PREFIX:
        raise ValueError(f"{address} is not in fe80::/64")
    return bytes((packed[8] ^ _UL_BIT,)) + packed[9:]


def pairing_id(route_b_id: str) -> bytes:
    """Active-scan pairing ID: the last 8 characters of the B-route ID, ASCII."""
    if len(route_b_id) < _PAIRING_ID_SIZE or not route_b_id.isascii():
        raise ValueError("B-route ID must be ASCII and at least 8 characters")
    return route_b_id[-_PAIRING_ID_SIZE:].encode("ascii")
