"""B-route driver for a G3-PLC modem (Microchip USI + G3 ADP serial, ARIB band).

Plugs into :class:`~smartmeter_proto.wisun.broute.BRoute` like the Wi-SUN
drivers: the same states, retries, re-join and events, so the same ECHONET
Lite client rides on top. The modem runs 6LoWPAN and LBP/EAP-PSK itself; the
host sends and receives whole IPv6 packets. Sequence (smartenergy_g3
adp_serial.c, lbp_dev.c): INITIALIZE (band ARIB) -> LBP_SET ID_P and PSK ->
DISCOVERY (one indication per PAN) -> NETWORK_JOIN (the modem runs LBP with
EAP-PSK) -> DATA requests/indications; LEAVE ends the session.

A G3 PAN is named by PAN ID and the coordinator's 16-bit LBA address, not by a
radio channel and MAC; :class:`PanInfo` carries them as channel 0 and, in
place of the MAC, the coordinator's interface identifier
``PAN:00FF:FE00:LBA`` (the G3 link-local rule, see :func:`g3_link_local`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from ipaddress import IPv6Address
from typing import Final

from ..echonet.frame import ECHONET_PORT
from ..errors import DecodeError
from ..wisun.broute.driver import (
    BRouteState,
    In,
    Input,
    JoinFailure,
    LinkContext,
    PanInfo,
    Step,
    canonical_ipv6,
)
from ..wisun.radio import ipv6
from . import g3adp as adp
from .usi import UsiFrame, UsiParser, UsiProtocol, encode_frame

__all__ = ["G3Driver", "g3_link_local"]

#: ARIB sizes of the EAP-PSK identities (smartenergy_g3 lbp_defs.h) and the PSK (RFC 4764).
ID_P_LEN: Final = 36
PSK_LEN: Final = 16
#: G3 link-local interface identifier: PAN ID, 00FF:FE00, 16-bit short address, no U/L bit
#: flip (Harmony G3 apps write the PAN ID into bytes 8-9 and the short address into bytes
#: 14-15 of "FE80::781D:FF:FE00:1", app_udp_responder.c _APP_UDP_SetIPv6Addresses).
_IID_MIDDLE: Final = bytes.fromhex("00FFFE00")
#: Join statuses that mean the meter refused us (lbp_dev.c: DECLINE -> NOT_PERMITED).
_REFUSED: Final = frozenset({adp.AdpStatus.NOT_PERMITED})
_HOP_LIMIT: Final = 255

_S = BRouteState
_PLANS: Final[Mapping[BRouteState, tuple[Step, ...]]] = {
    _S.RESETTING: (Step.INITIALISE,),
    _S.CONFIGURING: (Step.SET_ID, Step.SET_PASSWORD),
    _S.SCANNING: (Step.SCAN,),
    _S.JOINING: (Step.JOIN,),
}
#: The confirm that completes each step.
_CONFIRMS: Final[Mapping[Step, type[adp.AdpMessage]]] = {
    Step.INITIALISE: adp.Status,
    Step.SET_ID: adp.LbpSetConfirm,
    Step.SET_PASSWORD: adp.LbpSetConfirm,
    Step.SCAN: adp.DiscoveryConfirm,
    Step.JOIN: adp.NetworkJoinConfirm,
    Step.SEND: adp.DataConfirm,
    Step.TERMINATE: adp.LeaveConfirm,
}


def g3_link_local(pan_id: int, short_address: int) -> bytes:
    """G3 link-local address ``fe80::PAN:00ff:fe00:SHORT`` (16 bytes)."""
    return ipv6.LINK_LOCAL_PREFIX + _iid(pan_id, short_address)


def _iid(pan_id: int, short_address: int) -> bytes:
    if not (0 <= pan_id <= 0xFFFF and 0 <= short_address <= 0xFFFF):
        raise ValueError("PAN ID and short address are 16 bits")
    return pan_id.to_bytes(2, "big") + _IID_MIDDLE + short_address.to_bytes(2, "big")


class _SecretFrame(bytes):
    """A command frame holding key material: shows as its length only."""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes, secret>"


def _frame(message: adp.AdpMessage) -> bytes:
    return encode_frame(UsiFrame(UsiProtocol.ADP_G3, message.encode()))


class G3Driver:
    """G3-PLC modem for :class:`~smartmeter_proto.wisun.broute.BRoute`.

    ``id_p`` (36 bytes for ARIB) and ``psk`` (16 bytes) are the EAP-PSK
    credentials the modem presents to the meter's LBP server; they are kept
    only inside masked command frames.
    """

    def __init__(self, *, id_p: bytes, psk: bytes) -> None:
        if len(id_p) != ID_P_LEN or len(psk) != PSK_LEN:
            raise ValueError(f"ARIB G3 needs a {ID_P_LEN}-byte ID_P and a {PSK_LEN}-byte PSK")
        self._set_id = _SecretFrame(_frame(adp.LbpSetRequest(adp.LbpAttribute.IDP, 0, id_p)))
        self._set_psk = _SecretFrame(_frame(adp.LbpSetRequest(adp.LbpAttribute.PSK, 0, psk)))
        self._parser = UsiParser()
        self._items: deque[UsiFrame | DecodeError] = deque()
        self._handle = 0
        self._own_address: bytes | None = None
        self._pan_id: int | None = None
        self._builders: Mapping[Step, Callable[[LinkContext], bytes]] = {
            Step.INITIALISE: lambda _l: _frame(adp.Initialize(adp.Band.ARIB, False)),
            Step.SET_ID: lambda _l: self._set_id,
            Step.SET_PASSWORD: lambda _l: self._set_psk,
            Step.SCAN: lambda link: _frame(adp.DiscoveryRequest(link.duration)),
            Step.JOIN: self._join,
            Step.SEND: self._send,
            Step.TERMINATE: lambda _l: _frame(adp.LeaveRequest()),
        }

    def __repr__(self) -> str:
        return "G3Driver()"

    @property
    def bytes_discarded(self) -> int:
        """Serial bytes outside any frame, skipped while hunting for a delimiter."""
        return self._parser.bytes_discarded

    # ------------------------------------------------------------------ steps -> bytes
    def plan(self, state: BRouteState) -> tuple[Step, ...]:
        return _PLANS.get(state, ())

    def encode(self, step: Step, link: LinkContext) -> bytes:
        return self._builders[step](link)

    def timeout(self, step: Step, link: LinkContext) -> float:
        if step is Step.SCAN:  # DISCOVERY lasts its duration in seconds
            return float(link.duration) + link.command_timeout
        if step is Step.JOIN:
            return link.join_timeout
        return link.command_timeout

    def _join(self, link: LinkContext) -> bytes:
        pan = link.pan
        if pan is None:
            raise ValueError("join needs a PAN")
        lba = int.from_bytes(pan.mac[-2:], "big")
        self._pan_id = pan.pan_id
        return _frame(adp.NetworkJoinRequest(pan.pan_id, lba, 0))

    def _send(self, link: LinkContext) -> bytes:
        if self._own_address is None:
            raise ValueError("send before the modem joined")
        self._handle = (self._handle + 1) & 0xFF
        packet = ipv6.build_ipv6_udp(
            src_ip=self._own_address,
            dst_ip=IPv6Address(link.dest).packed,
            src_port=ECHONET_PORT,
            dst_port=ECHONET_PORT,
            payload=link.payload,
            hop_limit=_HOP_LIMIT,
        )
        return _frame(adp.DataRequest(self._handle, True, 0, packet))

    # ------------------------------------------------------------------ bytes -> inputs
    def feed(self, data: bytes) -> None:
        self._items.extend(self._parser.feed(data))

    def next_inputs(self, in_flight: Step | None) -> tuple[Input, ...] | None:
        if not self._items:
            return None
        item = self._items.popleft()
        if isinstance(item, DecodeError):
            return (Input(In.GARBLED, reason=item.reason),)
        if item.protocol != UsiProtocol.ADP_G3:
            return (Input(In.STRAY, reason=f"USI protocol {int(item.protocol):#04x}"),)
        try:
            message = adp.decode_adp(item.data)
        except DecodeError as exc:
            return (Input(In.GARBLED, reason=exc.reason),)
        return self._translate(message, in_flight)

    def _translate(self, msg: adp.AdpMessage, in_flight: Step | None) -> tuple[Input, ...]:
        if isinstance(msg, adp.RawAdpMessage):
            return (Input(In.UNKNOWN, reason=f"ADP command {msg.raw_command:#04x}"),)
        if isinstance(msg, adp.DiscoveryIndication):
            iid = _iid(msg.pan_id, msg.lba_address)
            pan = PanInfo(0, msg.pan_id, iid, float(msg.link_quality), lqi=msg.link_quality)
            return (Input(In.PAN_FOUND, pan=pan),)
        if isinstance(msg, adp.DataIndication):
            return self._datagram(msg)
        if isinstance(msg, adp.LeaveIndication):
            self._own_address = None
            return (Input(In.LINK_LOST, reason="the meter removed us from its PAN (LEAVE_IND)"),)
        if isinstance(msg, adp.NetworkStatusIndication | adp.BufferIndication):
            return (Input(In.NOISE, reason=type(msg).__name__),)
        expected = _CONFIRMS.get(in_flight) if in_flight is not None else None
        if expected is None or not isinstance(msg, expected):
            if isinstance(msg, adp.Status) and in_flight is not None and msg.status != 0:
                return (Input(In.COMMAND_FAILED, reason=f"STATUS {msg.status!r}", retryable=True),)
            return (Input(In.STRAY, reason=f"{type(msg).__name__} answering nothing in flight"),)
        return self._confirm(msg, in_flight)

    def _confirm(self, msg: adp.AdpMessage, step: Step | None) -> tuple[Input, ...]:
        status = int(getattr(msg, "status", 0))
        if isinstance(msg, adp.DataConfirm):
            return (Input(In.SEND_DONE, ok=status == 0), Input(In.COMMAND_DONE))
        if isinstance(msg, adp.NetworkJoinConfirm):
            if status != 0:
                refused = status in _REFUSED
                failure = JoinFailure.REJECTED if refused else JoinFailure.UNANSWERED
                why = f"join status {_name(msg.status)}"
                return (Input(In.COMMAND_DONE), Input(In.JOIN_FAILED, failure=failure, reason=why))
            self._own_address = g3_link_local(msg.pan_id, msg.network_address)
            meter = canonical_ipv6(IPv6Address(g3_link_local(msg.pan_id, self._coordinator())))
            return (Input(In.COMMAND_DONE), Input(In.JOIN_SUCCEEDED, meter_ipv6=meter))
        if status != 0:
            return (Input(In.COMMAND_FAILED, reason=f"status {_name(status)}", retryable=True),)
        return (Input(In.COMMAND_DONE),)

    def _coordinator(self) -> int:
        return 0x0000  # G.9903: the PAN coordinator (the meter) holds short address 0

    def _datagram(self, msg: adp.DataIndication) -> tuple[Input, ...]:
        try:
            header, _sport, dport, payload = ipv6.parse_ipv6_udp(msg.ipv6_packet)
        except DecodeError as exc:
            return (Input(In.GARBLED, reason=f"DATA_IND: {exc.reason}"),)
        if dport != ECHONET_PORT:
            return (Input(In.STRAY, reason=f"datagram to UDP port {dport}"),)
        multicast = header.dst[0] == 0xFF
        source = canonical_ipv6(IPv6Address(header.src))
        return (Input(In.DATAGRAM, payload=payload, address=source, multicast=multicast),)


def _name(code: int) -> str:
    return getattr(code, "name", f"{int(code):#04x}")
