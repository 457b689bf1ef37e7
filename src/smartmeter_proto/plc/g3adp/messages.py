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

The codes (message ids, statuses, bands, attribute ids) are in :mod:`.codes`
(re-exported here), the wire kind of each field in :mod:`~smartmeter_proto.plc.g3adp.fields`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from ..._buffer import Cursor, Writer
from .codes import (
    SECRET_ADP_IDS,
    SECRET_LBP_IDS,
    AdpCommand,
    AdpStatus,
    Band,
    LbpStatus,
    SerialStatus,
)
from .fields import (
    ADDRESS,
    ADP_STATUS,
    BLOB8,
    BLOB16,
    BOOL,
    U8,
    U16,
    U32,
    FieldKind,
    enum8,
    known_enum,
    optional,
)

__all__ = [
    "AdpMessage",
    "BufferIndication",
    "DataConfirm",
    "DataIndication",
    "DataRequest",
    "DiscoveryConfirm",
    "DiscoveryIndication",
    "DiscoveryRequest",
    "GetConfirm",
    "GetRequest",
    "Initialize",
    "LbpSetConfirm",
    "LbpSetRequest",
    "LeaveConfirm",
    "LeaveIndication",
    "LeaveRequest",
    "NetworkJoinConfirm",
    "NetworkJoinRequest",
    "NetworkStartConfirm",
    "NetworkStartRequest",
    "NetworkStatusIndication",
    "RawAdpMessage",
    "ResetConfirm",
    "ResetRequest",
    "SetConfirm",
    "SetRequest",
    "Status",
    "decode_adp",
]

_LAYER = "g3adp"


class AdpMessage:
    """Base of every ADP serial message; ``encode()`` gives USI DATA (command + fields).

    ``_layout`` lists the wire kind of each dataclass field, in field order.
    """

    __slots__ = ()
    command: ClassVar[int]
    _layout: ClassVar[tuple[FieldKind, ...]] = ()
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
    _layout = (enum8(SerialStatus), enum8(AdpCommand))
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
    _layout = (enum8(Band), optional(BOOL))
    band: Band | int
    is_coordinator: bool | None = False


@dataclass(frozen=True, slots=True)
class DataRequest(AdpMessage):
    """DATA request: handle, discover route, QoS, a full IPv6 packet (the modem compresses)."""

    command: ClassVar[int] = AdpCommand.DATA_REQUEST
    _layout = (U8, BOOL, U8, BLOB16)
    nsdu_handle: int
    discover_route: bool
    quality_of_service: int
    ipv6_packet: bytes


@dataclass(frozen=True, slots=True)
class DiscoveryRequest(AdpMessage):
    """DISCOVERY request: scan for PANs for ``duration_s`` seconds."""

    command: ClassVar[int] = AdpCommand.DISCOVERY_REQUEST
    _layout = (U8,)
    duration_s: int


@dataclass(frozen=True, slots=True)
class NetworkStartRequest(AdpMessage):
    """NETWORK_START request (coordinator only): PAN id."""

    command: ClassVar[int] = AdpCommand.NETWORK_START_REQUEST
    _layout = (U16,)
    pan_id: int


@dataclass(frozen=True, slots=True)
class NetworkJoinRequest(AdpMessage):
    """NETWORK_JOIN request: PAN id, LBA short address, media type (None: ASF 4-byte form)."""

    command: ClassVar[int] = AdpCommand.NETWORK_JOIN_REQUEST
    _layout = (U16, U16, optional(U8))
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
    _layout = (U32, U16, BLOB8)
    attribute_id: int
    attribute_index: int
    value: bytes

    def __repr__(self) -> str:
        return _set_repr(self, SECRET_ADP_IDS)


@dataclass(frozen=True, slots=True)
class GetRequest(AdpMessage):
    """ADP GET request: id(4) index(2)."""

    command: ClassVar[int] = AdpCommand.GET_REQUEST
    _layout = (U32, U16)
    attribute_id: int
    attribute_index: int = 0


@dataclass(frozen=True, slots=True, repr=False)
class LbpSetRequest(AdpMessage):
    """LBP_SET request (Harmony): same layout as SET with LBP ids (PSK, IDP, ...)."""

    command: ClassVar[int] = AdpCommand.LBP_SET_REQUEST
    _layout = (U32, U16, BLOB8)
    attribute_id: int
    attribute_index: int
    value: bytes

    def __repr__(self) -> str:
        return _set_repr(self, SECRET_LBP_IDS)


# --- modem -> host ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataConfirm(AdpMessage):
    """DATA confirm: status, handle of the request."""

    command: ClassVar[int] = AdpCommand.DATA_CONFIRM
    _layout = (ADP_STATUS, U8)
    status: AdpStatus | int
    nsdu_handle: int


@dataclass(frozen=True, slots=True)
class DataIndication(AdpMessage):
    """DATA indication: link quality, then the decompressed IPv6 packet."""

    command: ClassVar[int] = AdpCommand.DATA_INDICATION
    _layout = (U8, BLOB16)
    link_quality: int
    ipv6_packet: bytes


@dataclass(frozen=True, slots=True)
class NetworkStatusIndication(AdpMessage):
    """NETWORK_STATUS indication; an address is an int (16-bit) or 8 bytes (EUI-64).

    ``media_type`` is sent by Harmony only (None when absent).
    """

    command: ClassVar[int] = AdpCommand.NETWORK_STATUS_INDICATION
    _layout = (U16, ADDRESS, ADDRESS, ADP_STATUS, U8, U8, optional(U8))
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
    _layout = (U16, U8, U16, U16, optional(U8))
    pan_id: int
    link_quality: int
    lba_address: int
    route_cost: int
    media_type: int | None = None


@dataclass(frozen=True, slots=True)
class _StatusOnly(AdpMessage):
    _layout = (ADP_STATUS,)
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
    _layout = (ADP_STATUS, U16, U16)
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
    _layout = (ADP_STATUS, U32, U16)
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
        status = known_enum(AdpStatus, cur.pull_uint8("status"))
        attribute_id = cur.pull_uint32("attribute_id")
        index = cur.pull_uint16("attribute_index")
        declared = cur.pull_uint8("attribute length")
        value = cur.pull_rest()
        return cls(status, attribute_id, index, value, None if declared == len(value) else declared)


@dataclass(frozen=True, slots=True)
class BufferIndication(AdpMessage):
    """BUFFER indication: 0/1 "buffer ready" (62d63090), a buffer bitmap in 499b4299."""

    command: ClassVar[int] = AdpCommand.BUFFER_INDICATION
    _layout = (U8,)
    buffer_bitmap: int


@dataclass(frozen=True, slots=True)
class LbpSetConfirm(AdpMessage):
    """LBP_SET confirm (Harmony): LBP status, id(4), index(2)."""

    command: ClassVar[int] = AdpCommand.LBP_SET_CONFIRM
    _layout = (enum8(LbpStatus), U32, U16)
    status: LbpStatus | int
    attribute_id: int
    attribute_index: int


_MESSAGES: tuple[type[AdpMessage], ...] = (
    Status,
    Initialize,
    DataRequest,
    DiscoveryRequest,
    NetworkStartRequest,
    NetworkJoinRequest,
    LeaveRequest,
    ResetRequest,
    SetRequest,
    GetRequest,
    LbpSetRequest,
    DataConfirm,
    DataIndication,
    NetworkStatusIndication,
    DiscoveryIndication,
    DiscoveryConfirm,
    NetworkStartConfirm,
    LeaveConfirm,
    ResetConfirm,
    NetworkJoinConfirm,
    LeaveIndication,
    SetConfirm,
    GetConfirm,
    BufferIndication,
    LbpSetConfirm,
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
