"""B-route driver for SKSTACK IP dongles (ROHM BP35A1, BP35C0/C2, Tessera RL7023).

Turns the machine's steps into command lines (:mod:`.skstack`) and the
dongle's output (:class:`.skstack.Parser`) into :class:`~smartmeter_proto.wisun.broute.driver.Input`
values. Echo lines are consumed; an echo also tells which command the next
``OK``/``FAIL`` answers, so a late answer to an earlier command is not taken
for the one in flight. Sources: ROHM "BP35A1 command reference manual"
sections 3-4 and 6 as cited by smdn/Smdn.Net.SkStackIP; momonga 0.7.0.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Mapping
from enum import Enum
from ipaddress import IPv6Address
from typing import Any, Final

from .. import skstack as sk
from ..radio.pana.trace import MAX_TRACED, explain_refusal
from ..skstack.dialects import PayloadMode, get_dialect
from ..skstack.messages import mask_secrets
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

__all__ = ["SkStackDriver"]

#: Model names the machine takes that are not dialect names: the RL7023 Stick-D/IPS is
#: the B-route-only stick (specs/skstack/rl7023.yaml).
_MODEL_DIALECTS: Final = {"rl7023": "rl7023-ips"}
#: SKSCAN dwells 9.6 ms x (2**DURATION + 1) per channel (BP35A1 reference 3.9 via smdn
#: SkStackClient.Commands.SKSCAN.cs) over channels 33..60 (reference 6: 28 channels).
_SCAN_UNIT_S: Final = 0.0096
_SCAN_CHANNELS: Final = 28
#: SKSCAN mode 2: active scan with the pairing-ID information element (reference 3.9).
_ACTIVE_SCAN_WITH_IE: Final = 2
_ALL_CHANNELS: Final = 0xFFFFFFFF
#: SKSENDTO SEC 1: encrypt (reference 3.7); B-route datagrams go under the PANA keys.
_ENCRYPTED: Final = 1
#: FAIL codes worth a resend: ER09 UART input error (our bytes were damaged), ER10 the
#: command failed to execute (reference 7). ER04-ER06 mean the command itself is wrong.
_RETRYABLE: Final = frozenset({sk.FailCode.UART_INPUT_ERROR, sk.FailCode.EXECUTION_FAILED})

_S = BRouteState
#: What each state runs, in order; READ_OPTIONS is left out on dialects without ROPT.
_PLANS: Final[Mapping[BRouteState, tuple[Step, ...]]] = {
    _S.RESETTING: (Step.RESET, Step.READ_OPTIONS),
    _S.CONFIGURING: (Step.SET_PASSWORD, Step.SET_ID),
    _S.SCANNING: (Step.SCAN,),
    _S.JOINING: (Step.SET_CHANNEL, Step.SET_PAN_ID, Step.RESOLVE_ADDRESS, Step.JOIN),
    _S.REAUTHENTICATING: (),  # the dongle re-authenticates by itself after EVENT 29
}


class _Ends(Enum):
    """What completes a step's command."""

    OK = "OK"
    ADDRESS = "the address line"  # SKLL64 answers with the address, no OK
    SCAN_DONE = "EVENT 22"  # SKSCAN: OK first, then EPANDESC blocks, then EVENT 22


#: Step -> (command word the dongle echoes, what completes it).
_COMMANDS: Final[Mapping[Step, tuple[str, _Ends]]] = {
    Step.RESET: ("SKRESET", _Ends.OK),
    Step.READ_OPTIONS: ("ROPT", _Ends.OK),
    Step.SET_PASSWORD: ("SKSETPWD", _Ends.OK),
    Step.SET_ID: ("SKSETRBID", _Ends.OK),
    Step.SCAN: ("SKSCAN", _Ends.SCAN_DONE),
    Step.SET_CHANNEL: ("SKSREG", _Ends.OK),
    Step.SET_PAN_ID: ("SKSREG", _Ends.OK),
    Step.RESOLVE_ADDRESS: ("SKLL64", _Ends.ADDRESS),
    Step.JOIN: ("SKJOIN", _Ends.OK),
    Step.SEND: ("SKSENDTO", _Ends.OK),
    Step.TERMINATE: ("SKTERM", _Ends.OK),
}

# Process-wide LRU caches of the addresses the dongle reports: every key is a 39-character
# address (skstack_messages checks it), so 64 entries x 512 B (key and value strings, the
# lru_cache link and dict slot) = 32 KiB each at most.
_canonical = functools.lru_cache(maxsize=64)(canonical_ipv6)


@functools.lru_cache(maxsize=64)
def _is_multicast(address: str) -> bool:
    return IPv6Address(address).is_multicast


def _one(kind: In, **fields: Any) -> tuple[Input, ...]:
    return (Input(kind, **fields),)


#: The command words the driver sends: the only echo text it ever quotes.
_COMMAND_WORDS: Final = frozenset(word for word, _ in _COMMANDS.values())


class SkStackDriver:
    """SKSTACK IP for :class:`.BRoute`; holds the credentials only as masked lines."""

    def __init__(self, model: str, rbid: str, password: str) -> None:
        self.dialect = get_dialect(_MODEL_DIALECTS.get(model.lower(), model))
        self._set_password = sk.sksetpwd(password)  # ValueError names no secret
        self._set_id = sk.sksetrbid(rbid)
        self._parser = sk.Parser(self.dialect)
        self._messages: deque[sk.Message] = deque()
        self._echoed: str | None = None  # command word echoed since the last command
        self._pana_heard = False  # the meter answered PANA since the last SKJOIN
        self._pana_seen: list[bytes] = []  # what it said (bounded), to explain an EVENT 24
        self._plans = {
            state: tuple(
                s for s in plan if s is not Step.READ_OPTIONS or self.dialect.option_commands
            )
            for state, plan in _PLANS.items()
        }
        self._builders: Mapping[Step, Callable[[LinkContext], bytes]] = {
            Step.RESET: lambda _link: sk.skreset(),
            Step.READ_OPTIONS: lambda _link: sk.ropt(),
            Step.SET_PASSWORD: lambda _link: self._set_password,
            Step.SET_ID: lambda _link: self._set_id,
            Step.SCAN: self._skscan,
            Step.SET_CHANNEL: lambda link: sk.sksreg("S2", _pan(link).channel),
            Step.SET_PAN_ID: lambda link: sk.sksreg("S3", _pan(link).pan_id),
            Step.RESOLVE_ADDRESS: lambda link: sk.skll64(_pan(link).mac),
            Step.JOIN: self._skjoin,
            Step.SEND: self._sksendto,
            Step.TERMINATE: lambda _link: sk.skterm(),
        }

    def __repr__(self) -> str:
        return f"SkStackDriver(dialect={self.dialect.name!r})"

    # ------------------------------------------------------------------ steps -> bytes
    def plan(self, state: BRouteState) -> tuple[Step, ...]:
        return self._plans.get(state, ())

    def encode(self, step: Step, link: LinkContext) -> bytes:
        data = self._builders[step](link)
        self._echoed = None
        self._parser.expect_echo(data)  # mode tracking when echo-back is off
        return data

    def timeout(self, step: Step, link: LinkContext) -> float:
        if step is Step.SCAN:
            dwell = _SCAN_UNIT_S * float((1 << link.duration) + 1) * _SCAN_CHANNELS
            return dwell + link.command_timeout
        return link.command_timeout

    def _skscan(self, link: LinkContext) -> bytes:
        return sk.skscan(
            _ACTIVE_SCAN_WITH_IE, _ALL_CHANNELS, link.duration, side=0, dialect=self.dialect
        )

    def _skjoin(self, link: LinkContext) -> bytes:
        assert link.meter_ipv6 is not None, "SKJOIN before SKLL64"
        self._pana_heard = False
        self._pana_seen.clear()
        return sk.skjoin(link.meter_ipv6)

    def _sksendto(self, link: LinkContext) -> bytes:
        return sk.sksendto(link.dest, link.payload, sec=_ENCRYPTED, side=0, dialect=self.dialect)

    # ------------------------------------------------------------------ bytes -> inputs
    def feed(self, data: bytes) -> None:
        self._messages.extend(self._parser.feed(data))

    def next_inputs(self, in_flight: Step | None) -> tuple[Input, ...] | None:
        if not self._messages:
            return None
        msg = self._messages.popleft()
        return _HANDLERS[type(msg)](self, msg, in_flight)

    def _answers(self, in_flight: Step | None, what: str) -> str | None:
        """Why an OK/FAIL cannot answer ``in_flight`` (None when it does)."""
        if in_flight is None:
            return f"{what} with no command in flight"
        word = _COMMANDS[in_flight][0]
        if self._echoed is not None and self._echoed != word:
            # Only a known command word is quoted: a garbled echo may hold the secret
            # of SKSETPWD/SKSETRBID in any shape.
            if self._echoed in _COMMAND_WORDS:
                return f"{what} to an earlier {mask_secrets(self._echoed)}"
            return f"{what} after an unrecognised echo ({len(self._echoed)} characters)"
        return None

    def _ok(self, msg: sk.Message, in_flight: Step | None) -> tuple[Input, ...]:
        stray = self._answers(in_flight, "OK")
        if in_flight is None or stray is not None:
            return _one(In.STRAY, reason=stray or "")
        ends = _COMMANDS[in_flight][1]
        if ends is _Ends.OK:
            return _one(In.COMMAND_DONE)
        if ends is _Ends.SCAN_DONE:
            return ()  # the scan was accepted; EVENT 22 ends it
        return _one(In.STRAY, reason=f"OK where {ends.value} was expected")

    def _fail(self, msg: sk.Message, in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, sk.Fail)
        stray = self._answers(in_flight, f"FAIL ER{msg.code:02d}")
        if in_flight is None or stray is not None:
            return _one(In.STRAY, reason=stray or "")
        if in_flight is Step.READ_OPTIONS and msg.code == sk.FailCode.UNSUPPORTED_COMMAND:
            # No ROPT on this firmware: it prints ERXUDP data as hex (momonga's reading).
            self._parser.payload_mode = PayloadMode.HEX
            return _one(In.COMMAND_DONE)
        retryable = msg.code in _RETRYABLE
        if in_flight is Step.SEND and not retryable:
            return (Input(In.SEND_DONE, ok=False), Input(In.COMMAND_DONE))
        return _one(In.COMMAND_FAILED, reason=f"FAIL ER{msg.code:02d}", retryable=retryable)

    def _echo(self, msg: sk.Message, _in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, sk.Echo)
        self._echoed = msg.line.split(" ", 1)[0]
        return ()

    def _address(self, msg: sk.Message, in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, sk.LinkLocalAddress)
        if in_flight is not Step.RESOLVE_ADDRESS:
            return _one(In.STRAY, reason="address line with no SKLL64 in flight")
        return _one(In.COMMAND_DONE, meter_ipv6=_canonical(msg.ipv6))

    def _pan(self, msg: sk.Message, _in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, sk.PanDescriptor)
        pan = PanInfo(msg.channel, msg.pan_id, msg.addr, msg.rssi_dbm, lqi=msg.lqi)
        return _one(In.PAN_FOUND, pan=pan)

    def _event(self, msg: sk.Message, in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, sk.Event)
        handler = _EVENTS.get(msg.code)
        if handler is None:
            return _one(In.NOISE, reason=f"EVENT {msg.code:02X}")
        return handler(self, msg, in_flight)

    def _scan_done(self, _msg: sk.Event, in_flight: Step | None) -> tuple[Input, ...]:
        if in_flight is not Step.SCAN:
            return _one(In.STRAY, reason="EVENT 22 with no scan in flight")
        return _one(In.COMMAND_DONE)

    def _udp_sent(self, msg: sk.Event, in_flight: Step | None) -> tuple[Input, ...]:
        # PARAM 00 sent, 01 failed; 02 = neighbour solicitation went first, the outcome
        # follows (reference 4.8; smdn treats 02 as "nothing to do").
        if in_flight is not Step.SEND or msg.param not in _UDP_OUTCOMES:
            return _one(In.NOISE, reason="transmit report (PANA or address resolution)")
        return _one(In.SEND_DONE, ok=_UDP_OUTCOMES[msg.param])

    def _pana_failed(self, _msg: sk.Event, _in_flight: Step | None) -> tuple[Input, ...]:
        if self._pana_heard:  # the meter answered, then refused: the credentials
            detail = explain_refusal(self._pana_seen) or "after the meter answered PANA"
            failure, why = JoinFailure.REJECTED, f"EVENT 24: {detail}"
        else:
            failure, why = JoinFailure.UNANSWERED, "EVENT 24 with no PANA answer heard"
        return _one(In.JOIN_FAILED, failure=failure, reason=why)

    def _pana_succeeded(self, msg: sk.Event, _in_flight: Step | None) -> tuple[Input, ...]:
        sender = _canonical(msg.sender) if msg.sender is not None else None
        return _one(In.JOIN_SUCCEEDED, meter_ipv6=sender)

    def _session_ended(self, msg: sk.Event, _in_flight: Step | None) -> tuple[Input, ...]:
        return _one(In.SESSION_ENDED, reason=f"EVENT {msg.code:02X}")

    def _session_expired(self, _msg: sk.Event, _in_flight: Step | None) -> tuple[Input, ...]:
        return _one(In.SESSION_EXPIRED, reason="EVENT 29")

    def _datagram(self, msg: sk.Message, _in_flight: Step | None) -> tuple[Input, ...]:
        assert isinstance(msg, sk.ERxUdp)
        if sk.PANA_PORT in (msg.lport, msg.rport):
            self._pana_heard = True
            if len(self._pana_seen) < MAX_TRACED:
                self._pana_seen.append(msg.payload)
            return _one(In.NOISE, reason="PANA")
        if msg.lport != sk.ECHONET_LITE_PORT:
            return _one(In.STRAY, reason=f"datagram to UDP port {msg.lport}")
        source = _canonical(msg.src)
        return _one(
            In.DATAGRAM, payload=msg.payload, address=source, multicast=_is_multicast(msg.dst)
        )

    def _version(self, _msg: sk.Message, in_flight: Step | None) -> tuple[Input, ...]:
        # We never send SKVER: an EVER line is the banner of a dongle that restarted
        # (unverified against a vendor manual; what our emulator prints on reset).
        if in_flight is Step.RESET:
            return _one(In.NOISE, reason="EVER during reset")
        return _one(In.LINK_LOST, reason="the dongle restarted (EVER unasked)")

    def _unasked(self, msg: sk.Message, _in_flight: Step | None) -> tuple[Input, ...]:
        return _one(In.STRAY, reason=f"unasked {type(msg).__name__}")

    def _garbled(self, _msg: sk.Message, _in_flight: Step | None) -> tuple[Input, ...]:
        return _one(In.GARBLED)  # the line may hold an echoed secret: not passed on

    def _unknown(self, _msg: sk.Message, _in_flight: Step | None) -> tuple[Input, ...]:
        return _one(In.UNKNOWN)


_Handler = Callable[[SkStackDriver, sk.Message, "Step | None"], tuple[Input, ...]]
_EventHandler = Callable[[SkStackDriver, sk.Event, "Step | None"], tuple[Input, ...]]
#: Message type -> translation (the parser's whole output vocabulary).
_HANDLERS: Final[Mapping[type, _Handler]] = {
    sk.Ok: SkStackDriver._ok,
    sk.Fail: SkStackDriver._fail,
    sk.Echo: SkStackDriver._echo,
    sk.LinkLocalAddress: SkStackDriver._address,
    sk.PanDescriptor: SkStackDriver._pan,
    sk.Event: SkStackDriver._event,
    sk.ERxUdp: SkStackDriver._datagram,
    sk.Ever: SkStackDriver._version,
    sk.EAppVer: SkStackDriver._unasked,
    sk.EInfo: SkStackDriver._unasked,
    sk.Garbled: SkStackDriver._garbled,
    sk.UnknownLine: SkStackDriver._unknown,
}
#: EVENT number -> translation; the rest (NS/NA, beacon, TX limit...) is noise.
_EVENTS: Final[Mapping[int, _EventHandler]] = {
    sk.EventCode.ACTIVE_SCAN_DONE: SkStackDriver._scan_done,
    sk.EventCode.UDP_SENT: SkStackDriver._udp_sent,
    sk.EventCode.PANA_FAILED: SkStackDriver._pana_failed,
    sk.EventCode.PANA_SUCCEEDED: SkStackDriver._pana_succeeded,
    sk.EventCode.SESSION_END_REQUESTED: SkStackDriver._session_ended,
    sk.EventCode.SESSION_ENDED: SkStackDriver._session_ended,
    sk.EventCode.SESSION_END_TIMED_OUT: SkStackDriver._session_ended,
    sk.EventCode.SESSION_EXPIRED: SkStackDriver._session_expired,
}
#: EVENT 21 PARAM -> sent? (reference 4.8).
_UDP_OUTCOMES: Final[Mapping[int | None, bool]] = {
    sk.UdpSendResult.SUCCESS: True,
    sk.UdpSendResult.FAILURE: False,
}


def _pan(link: LinkContext) -> PanInfo:
    assert link.pan is not None, "a join step before a PAN was chosen"
    return link.pan
