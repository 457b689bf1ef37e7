"""B-route driver for ROHM J11 modules (BP35C0-J11, BP35C2-J11-T01, RS-WSUHA-J11).

Turns the machine's steps into request frames (:mod:`~smartmeter_proto.wisun.j11.messages`) and the
module's frames (:class:`.j11.FrameParser`) into :class:`.driver.Input`
values. A response completes the step in flight only when its code is that
request's code | 0x2000. Sequence and result handling: ROHM application note
63AN028E (samples F1-F22), broute-j11 0.1.0 session.py, Tosainu/bp35c0-j11-stuff.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from ipaddress import IPv6Address
from typing import Any, Final

from ...echonet.frame import ECHONET_PORT
from ...errors import DecodeError
from .. import j11
from ..j11 import Command, ConnectionState, PanaResult, Result
from ..j11 import messages as jm
from .driver import (
    BRouteState,
    In,
    Input,
    JoinFailure,
    LinkContext,
    PanInfo,
    Step,
    canonical_ipv6,
)

__all__ = ["J11Driver"]

_PANA_PORT: Final = 716
#: Set Initial Settings before the scan uses channel 4 (63AN028E F3; broute-j11
#: PROVISIONAL_CHANNEL); the meter's channel is set once a beacon names it (F10).
_PROVISIONAL_CHANNEL: Final = j11.MIN_CHANNEL
#: Active scan dwell 9.64 ms x 2**duration per channel (Tosainu lib.rs, broute-j11).
_SCAN_UNIT_S: Final = 0.00964
_SCAN_CHANNELS: Final = len(j11.mask_channels(j11.ALL_CHANNELS_MASK))
#: Results worth a resend: busy, command timed out, damaged frame, and MAC connection
#: failed (broute-j11 restarts the join on 0x0E; an RS-WSUHA bridge re-scans).
_RETRYABLE: Final = frozenset(
    {
        Result.BUSY,
        Result.ROUTE_B_AUTHENTICATING,  # PANA renewing: the send waits for the session
        Result.RECEPTION_TIMEOUT,
        Result.MAC_CONNECTION_FAILED,
        Result.HEADER_CHECKSUM_ERROR,
        Result.DATA_CHECKSUM_ERROR,
        Result.MESSAGE_TOO_SHORT,
        Result.MESSAGE_TOO_LONG,
    }
)
#: Results that mean "already so" for a step, taken as success: port already open
#: (broute-j11 Table 34, an RS-WSUHA bridge), credentials already set (broute-j11 0x58),
#: Route-B already running when a join is re-run (our inference; unverified).
_ALREADY: Final[Mapping[Step, frozenset[int]]] = {
    Step.OPEN_PORT: frozenset({Result.PORT_ALREADY_OPEN}),
    Step.SET_CREDENTIALS: frozenset({Result.PANA_ALREADY_SET}),
    Step.SET_CHANNEL: frozenset({Result.ROUTE_B_RUNNING}),
    Step.START_ROUTE_B: frozenset({Result.ROUTE_B_RUNNING}),
}

#: Send results that say the module lost its Route-B state (a restart we did not see):
#: port not open, Route-B/HAN not started, block not started (63TR008E Table 34).
_SESSION_GONE: Final = frozenset(
    {Result.PORT_NOT_OPEN, Result.NOT_STARTED, Result.BLOCK_NOT_STARTED}
)

_S = BRouteState
#: What each state runs, in order (63AN028E §5: F1 reset .. F16 start PANA).
_PLANS: Final[Mapping[BRouteState, tuple[Step, ...]]] = {
    _S.RESETTING: (Step.RESET,),
    _S.CONFIGURING: (Step.INITIALISE, Step.SET_CREDENTIALS),
    _S.SCANNING: (Step.SCAN,),
    _S.JOINING: (Step.SET_CHANNEL, Step.START_ROUTE_B, Step.OPEN_PORT, Step.JOIN),
    # After 0x601A "PANA disconnected" the module re-authenticates by itself and reports
    # 0x6028 (as our emulator models it; no source says either way); without that report
    # the join timeout re-runs the join.
    _S.REAUTHENTICATING: (),
}
#: Step -> the request it sends; its response code is this | 0x2000.
_REQUESTS: Final[Mapping[Step, Command]] = {
    Step.RESET: Command.HARDWARE_RESET,
    Step.INITIALISE: Command.SET_INITIAL_SETTINGS,
    Step.SET_CREDENTIALS: Command.SET_ROUTE_B_AUTH,
    Step.SCAN: Command.ACTIVE_SCAN,
    Step.SET_CHANNEL: Command.SET_INITIAL_SETTINGS,
    Step.START_ROUTE_B: Command.START_ROUTE_B,
    Step.OPEN_PORT: Command.OPEN_UDP_PORT,
    Step.JOIN: Command.START_PANA,
    Step.SEND: Command.TRANSMIT_DATA,
    Step.TERMINATE: Command.TERMINATE_PANA,
}


class _SecretFrame(bytes):
    """Frame bytes that carry the credentials: repr masked."""

    def __repr__(self) -> str:
        return f"<J11 frame with credentials, {len(self)} bytes>"

    __str__ = __repr__


def _one(kind: In, **fields: Any) -> tuple[Input, ...]:
    return (Input(kind, **fields),)


def _frame(message: jm.J11Message) -> bytes:
    return j11.encode(jm.encode_message(message))


def _pan(link: LinkContext) -> PanInfo:
    assert link.pan is not None, "a join step before a PAN was chosen"
    return link.pan


class J11Driver:
    """ROHM J11 for :class:`.BRoute`; holds the credentials only as a masked frame."""

    def __init__(self, rbid: str, password: str) -> None:
        auth = jm.SetRouteBAuth(rbid, password)  # ValueError names no secret
        self._auth_frame = _SecretFrame(_frame(auth))
        self._pairing_id = j11.pairing_id(rbid)
        self._parser = j11.FrameParser()
        self._frames: deque[j11.J11Frame | j11.J11Garbled] = deque()
        self._builders: Mapping[Step, Callable[[LinkContext], bytes]] = {
            Step.RESET: lambda _link: _frame(jm.HardwareReset()),
            Step.INITIALISE: lambda _link: _frame(
                jm.SetInitialSettings(channel=_PROVISIONAL_CHANNEL)
            ),
            Step.SET_CREDENTIALS: lambda _link: self._auth_frame,
            Step.SCAN: self._scan,
            Step.SET_CHANNEL: lambda link: _frame(
                jm.SetInitialSettings(channel=_pan(link).channel)
            ),
            Step.START_ROUTE_B: lambda _link: _frame(jm.StartRouteB()),
            Step.OPEN_PORT: lambda _link: _frame(jm.OpenUdpPort(ECHONET_PORT)),
            Step.JOIN: lambda _link: _frame(jm.StartPana()),
            Step.SEND: self._transmit,
            Step.TERMINATE: lambda _link: _frame(jm.TerminatePana()),
        }

    def __repr__(self) -> str:
        return "J11Driver()"

    # ------------------------------------------------------------------ steps -> bytes
    def plan(self, state: BRouteState) -> tuple[Step, ...]:
        return _PLANS.get(state, ())

    def encode(self, step: Step, link: LinkContext) -> bytes:
        return self._builders[step](link)

    def timeout(self, step: Step, link: LinkContext) -> float:
        if step is Step.SCAN:
            dwell = _SCAN_UNIT_S * float(1 << link.duration) * _SCAN_CHANNELS
            return dwell + link.command_timeout
        if step is Step.START_ROUTE_B:  # MAC association: broute-j11 waits its PANA timeout
            return link.join_timeout
        return link.command_timeout

    def _scan(self, link: LinkContext) -> bytes:
        scan = jm.ActiveScan(
            duration=link.duration, channel_mask=j11.ALL_CHANNELS_MASK, pairing_id=self._pairing_id
        )
        return _frame(scan)

    def _transmit(self, link: LinkContext) -> bytes:
        return _frame(jm.TransmitData(destination=IPv6Address(link.dest), payload=link.payload))

    # ------------------------------------------------------------------ bytes -> inputs
    def feed(self, data: bytes) -> None:
        self._frames.extend(self._parser.feed(data))

    def next_inputs(self, in_flight: Step | None) -> tuple[Input, ...] | None:
        if not self._frames:
            return None
        item = self._frames.popleft()
        if isinstance(item, j11.J11Garbled):
            return _one(In.GARBLED)
        try:
            msg = jm.decode_message(item)
        except DecodeError:
            return _one(In.GARBLED)
        handler = _HANDLERS.get(type(msg), J11Driver._stray)
        return handler(self, msg, in_flight)

    def _response(self, msg: jm.J11Message, in_flight: Step | None) -> tuple[Input, ...]:
        code, result = msg.command, getattr(msg, "result", Result.SUCCESS)
        if in_flight is None or code != j11.response_code(_REQUESTS[in_flight]):
            return _one(In.STRAY, reason=f"response {code:#06x} answering nothing in flight")
        ok = result == Result.SUCCESS or result in _ALREADY.get(in_flight, frozenset())
        retryable = result in _RETRYABLE
        if in_flight is Step.SEND:
            if isinstance(msg, jm.TransmitDataResponse):  # tx_result 0 = sent (broute-j11)
                sent = ok and msg.tx_result == 0
                return (Input(In.SEND_DONE, ok=sent), Input(In.COMMAND_DONE))
            if result in _SESSION_GONE:
                why = f"the module has no session (result {_name(result)})"
                return (Input(In.SEND_DONE, ok=False), Input(In.LINK_LOST, reason=why))
            if not retryable:
                return (Input(In.SEND_DONE, ok=False), Input(In.COMMAND_DONE))
        if not ok:
            why = f"result {_name(result)}"
            return _one(In.COMMAND_FAILED, reason=why, retryable=retryable)
        if isinstance(msg, jm.StartRouteBResponse):
            pan = PanInfo(msg.channel, msg.pan_id, msg.mac, float(msg.rssi))
            return _one(In.COMMAND_DONE, pan=pan, meter_ipv6=canonical_ipv6(msg.meter_address))
        return _one(In.COMMAND_DONE)

    def _module_error(self, msg: jm.J11Message, in_flight: Step | None) -> tuple[Input, ...]:
        reason = f"error frame {msg.command:#06x}"
        if in_flight is None:
            return _one(In.STRAY, reason=reason)
        return _one(In.COMMAND_FAILED, reason=reason, retryable=True)

    def _startup(self, _msg: jm.J11Message, in_flight: Step | None) -> tuple[Input, ...]:
        if in_flight is Step.RESET:  # the hardware reset answers with 0x6019 only
            return _one(In.COMMAND_DONE)
        return _one(In.LINK_LOST, reason="the module restarted (0x6019)")

    def _scan_result(self, msg: jm.J11Message, _in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, jm.ScanResultNotification)
        return tuple(
            Input(In.PAN_FOUND, pan=PanInfo(msg.channel, b.pan_id, b.mac, float(b.rssi)))
            for b in msg.beacons or ()
        )

    def _datagram(self, msg: jm.J11Message, _in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, jm.DataReceivedNotification)
        if _PANA_PORT in (msg.source_port, msg.destination_port):
            return _one(In.NOISE, reason="PANA")
        if msg.destination_port != ECHONET_PORT:
            return _one(In.STRAY, reason=f"datagram to UDP port {msg.destination_port}")
        source = canonical_ipv6(msg.source)
        return _one(In.DATAGRAM, payload=msg.payload, address=source, multicast=msg.is_multicast)

    def _connection(self, msg: jm.J11Message, _in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, jm.ConnectionStateNotification)
        if msg.state == ConnectionState.PANA_DISCONNECTED:
            return _one(In.SESSION_EXPIRED, reason="PANA disconnected (0x601A)")
        if msg.state == ConnectionState.MAC_DISCONNECTED:
            return _one(In.LINK_LOST, reason="MAC disconnected (0x601A)")
        return _one(In.NOISE, reason="connection state")

    def _pana_result(self, msg: jm.J11Message, _in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, jm.PanaResultNotification)
        if msg.result == PanaResult.SUCCESS:
            address = canonical_ipv6(j11.link_local_from_mac(msg.mac))
            return _one(In.JOIN_SUCCEEDED, meter_ipv6=address)
        failure = _PANA_FAILURES.get(msg.result, JoinFailure.UNANSWERED)
        reason = f"PANA result {_name(msg.result)} (0x6028)"
        return _one(In.JOIN_FAILED, failure=failure, reason=reason)

    def _noise(self, msg: jm.J11Message, _in_flight: Step | None) -> tuple[Input, ...]:
        return _one(In.NOISE, reason=type(msg).__name__)

    def _stray(self, msg: jm.J11Message, _in_flight: Step | None) -> tuple[Input, ...]:
        if isinstance(msg, jm.RawMessage):
            return _one(In.UNKNOWN)
        return _one(In.STRAY, reason=f"unexpected {type(msg).__name__}")


def _name(code: int) -> str:
    return getattr(code, "name", f"{code:#04x}")


_Handler = Callable[[J11Driver, jm.J11Message, "Step | None"], tuple[Input, ...]]
#: Message type -> translation; anything else (requests, raw frames) is stray or unknown.
_HANDLERS: Final[Mapping[type, _Handler]] = {
    jm.ResultResponse: J11Driver._response,
    jm.StatusResponse: J11Driver._response,
    jm.VersionResponse: J11Driver._response,
    jm.InitialSettingsResponse: J11Driver._response,
    jm.StartRouteBResponse: J11Driver._response,
    jm.TransmitDataResponse: J11Driver._response,
    jm.ModuleError: J11Driver._module_error,
    jm.StartupNotification: J11Driver._startup,
    jm.ScanResultNotification: J11Driver._scan_result,
    jm.DataReceivedNotification: J11Driver._datagram,
    jm.ConnectionStateNotification: J11Driver._connection,
    jm.PanaResultNotification: J11Driver._pana_result,
    jm.ReceptionFailureNotification: J11Driver._noise,
}
#: 0x6028 result -> why PANA failed (broute-j11: 0x02 refused, 0x03 no answer); an
#: unknown result counts as unanswered, so it is retried a bounded number of times.
_PANA_FAILURES: Final[Mapping[int, JoinFailure]] = {
    PanaResult.FAILURE: JoinFailure.REJECTED,
    PanaResult.NO_RESPONSE: JoinFailure.UNANSWERED,
}
