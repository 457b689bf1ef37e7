"""G3 ADP serial protocol (USI protocol 0x25): typed host/modem messages, encode and decode.

DATA of a USI frame = command id (1 byte) + parameters; multi-byte integers are
big-endian. Layouts follow Microchip-MPLAB-Harmony/smartenergy_g3
``g3/src/adp_serial/adp_serial.c`` (commit 62d63090) and its newer template
``adp_serial.c.ftl`` (commit 499b4299), the modem side of the protocol; where the older
ASF-based firmware driven by dmoghnie/ne-g3 differs, the difference is an optional
trailing field (see each class). Firmware quirks a host must tolerate:

* adp_serial.c 62d63090 reads the JOIN media type from the LBA low byte and answers
  ADP SET/GET with their confirm *plus* STATUS(UNKNOWN_COMMAND); both fixed in 499b4299.
* GET confirm: the value is only serialised for attributes the firmware knows, so
  the attribute length byte may disagree with the bytes that follow.
* Commands >= 0x40 collide with the XLEN bits (6-7) of newer Harmony USI code, which
  also masks the command to 6 bits when sending: LBP_SET_CONFIRM 0x46 may arrive as 0x06.
* Manufacturer attribute ids 0x080000C2/0x080000C3 mean EAP PSK / network access
  identifier in the ASF firmware (ne-g3) but EXTENDED_ADDRESS / PAN_ID in Harmony
  (``adp_api_types.h``); Harmony sets the PSK and IDP through LBP_SET_REQUEST.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Self, TypeVar

from .._buffer import Cursor, Writer
from ..errors import EncodeError

__all__ = [
    "AdpAttribute", "AdpCommand", "AdpMessage", "AdpStatus", "Band", "BufferIndication",
    "DataConfirm", "DataIndication", "DataRequest", "DiscoveryConfirm", "DiscoveryIndication",
    "DiscoveryRequest", "GetConfirm", "GetRequest", "Initialize", "LbpAttribute", "LbpSetConfirm",
    "LbpSetRequest", "LbpStatus", "LeaveConfirm", "LeaveIndication", "LeaveRequest",
    "LegacyAdpAttribute", "NetworkJoinConfirm", "NetworkJoinRequest", "NetworkStartConfirm",
    "NetworkStartRequest", "NetworkStatusIndication", "RawAdpMessage", "ResetConfirm",
    "ResetRequest", "SerialStatus", "SetConfirm", "SetRequest", "Status", "decode_adp",
]

_LAYER = "g3adp"


class AdpCommand(IntEnum):
    """ADP serial message ids (adp_serial.c ADP_SERIAL_MSG_ID)."""

    STATUS = 0x00
    INITIALIZE = 0x0A
    DATA_REQUEST = 0x0B
    DISCOVERY_REQUEST = 0x0C
    NETWORK_START_REQUEST = 0x0D
    NETWORK_JOIN_REQUEST = 0x0E
    NETWORK_LEAVE_REQUEST = 0x0F
    RESET_REQUEST = 0x10
    SET_REQUEST = 0x11
    GET_REQUEST = 0x12
    LBP_REQUEST = 0x13
    ROUTE_DISCOVERY_REQUEST = 0x14
    PATH_DISCOVERY_REQUEST = 0x15
    MAC_SET_REQUEST = 0x16
    MAC_GET_REQUEST = 0x17
    NO_IP_DATA_REQUEST = 0x18
    DATA_CONFIRM = 0x1E
    DATA_INDICATION = 0x1F
    NETWORK_STATUS_INDICATION = 0x20
    DISCOVERY_CONFIRM = 0x21
    NETWORK_START_CONFIRM = 0x22
    NETWORK_JOIN_CONFIRM = 0x23
    NETWORK_LEAVE_CONFIRM = 0x24
    NETWORK_LEAVE_INDICATION = 0x25
    RESET_CONFIRM = 0x26
    SET_CONFIRM = 0x27
    GET_CONFIRM = 0x28
    LBP_CONFIRM = 0x29
    LBP_INDICATION = 0x2A
    ROUTE_DISCOVERY_CONFIRM = 0x2B
    PATH_DISCOVERY_CONFIRM = 0x2C
    MAC_SET_CONFIRM = 0x2D
    MAC_GET_CONFIRM = 0x2E
    BUFFER_INDICATION = 0x2F
    DISCOVERY_INDICATION = 0x30
    PREQ_INDICATION = 0x31
    UPD_NON_VOLATILE_DATA_INDICATION = 0x32
    ROUTE_NOT_FOUND_INDICATION = 0x33
    LBP_SET_REQUEST = 0x3C
    LBP_DEV_FORCE_REGISTER = 0x3D
    LBP_COORD_KICK_DEVICE = 0x3E
    LBP_COORD_REKEY = 0x3F
    LBP_COORD_SET_REKEY_PHASE = 0x40
    LBP_COORD_ACTIVATE_NEW_KEY = 0x41
    LBP_COORD_SHORT_ADDRESS_ASSIGN = 0x42
    LBP_SET_CONFIRM = 0x46
    LBP_COORD_JOIN_REQUEST_INDICATION = 0x47
    LBP_COORD_JOIN_COMPLETE_INDICATION = 0x48
    LBP_COORD_LEAVE_INDICATION = 0x49


class SerialStatus(IntEnum):
    """Result in a generic STATUS message (adp_serial.c ADP_SERIAL_STATUS)."""

    SUCCESS = 0
    NOT_ALLOWED = 1
    UNKNOWN_COMMAND = 2
    INVALID_PARAMETER = 3


class AdpStatus(IntEnum):
    """ADP primitive status (smartenergy_g3 adp_api_types.h ADP_STATUS)."""

    SUCCESS = 0x00
    INVALID_REQUEST = 0xA1
    FAILED = 0xA2
    INVALID_IPV6_FRAME = 0xA3
    NOT_PERMITED = 0xA4
    ROUTE_ERROR = 0xA5
    TIMEOUT = 0xA6
    INVALID_INDEX = 0xA7
    INVALID_PARAMETER = 0xA8
    NO_BEACON = 0xA9
    READ_ONLY = 0xB0
    UNSUPPORTED_ATTRIBUTE = 0xB1
    INCOMPLETE_PATH = 0xB2
    BUSY = 0xB3
    NO_BUFFERS = 0xB4
    TRICKLE_REDUNDANT = 0xB5
    ERROR_INTERNAL = 0xFF


class LbpStatus(IntEnum):
    """LBP set-parameter result (smartenergy_g3 lbp_defs.h LBP_STATUS)."""

    OK = 0
    NOK = 1
    UNSUPPORTED_PARAMETER = 2
    INVALID_INDEX = 3
    INVALID_LENGTH = 4
    INVALID_VALUE = 5


class Band(IntEnum):
    """PLC band in INITIALIZE (adp.h ADP_BAND; ARIB is the Japanese band)."""

    CENELEC_A = 0
    CENELEC_B = 1
    FCC = 2
    ARIB = 3
    RF_ONLY = 255


class AdpAttribute(IntEnum):
    """ADP IB ids a HEMS device uses (smartenergy_g3 adp_api_types.h ADP_PIB_ATTRIBUTE)."""

    SECURITY_LEVEL = 0x00000000
    PREFIX_TABLE = 0x00000001
    CONTEXT_INFORMATION_TABLE = 0x00000007
    COORD_SHORT_ADDRESS = 0x00000008
    MAX_HOPS = 0x0000000F
    DEVICE_TYPE = 0x00000010
    ROUTING_TABLE_ENTRY_TTL = 0x00000012
    SOFT_VERSION = 0x0000001C
    MAX_JOIN_WAIT_TIME = 0x00000020
    PATH_DISCOVERY_TIME = 0x00000021
    ACTIVE_KEY_INDEX = 0x00000022
    DESTINATION_ADDRESS_SET = 0x00000023
    DEFAULT_COORD_ROUTE_ENABLED = 0x00000024
    DISABLE_DEFAULT_ROUTING = 0x000000F0
    MANUF_REASSEMBY_TIMER = 0x080000C0
    MANUF_IPV6_HEADER_COMPRESSION = 0x080000C1
    MANUF_EXTENDED_ADDRESS = 0x080000C2
    MANUF_PAN_ID = 0x080000C3
    MANUF_BROADCAST_SEQUENCE_NUMBER = 0x080000C4
    MANUF_SHORT_ADDRESS = 0x080000D4


class LegacyAdpAttribute(IntEnum):
    """Manufacturer ids of the older ASF G3 firmware (ne-g3 ``adp.rs`` EAdpPibAttribute).

    Same numbers as Harmony's EXTENDED_ADDRESS / PAN_ID: which one applies depends on
    the modem firmware. One older Atmel header spells them 0x800000C2/0x800000C3.
    """

    EAP_PRESHARED_KEY = 0x080000C2  # 16 bytes
    EAP_NETWORK_ACCESS_IDENTIFIER = 0x080000C3  # ID_P: 36 bytes for ARIB, 8 otherwise
    REGISTER_DEVICE = 0x080000C5


class LbpAttribute(IntEnum):
    """LBP IB ids for LBP_SET_REQUEST (smartenergy_g3 lbp_defs.h LBP_ATTRIBUTE)."""

    IDS = 0x00000000  # ID_S: 34 bytes for ARIB, 8 otherwise
    IDP = 0x00000001  # ID_P: 36 bytes for ARIB, 8 otherwise
    PSK = 0x00000002  # 16 bytes
    GMK = 0x00000003  # 16 bytes
    REKEY_GMK = 0x00000004  # 16 bytes
    RANDP = 0x00000005  # 16 bytes
    MSG_TIMEOUT = 0x00000006  # 16 bits, seconds


#: Attribute ids whose value is key material: masked in repr.
_SECRET_ADP_IDS = frozenset({int(LegacyAdpAttribute.EAP_PRESHARED_KEY)})
_SECRET_LBP_IDS = frozenset(
    int(a) for a in (LbpAttribute.PSK, LbpAttribute.GMK, LbpAttribute.REKEY_GMK, LbpAttribute.RANDP)
)

#: Address size bytes in NETWORK_STATUS indication (adp_api_types.h ADP_ADDRESS_16/64BITS).
_ADDR_16 = 2
_ADDR_64 = 8

_E = TypeVar("_E", bound=IntEnum)


def _known(enum: type[_E], value: int) -> _E | int:
    try:
        return enum(value)
    except ValueError:
        return value


# --- field kinds: how one dataclass field is read from / written to the wire -----------


@dataclass(frozen=True, slots=True)
class _Kind:
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


def _optional(kind: _Kind) -> _Kind:
    """A trailing field some firmware omits: None when absent."""

    def push(w: Writer, value: Any) -> None:
        if value is not None:
            kind.push(w, value)

    return _Kind(lambda cur, what: None if cur.at_end() else kind.pull(cur, what), push)


def _enum8(enum: type[IntEnum]) -> _Kind:
    return _Kind(lambda cur, what: _known(enum, cur.pull_uint8(what)), _U8.push)


_U8 = _Kind(Cursor.pull_uint8, lambda w, v: w.push_uint8(int(v)))
_U16 = _Kind(Cursor.pull_uint16, Writer.push_uint16)
_U32 = _Kind(Cursor.pull_uint32, lambda w, v: w.push_uint32(int(v)))
_BOOL = _Kind(_pull_bool, lambda w, v: w.push_uint8(int(v)))
#: u16 length + bytes (the IPv6 packet of DATA request/indication).
_BLOB16 = _Kind(lambda cur, what: cur.pull_bytes(cur.pull_uint16(what), what),
                lambda w, v: _push_blob(w, v, 2))
#: u8 length + bytes (attribute values).
_BLOB8 = _Kind(lambda cur, what: cur.pull_bytes(cur.pull_uint8(what), what),
               lambda w, v: _push_blob(w, v, 1))
_ADDRESS = _Kind(_pull_address, _push_address)
_ADP_STATUS = _enum8(AdpStatus)


class AdpMessage:
    """Base of every ADP serial message; ``encode()`` gives USI DATA (command + fields).

    ``_layout`` lists the wire kind of each dataclass field, in field order.
    """

    __slots__ = ()
    command: ClassVar[int]
    _layout: ClassVar[tuple[_Kind, ...]] = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()  # field names, filled in by @dataclass

    def encode(self) -> bytes:
        w = Writer()
        w.push_uint8(self.command)
        self._push(w)
        return w.getvalue()

    def _push(self, w: Writer) -> None:
        for name, kind in zip(self.__match_args__, self._layout, strict=True):
            kind.push(w, getattr(self, name))

    @classmethod
    def _pull(cls, cur: Cursor) -> Self:
        pairs = zip(cls.__match_args__, cls._layout, strict=True)
        return cls(*[kind.pull(cur, name) for name, kind in pairs])


def _set_repr(message: SetRequest | LbpSetRequest, secret_ids: frozenset[int]) -> str:
    value = message.value
    shown = f"<{len(value)} bytes masked>" if message.attribute_id in secret_ids else repr(value)
    return (
        f"{type(message).__name__}(attribute_id={int(message.attribute_id):#010x}, "
        f"attribute_index={message.attribute_index}, value={shown})"
    )


# --- generic ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status(AdpMessage):
    """STATUS: answers INITIALIZE and any request the modem could not process."""

    command: ClassVar[int] = AdpCommand.STATUS
    _layout = (_enum8(SerialStatus), _enum8(AdpCommand))
    status: SerialStatus | int
    request: AdpCommand | int


@dataclass(frozen=True, slots=True)
class RawAdpMessage(AdpMessage):
    """A message whose command id this codec does not model; kept byte-exact."""

    raw_command: int
    payload: bytes

    def encode(self) -> bytes:
        return bytes((self.raw_command,)) + self.payload


# --- host -> modem ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Initialize(AdpMessage):
    """INITIALIZE: band + is_coordinator (Harmony); ASF firmware takes the band only (None)."""

    command: ClassVar[int] = AdpCommand.INITIALIZE
    _layout = (_enum8(Band), _optional(_BOOL))
    band: Band | int
    is_coordinator: bool | None = False


@dataclass(frozen=True, slots=True)
class DataRequest(AdpMessage):
    """DATA request: handle, discover route, QoS, a full IPv6 packet (the modem compresses)."""

    command: ClassVar[int] = AdpCommand.DATA_REQUEST
    _layout = (_U8, _BOOL, _U8, _BLOB16)
    nsdu_handle: int
    discover_route: bool
    quality_of_service: int
    ipv6_packet: bytes


@dataclass(frozen=True, slots=True)
class DiscoveryRequest(AdpMessage):
    """DISCOVERY request: scan for PANs for ``duration_s`` seconds."""

    command: ClassVar[int] = AdpCommand.DISCOVERY_REQUEST
    _layout = (_U8,)
    duration_s: int


@dataclass(frozen=True, slots=True)
class NetworkStartRequest(AdpMessage):
    """NETWORK_START request (coordinator only): PAN id."""

    command: ClassVar[int] = AdpCommand.NETWORK_START_REQUEST
    _layout = (_U16,)
    pan_id: int


@dataclass(frozen=True, slots=True)
class NetworkJoinRequest(AdpMessage):
    """NETWORK_JOIN request: PAN id, LBA short address, media type (None: ASF 4-byte form)."""

    command: ClassVar[int] = AdpCommand.NETWORK_JOIN_REQUEST
    _layout = (_U16, _U16, _optional(_U8))
    pan_id: int
    lba_address: int
    media_type: int | None = 0


@dataclass(frozen=True, slots=True)
class LeaveRequest(AdpMessage):
    """NETWORK_LEAVE request (no parameters)."""

    command: ClassVar[int] = AdpCommand.NETWORK_LEAVE_REQUEST


@dataclass(frozen=True, slots=True)
class ResetRequest(AdpMessage):
    """RESET request (no parameters)."""

    command: ClassVar[int] = AdpCommand.RESET_REQUEST


@dataclass(frozen=True, slots=True, repr=False)
class SetRequest(AdpMessage):
    """ADP SET request: id(4) index(2) length(1) value; integers in value are big-endian."""

    command: ClassVar[int] = AdpCommand.SET_REQUEST
    _layout = (_U32, _U16, _BLOB8)
    attribute_id: int
    attribute_index: int
    value: bytes

    def __repr__(self) -> str:
        return _set_repr(self, _SECRET_ADP_IDS)


@dataclass(frozen=True, slots=True)
class GetRequest(AdpMessage):
    """ADP GET request: id(4) index(2)."""

    command: ClassVar[int] = AdpCommand.GET_REQUEST
    _layout = (_U32, _U16)
    attribute_id: int
    attribute_index: int = 0


@dataclass(frozen=True, slots=True, repr=False)
class LbpSetRequest(AdpMessage):
    """LBP_SET request (Harmony): same layout as SET with LBP ids (PSK, IDP, ...)."""

    command: ClassVar[int] = AdpCommand.LBP_SET_REQUEST
    _layout = (_U32, _U16, _BLOB8)
    attribute_id: int
    attribute_index: int
    value: bytes

    def __repr__(self) -> str:
        return _set_repr(self, _SECRET_LBP_IDS)


# --- modem -> host ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataConfirm(AdpMessage):
    """DATA confirm: status, handle of the request."""

    command: ClassVar[int] = AdpCommand.DATA_CONFIRM
    _layout = (_ADP_STATUS, _U8)
    status: AdpStatus | int
    nsdu_handle: int


@dataclass(frozen=True, slots=True)
class DataIndication(AdpMessage):
    """DATA indication: link quality, then the decompressed IPv6 packet."""

    command: ClassVar[int] = AdpCommand.DATA_INDICATION
    _layout = (_U8, _BLOB16)
    link_quality: int
    ipv6_packet: bytes


@dataclass(frozen=True, slots=True)
class NetworkStatusIndication(AdpMessage):
    """NETWORK_STATUS indication; an address is an int (16-bit) or 8 bytes (EUI-64).

    ``media_type`` is sent by Harmony only (None when absent).
    """

    command: ClassVar[int] = AdpCommand.NETWORK_STATUS_INDICATION
    _layout = (_U16, _ADDRESS, _ADDRESS, _ADP_STATUS, _U8, _U8, _optional(_U8))
    pan_id: int
    source: int | bytes
    destination: int | bytes
    status: AdpStatus | int
    security_level: int
    key_index: int
    media_type: int | None = None


@dataclass(frozen=True, slots=True)
class DiscoveryIndication(AdpMessage):
    """DISCOVERY indication, one per PAN heard: PAN, LQI, LBA, route cost (, media type)."""

    command: ClassVar[int] = AdpCommand.DISCOVERY_INDICATION
    _layout = (_U16, _U8, _U16, _U16, _optional(_U8))
    pan_id: int
    link_quality: int
    lba_address: int
    route_cost: int
    media_type: int | None = None


@dataclass(frozen=True, slots=True)
class _StatusOnly(AdpMessage):
    _layout = (_ADP_STATUS,)
    status: AdpStatus | int


@dataclass(frozen=True, slots=True)
class DiscoveryConfirm(_StatusOnly):
    """DISCOVERY confirm: status (NO_BEACON when nothing was heard)."""

    command: ClassVar[int] = AdpCommand.DISCOVERY_CONFIRM


@dataclass(frozen=True, slots=True)
class NetworkStartConfirm(_StatusOnly):
    """NETWORK_START confirm: status."""

    command: ClassVar[int] = AdpCommand.NETWORK_START_CONFIRM


@dataclass(frozen=True, slots=True)
class LeaveConfirm(_StatusOnly):
    """NETWORK_LEAVE confirm: status."""

    command: ClassVar[int] = AdpCommand.NETWORK_LEAVE_CONFIRM


@dataclass(frozen=True, slots=True)
class ResetConfirm(_StatusOnly):
    """RESET confirm: status."""

    command: ClassVar[int] = AdpCommand.RESET_CONFIRM


@dataclass(frozen=True, slots=True)
class NetworkJoinConfirm(AdpMessage):
    """NETWORK_JOIN confirm: status, assigned short address, PAN id."""

    command: ClassVar[int] = AdpCommand.NETWORK_JOIN_CONFIRM
    _layout = (_ADP_STATUS, _U16, _U16)
    status: AdpStatus | int
    network_address: int
    pan_id: int


@dataclass(frozen=True, slots=True)
class LeaveIndication(AdpMessage):
    """NETWORK_LEAVE indication: the modem was removed from the PAN (no parameters)."""

    command: ClassVar[int] = AdpCommand.NETWORK_LEAVE_INDICATION


@dataclass(frozen=True, slots=True)
class SetConfirm(AdpMessage):
    """ADP SET confirm: status, id(4), index(2)."""

    command: ClassVar[int] = AdpCommand.SET_CONFIRM
    _layout = (_ADP_STATUS, _U32, _U16)
    status: AdpStatus | int
    attribute_id: int
    attribute_index: int


@dataclass(frozen=True, slots=True)
class GetConfirm(AdpMessage):
    """ADP GET confirm: status, id(4), index(2), length(1), value.

    ``declared_length`` is None when the length byte equals ``len(value)``; firmware
    omits the value of attributes it does not serialise, so both are kept.
    """

    command: ClassVar[int] = AdpCommand.GET_CONFIRM
    status: AdpStatus | int
    attribute_id: int
    attribute_index: int
    value: bytes
    declared_length: int | None = None

    def _push(self, w: Writer) -> None:
        w.push_uint8(int(self.status))
        w.push_uint32(int(self.attribute_id))
        w.push_uint16(self.attribute_index)
        w.push_uint8(len(self.value) if self.declared_length is None else self.declared_length)
        w.push_bytes(self.value)

    @classmethod
    def _pull(cls, cur: Cursor) -> Self:
        status = _known(AdpStatus, cur.pull_uint8("status"))
        attribute_id = cur.pull_uint32("attribute_id")
        index = cur.pull_uint16("attribute_index")
        declared = cur.pull_uint8("attribute length")
        value = cur.pull_rest()
        return cls(status, attribute_id, index, value, None if declared == len(value) else declared)


@dataclass(frozen=True, slots=True)
class BufferIndication(AdpMessage):
    """BUFFER indication: 0/1 "buffer ready" (62d63090), a buffer bitmap in 499b4299."""

    command: ClassVar[int] = AdpCommand.BUFFER_INDICATION
    _layout = (_U8,)
    buffer_bitmap: int


@dataclass(frozen=True, slots=True)
class LbpSetConfirm(AdpMessage):
    """LBP_SET confirm (Harmony): LBP status, id(4), index(2)."""

    command: ClassVar[int] = AdpCommand.LBP_SET_CONFIRM
    _layout = (_enum8(LbpStatus), _U32, _U16)
    status: LbpStatus | int
    attribute_id: int
    attribute_index: int


_MESSAGES: tuple[type[AdpMessage], ...] = (
    Status, Initialize, DataRequest, DiscoveryRequest, NetworkStartRequest, NetworkJoinRequest,
    LeaveRequest, ResetRequest, SetRequest, GetRequest, LbpSetRequest, DataConfirm,
    DataIndication, NetworkStatusIndication, DiscoveryIndication, DiscoveryConfirm,
    NetworkStartConfirm, LeaveConfirm, ResetConfirm, NetworkJoinConfirm, LeaveIndication,
    SetConfirm, GetConfirm, BufferIndication, LbpSetConfirm,
)
#: Registry command id -> message class.
_DECODERS: dict[int, type[AdpMessage]] = {int(cls.command): cls for cls in _MESSAGES}


def decode_adp(data: bytes) -> AdpMessage:
    """Decode the DATA of one USI protocol-0x25 frame, host- or modem-bound.

    The command id picks the layout; ids not modelled here give a
    :class:`RawAdpMessage`. Malformed input raises :class:`DecodeError` only.
    """
    cur = Cursor(data, _LAYER)
    command = cur.pull_uint8("command")
    cls = _DECODERS.get(command)
    if cls is None:
        return RawAdpMessage(command, cur.pull_rest())
    message = cls._pull(cur)
    cur.expect_end(cls.__name__)
    return message
