"""Typed J11 messages of a B-route session, both directions (host <-> module).

``decode_message(frame)`` dispatches on the command code through a registry;
an unknown code, or a known code under the other direction's unique code,
gives a :class:`RawMessage`. ``encode_message(msg)`` builds the frame. A
response whose data is one failure result decodes to :class:`ResultResponse`
whatever its command: the module then sends no further fields (Tosainu
bp35c0-j11 tests for 0x2053 and 0x2008).

Layouts: Tosainu/bp35c0-j11-stuff (command.rs, response.rs tests), broute-j11
0.1.0 (citing ROHM 63TR008E), ak1211/smartmeter-route-b-app, and the frame
samples of ROHM application note 63AN028E. Decode errors carry layer ``"j11"``
and an offset into the frame's data block. RSSI fields are signed dBm.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any, ClassVar, Final, Self, cast, get_args

from ..._buffer import Cursor
from ...echonet.frame import ECHONET_PORT
from .frame import (
    LAYER,
    BlockState,
    Command,
    ConnectionState,
    GlobalState,
    J11Frame,
    OperationMode,
    PanaResult,
    ReceptionFailureReason,
    Result,
    TxPower,
    UniqueCode,
    data_repr,
    link_local_from_mac,
)
from .layout import (
    BEACONS,
    ENCRYPTED,
    MULTICAST,
    NO_BEACON,
    NO_ID,
    PAIRING_ID_SIZE,
    PASSWORD_SIZE,
    ROUTE_B_ID_SIZE,
    WITH_ID,
    FromModule,
    MessageLayout,
    Request,
    check_field,
    enum_or_int,
    pull_ascii,
)

# fmt: off
__all__ = [
    "ActiveScan", "Beacon", "CloseUdpPort", "ConnectionStateNotification",
    "DataReceivedNotification", "GetInitialSettings", "GetStatus", "GetVersion", "HardwareReset",
    "InitialSettingsResponse", "J11Message", "ModuleError", "OpenUdpPort",
    "PanaResultNotification", "RawMessage", "ReauthPana", "ReceptionFailureNotification",
    "ResultResponse", "ScanResultNotification", "SetInitialSettings", "SetRouteBAuth",
    "StartPana", "StartRouteB", "StartRouteBResponse", "StartupNotification", "StatusResponse",
    "TerminatePana", "TerminateRouteB", "TransmitData", "TransmitDataResponse",
    "VersionResponse", "decode_message", "encode_message",
]
# fmt: on


@dataclass(frozen=True, slots=True)
class HardwareReset(MessageLayout, Request):
    """Hardware reset (0x00D9); the module answers with :class:`StartupNotification`."""

    command: ClassVar[Command] = Command.HARDWARE_RESET


@dataclass(frozen=True, slots=True)
class GetVersion(MessageLayout, Request):
    """Get firmware version (0x006B)."""

    command: ClassVar[Command] = Command.GET_VERSION


@dataclass(frozen=True, slots=True)
class GetStatus(MessageLayout, Request):
    """Get block status (0x0001)."""

    command: ClassVar[Command] = Command.GET_STATUS


@dataclass(frozen=True, slots=True)
class GetInitialSettings(MessageLayout, Request):
    """Get initial settings (0x0107)."""

    command: ClassVar[Command] = Command.GET_INITIAL_SETTINGS


@dataclass(frozen=True, slots=True)
class StartRouteB(MessageLayout, Request):
    """Start Route-B operation (0x0053): MAC-level join to the meter set by 0x005F."""

    command: ClassVar[Command] = Command.START_ROUTE_B


@dataclass(frozen=True, slots=True)
class StartPana(MessageLayout, Request):
    """Start Route-B PANA authentication (0x0056); the outcome follows as 0x6028."""

    command: ClassVar[Command] = Command.START_PANA


@dataclass(frozen=True, slots=True)
class TerminatePana(MessageLayout, Request):
    """Terminate Route-B PANA (0x0057)."""

    command: ClassVar[Command] = Command.TERMINATE_PANA


@dataclass(frozen=True, slots=True)
class TerminateRouteB(MessageLayout, Request):
    """Terminate Route-B operation (0x0058)."""

    command: ClassVar[Command] = Command.TERMINATE_ROUTE_B


@dataclass(frozen=True, slots=True)
class ReauthPana(MessageLayout, Request):
    """Redo Route-B PANA authentication (0x00D2)."""

    command: ClassVar[Command] = Command.REAUTH_PANA


@dataclass(frozen=True, slots=True, kw_only=True)
class SetInitialSettings(MessageLayout, Request):
    """Set initial settings (0x005F); B-route needs mode DUAL. Channel 4..17 (0xFF unverified)."""

    command: ClassVar[Command] = Command.SET_INITIAL_SETTINGS
    _FORMAT = "B ? B B"
    _TYPES: ClassVar = {"mode": OperationMode, "tx_power": TxPower}
    mode: OperationMode | int = OperationMode.DUAL
    han_sleep: bool = False
    channel: int
    tx_power: TxPower | int = TxPower.MW_20


@dataclass(frozen=True, slots=True)
class OpenUdpPort(MessageLayout, Request):
    """Open UDP port (0x0005); 3610 for ECHONET Lite."""

    command: ClassVar[Command] = Command.OPEN_UDP_PORT
    _FORMAT = "H"
    port: int = ECHONET_PORT


@dataclass(frozen=True, slots=True)
class CloseUdpPort(MessageLayout, Request):
    """Close UDP port (0x0006)."""

    command: ClassVar[Command] = Command.CLOSE_UDP_PORT
    _FORMAT = "H"
    port: int = ECHONET_PORT


@dataclass(frozen=True, slots=True, repr=False)
class SetRouteBAuth(Request):
    """Set Route-B PANA authentication info (0x0054): 32-char ID + 12-char password, ASCII."""

    command: ClassVar[Command] = Command.SET_ROUTE_B_AUTH
    route_b_id: str
    password: str

    def __post_init__(self) -> None:
        for name, value, size in (
            ("B-route ID", self.route_b_id, ROUTE_B_ID_SIZE),
            ("password", self.password, PASSWORD_SIZE),
        ):
            if not isinstance(value, str) or len(value) != size or not value.isascii():
                raise ValueError(f"{name} must be {size} ASCII characters")

    def __repr__(self) -> str:
        return "SetRouteBAuth(route_b_id='***', password='***')"

    def to_data(self) -> bytes:
        return (self.route_b_id + self.password).encode("ascii")

    @classmethod
    def from_cursor(cls, cur: Cursor) -> Self:
        route_b_id = pull_ascii(cur, ROUTE_B_ID_SIZE, "B-route ID")
        return cls(route_b_id, pull_ascii(cur, PASSWORD_SIZE, "password"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveScan(Request):
    """Active scan (0x0051): duration code (1..14), channel mask, optional 8-byte pairing ID.

    Without a pairing ID the flag is 0x00 and 8 zero bytes follow (broute-j11);
    the short form that ends after the flag (Tosainu) decodes too.
    """

    command: ClassVar[Command] = Command.ACTIVE_SCAN
    duration: int
    channel_mask: int
    pairing_id: bytes | None = None

    def __post_init__(self) -> None:
        check_field(self, "duration", "B")
        check_field(self, "channel_mask", "I")
        if self.pairing_id is not None:
            check_field(self, "pairing_id", f"{PAIRING_ID_SIZE}s")

    def to_data(self) -> bytes:
        flag = NO_ID if self.pairing_id is None else WITH_ID
        ident = self.pairing_id or bytes(PAIRING_ID_SIZE)
        return struct.pack(">BIB8s", self.duration, self.channel_mask, flag, ident)

    @classmethod
    def from_cursor(cls, cur: Cursor) -> Self:
        duration, mask = cur.pull_uint8("scan duration"), cur.pull_uint32("channel mask")
        start = cur.offset
        flag = cur.pull_uint8("ID flag")
        if flag not in (NO_ID, WITH_ID):
            raise cur.error(f"ID flag must be 0 or 1, got {flag:#04x}", start)
        if flag == NO_ID and cur.at_end():
            return cls(duration=duration, channel_mask=mask)
        ident = cur.pull_bytes(PAIRING_ID_SIZE, "pairing ID")
        return cls(duration=duration, channel_mask=mask, pairing_id=ident if flag else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransmitData(MessageLayout, Request):
    """Transmit UDP data (0x0008): destination, ports, length-prefixed payload.

    The module takes at most ``MAX_UDP_PAYLOAD`` (1232) payload bytes; the limit
    is left to the module (it answers with a failure result) so an emulator can
    decode an oversized request and refuse it.
    """

    command: ClassVar[Command] = Command.TRANSMIT_DATA
    _FORMAT = "16s H H #"
    _TYPES: ClassVar = {"destination": IPv6Address}
    destination: IPv6Address
    source_port: int = ECHONET_PORT
    destination_port: int = ECHONET_PORT
    payload: bytes


# --- module -> host responses --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultResponse(FromModule):
    """A response of the result byte alone (0x205F, 0x2054, 0x2051, 0x2005, ...), or any
    response that failed."""

    command: int
    result: Result | int = Result.SUCCESS

    def __post_init__(self) -> None:
        check_field(self, "command", "H")
        check_field(self, "result", "B")

    def to_data(self) -> bytes:
        return bytes((self.result,))


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusResponse(MessageLayout, FromModule):
    """Get Status response (0x2001): global, Route-B and HAN block states."""

    command: ClassVar[Command] = Command.GET_STATUS_RESPONSE
    _FORMAT = "B B B B"
    _TYPES: ClassVar = {
        "result": Result,
        "global_state": GlobalState,
        "route_b": BlockState,
        "han": BlockState,
    }
    result: Result | int = Result.SUCCESS
    global_state: GlobalState | int
    route_b: BlockState | int
    han: BlockState | int


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionResponse(MessageLayout, FromModule):
    """Get Version response (0x206B); firmware ID 0x0400 = HAN + B-route dual stack (ak1211)."""

    command: ClassVar[Command] = Command.GET_VERSION_RESPONSE
    _FORMAT = "B H B B I"
    _TYPES: ClassVar = {"result": Result}
    result: Result | int = Result.SUCCESS
    firmware_id: int
    major: int
    minor: int
    revision: int


@dataclass(frozen=True, slots=True, kw_only=True)
class InitialSettingsResponse(MessageLayout, FromModule):
    """Get Initial Settings response (0x2107)."""

    command: ClassVar[Command] = Command.GET_INITIAL_SETTINGS_RESPONSE
    _FORMAT = "B B ? B B"
    _TYPES: ClassVar = {"result": Result, "mode": OperationMode, "tx_power": TxPower}
    result: Result | int = Result.SUCCESS
    mode: OperationMode | int
    han_sleep: bool
    channel: int
    tx_power: TxPower | int


@dataclass(frozen=True, slots=True, kw_only=True)
class StartRouteBResponse(MessageLayout, FromModule):
    """Start Route-B response (0x2053) on success: the meter's channel, PAN ID, MAC and RSSI."""

    command: ClassVar[Command] = Command.START_ROUTE_B_RESPONSE
    _FORMAT = "B B H 8s b"
    _TYPES: ClassVar = {"result": Result}
    result: Result | int = Result.SUCCESS
    channel: int
    pan_id: int
    mac: bytes
    rssi: int

    @property
    def meter_address(self) -> IPv6Address:
        return link_local_from_mac(self.mac)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransmitDataResponse(MessageLayout, FromModule):
    """Transmit Data response (0x2008): result, status byte, then bytes of unknown meaning.

    Status per broute-j11: high nibble 1 = held in the indirect queue, low nibble
    = transmission result (0 sent, 5 no ACK). ROHM 63AN028E sample F21 carries the
    start of the sent payload after the status; Tosainu keeps such bytes too.
    """

    command: ClassVar[Command] = Command.TRANSMIT_DATA_RESPONSE
    _FORMAT = "B B *"
    _TYPES: ClassVar = {"result": Result}
    result: Result | int = Result.SUCCESS
    status: int = 0x00
    trailing: bytes = b""

    @property
    def queued(self) -> bool:
        return self.status >> 4 == 1

    @property
    def tx_result(self) -> int:
        return self.status & 0x0F


@dataclass(frozen=True, slots=True)
class ModuleError(FromModule):
    """Error frame: 0x2FFF header checksum error, 0xFFFF invalid command code.

    Our sources give no data layout for these; the bytes are kept as sent.
    """

    command: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if self.command not in _ERROR_CODES:
            raise ValueError(f"not an error frame code: {self.command!r}")

    def to_data(self) -> bytes:
        return self.data


# --- module -> host notifications ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupNotification(MessageLayout, FromModule):
    """Start-up complete (0x6019), after power-on or hardware reset."""

    command: ClassVar[Command] = Command.STARTUP


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionStateNotification(MessageLayout, FromModule):
    """Connection state change (0x601A): state, peer MAC, RSSI."""

    command: ClassVar[Command] = Command.CONNECTION_STATE
    _FORMAT = "B 8s b"
    _TYPES: ClassVar = {"state": ConnectionState}
    state: ConnectionState | int
    mac: bytes
    rssi: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PanaResultNotification(MessageLayout, FromModule):
    """PANA authentication result (0x6028): result and the meter's MAC."""

    command: ClassVar[Command] = Command.PANA_RESULT
    _FORMAT = "B 8s"
    _TYPES: ClassVar = {"result": PanaResult}
    result: PanaResult | int
    mac: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Beacon(MessageLayout):
    """One beacon heard during an active scan."""

    _FORMAT = "8s H b"
    mac: bytes
    pan_id: int
    rssi: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanResultNotification(FromModule):
    """Active-scan result for one channel (0x4051); ``beacons`` is None when nothing answered."""

    command: ClassVar[Command] = Command.SCAN_RESULT
    channel: int
    beacons: tuple[Beacon, ...] | None = None

    def __post_init__(self) -> None:
        check_field(self, "channel", "B")
        if self.beacons is not None and len(self.beacons) > 0xFF:
            raise ValueError("at most 255 beacons fit in one scan result")

    def to_data(self) -> bytes:
        if self.beacons is None:
            return bytes((NO_BEACON, self.channel))
        head = bytes((BEACONS, self.channel, len(self.beacons)))
        return head + b"".join(beacon.to_data() for beacon in self.beacons)

    @classmethod
    def from_cursor(cls, cur: Cursor) -> Self:
        status, channel = cur.pull_uint8("scan status"), cur.pull_uint8("channel")
        if status == NO_BEACON:
            return cls(channel=channel)
        if status != BEACONS:
            raise cur.error(f"scan status must be 0 or 1, got {status:#04x}", 0)
        count = cur.pull_uint8("beacon count")
        beacons = tuple(Beacon.from_cursor(cur) for _ in range(count))
        return cls(channel=channel, beacons=beacons)


@dataclass(frozen=True, slots=True, kw_only=True)
class DataReceivedNotification(MessageLayout, FromModule):
    """UDP data received (0x6018): 27-byte header, then the payload."""

    command: ClassVar[Command] = Command.DATA_RECEIVED
    _FORMAT = "16s H H H B B b #"
    _TYPES: ClassVar = {"source": IPv6Address}
    source: IPv6Address
    source_port: int = ECHONET_PORT
    destination_port: int = ECHONET_PORT
    source_pan_id: int
    address_type: int = 0x00
    encryption: int = ENCRYPTED
    rssi: int
    payload: bytes

    @property
    def is_multicast(self) -> bool:
        return self.address_type == MULTICAST

    @property
    def is_encrypted(self) -> bool:
        return self.encryption == ENCRYPTED


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceptionFailureNotification(MessageLayout, FromModule):
    """Packet reception failure (0x6038); layout from broute-j11 only.

    ``fragment_flag`` 0x00 means a fragment was present; ``trailing`` keeps any
    bytes after the 21 known ones.
    """

    command: ClassVar[Command] = Command.RECEPTION_FAILURE
    _FORMAT = "B 16s B B H *"
    _TYPES: ClassVar = {"reason": ReceptionFailureReason, "source": IPv6Address}
    reason: ReceptionFailureReason | int
    source: IPv6Address
    sequence: int
    fragment_flag: int
    fragment_tag: int
    trailing: bytes = b""


@dataclass(frozen=True, slots=True, repr=False)
class RawMessage:
    """A frame no typed message covers, kept as is (secret-bearing codes masked in repr)."""

    command: int
    data: bytes
    unique_code: UniqueCode

    def to_data(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        data = data_repr(self.command, self.data)
        return f"RawMessage(command={self.command:#06x}, data={data}, {self.unique_code.name})"


J11Message = (
    HardwareReset | GetVersion | GetStatus | GetInitialSettings | StartRouteB | StartPana
    | TerminatePana | TerminateRouteB | ReauthPana | SetInitialSettings | SetRouteBAuth
    | ActiveScan | OpenUdpPort | CloseUdpPort | TransmitData | ResultResponse | StatusResponse
    | VersionResponse | InitialSettingsResponse | StartRouteBResponse | TransmitDataResponse
    | ModuleError | StartupNotification | ScanResultNotification | DataReceivedNotification
    | ConnectionStateNotification | PanaResultNotification | ReceptionFailureNotification
    | RawMessage
)  # fmt: skip

# --- registry ------------------------------------------------------------------------------

_Decoder = Callable[[int, Cursor], J11Message]


def _typed_decoder(cls: Any) -> _Decoder:
    def decoder(_command: int, cur: Cursor) -> J11Message:
        return cast(J11Message, cls.from_cursor(cur))

    return decoder


def _result_only(command: int, cur: Cursor) -> J11Message:
    return ResultResponse(
        enum_or_int(Command, command), enum_or_int(Result, cur.pull_uint8("result"))
    )


def _module_error(command: int, cur: Cursor) -> J11Message:
    return ModuleError(command, cur.pull_rest())


_ERROR_CODES: Final = frozenset({Command.HEADER_CHECKSUM_ERROR, Command.INVALID_COMMAND})
#: Every message class with a fixed command code decodes through its ``from_cursor``.
_REGISTRY: Final[dict[int, tuple[UniqueCode, _Decoder]]] = {
    cls.command: (cls.unique_code, _typed_decoder(cls))
    for cls in get_args(J11Message)
    if isinstance(getattr(cls, "command", None), Command)
}
#: Responses whose data is the result byte alone (Tosainu response.rs, broute-j11).
_REGISTRY.update(
    (code, (UniqueCode.RESPONSE, _result_only))
    for code in (
        Command.SET_INITIAL_SETTINGS_RESPONSE, Command.SET_ROUTE_B_AUTH_RESPONSE,
        Command.ACTIVE_SCAN_RESPONSE, Command.OPEN_UDP_PORT_RESPONSE,
        Command.CLOSE_UDP_PORT_RESPONSE, Command.START_PANA_RESPONSE,
        Command.TERMINATE_PANA_RESPONSE, Command.TERMINATE_ROUTE_B_RESPONSE,
        Command.REAUTH_PANA_RESPONSE,
    )
)  # fmt: skip
_REGISTRY.update((code, (UniqueCode.RESPONSE, _module_error)) for code in _ERROR_CODES)
#: Command codes 0x2xxx are responses: request | 0x2000.
_CLASS_MASK, _RESPONSE_CLASS = 0xE000, 0x2000


def _is_failed_response(frame: J11Frame) -> bool:
    """A response frame whose only data byte is a non-success result."""
    if frame.command & _CLASS_MASK != _RESPONSE_CLASS or frame.command in _ERROR_CODES:
        return False
    return len(frame.data) == 1 and frame.data[0] != Result.SUCCESS


def decode_message(frame: J11Frame) -> J11Message:
    """Typed message for ``frame``; :class:`DecodeError` if a known layout does not fit."""
    entry = _REGISTRY.get(frame.command)
    if entry is None or entry[0] != frame.unique_code:
        return RawMessage(frame.command, frame.data, frame.unique_code)
    if _is_failed_response(frame):
        return _result_only(frame.command, Cursor(frame.data, LAYER))
    cur = Cursor(frame.data, LAYER)
    message = entry[1](frame.command, cur)
    cur.expect_end(f"command {frame.command:#06x} data")
    return message


def encode_message(message: J11Message) -> J11Frame:
    """The frame that carries ``message``."""
    return J11Frame(message.command, message.to_data(), message.unique_code)
