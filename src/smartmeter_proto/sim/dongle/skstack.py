"""Simulated SKSTACK IP dongles: ROHM BP35A1, BP35C0/C2, Tessera RL7023 Stick-D/IPS and /DSS.

Host commands are framed by :class:`~smartmeter_proto.wisun.skstack.device.CommandParser`
and every line comes from the formatters of :mod:`~smartmeter_proto.wisun.skstack.device`,
so model differences are those of the dialect (specs/skstack/*.yaml) plus the
few firmware facts of :data:`SK_MODELS`. SKJOIN shows PANA as the dongles do
(EVENT 21 per PANA message sent, ERXUDP on port 716 per message received, then
EVENT 25 or 24) with well-formed but synthetic RFC 5191 messages shaped like
those of a real session; no key is derived and no credential is ever printed
by the emulator itself (the echo-back repeats what the host typed, as the
hardware does). Sources, as in tests/wisun/test_skstack.py: [WSUHA] the
RS-WSUHA-P session of the Qiita NervesJP Advent Calendar 2023 article, [SMDN]
smdn/Smdn.Net.SkStackIP tests, [MOMONGA] momonga 0.7.0, [VKG] RL7023
Stick-D/IPS lines of vkgtaro/home_power_usage.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ...echonet.node import Node
from ...wisun.j11 import MIN_CHANNEL, link_local_from_mac
from ...wisun.skstack import ECHONET_LITE_PORT, MAX_SKSENDTO_DATA, PANA_PORT, format_ipv6
from ...wisun.skstack.device import (
    Command,
    CommandParser,
    format_echo,
    format_einfo,
    format_erxudp,
    format_event,
    format_ever,
    format_fail,
    format_ll64,
    format_ok,
    format_option_ok,
    format_pandesc,
)
from ...wisun.skstack.dialects import PayloadMode, get_dialect
from ...wisun.skstack.messages import (
    CRLF,
    EInfo,
    ERxUdp,
    Event,
    EventCode,
    FailCode,
    Garbled,
    PanDescriptor,
    RxHeader,
    UdpSendResult,
)
from ..radio import CaptureSink
from .emulator import DongleEmulator, Masked, Matcher, RadioIdentity

__all__ = ["SK_MODELS", "SkModel", "SkstackDongle"]

#: An injected session expiry that finds no session up is retried this often (s).
_EXPIRY_RETRY_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class SkModel:
    """Firmware facts of one SKSTACK model that the dialect files do not hold."""

    ever: str
    appver: str
    mac_prefix: bytes
    #: Registers accepted beyond the dialect's list (written, stored, no effect).
    extra_registers: frozenset[str] = frozenset()


#: Keyed by dialect name. EVER 1.2.10/EAPPVER rev26e: [SMDN] BP35A1; EVER 1.5.2: [WSUHA].
#: MAC prefixes: 001D1290 (BP35A1, [SMDN] EINFO), 001D1291 (BP35C2, [WSUHA] own address),
#: 100723FFFE (RL7023 Stick-D/IPS own address FE80::1207:23FF:FEA0:77E3, [VKG]).
#: SA2 on BP35A1-class firmware: [MOMONGA] open() sends SKSREG SA2 1 to every model and
#: lists RL7023 Stick-D/IPS (BP35A1 inside) as tested, so that firmware must answer OK;
#: its ERXUDP keeps no RSSI token ([MOMONGA] BP35A1Strategy reads 9 tokens).
#: EVER of the RL7023 sticks and EAPPVER of the 1.5 firmware are unverified.
SK_MODELS: Final = {
    "bp35a1": SkModel("1.2.10", "rev26e", bytes.fromhex("001D1290"), frozenset({"SA2"})),
    "bp35c2": SkModel("1.5.2", "rev26e", bytes.fromhex("001D1291")),
    "rl7023-ips": SkModel("1.2.10", "rev26e", bytes.fromhex("100723FFFE"), frozenset({"SA2"})),
    "rl7023-dss": SkModel("1.5.2", "rev26e", bytes.fromhex("100723FFFE")),
}

#: SKSCAN dwells 9.6 ms * (2**DURATION + 1) per channel ([MOMONGA] skscan estimates, after the
#: BP35A1 reference 3.9).
_SCAN_UNIT_S: Final = 0.0096
#: Channel numbers 33 (0x21, 922.5 MHz) .. 60 (0x3C), 200 kHz apart; mask bit 0 is channel 33
#: (BP35A1 reference, register S02). J11 numbers the 400 kHz channels 4.. from the same 922.5 MHz.
_FIRST_CHANNEL: Final = 0x21
_LAST_CHANNEL: Final = 0x3C
_SK_STEPS_PER_J11_CHANNEL: Final = 2
_CHANNEL_PAGE: Final = 9  # "Channel Page:09" in every capture ([WSUHA], [SMDN], [VKG])
_ED_SCAN, _SCAN_WITH_PAIRING_IE, _SCAN_WITHOUT_IE = 0, 2, 3
_MAX_DURATION: Final = 14
_SIDE_B: Final = 0  # side 0 = B-route on BP35C0/C2 (1 = HAN)
_MULTICAST_ALL_NODES: Final = format_ipv6("ff02::1")
_PWD_MAX: Final = 32
_RBID_LEN: Final = 32
_PAIRING_REGISTER: Final = "SA"  # S0A holds the pairing ID, the last 8 characters of the ID
#: The no-answer time of SKJOIN ([MOMONGA] skjoin estimate: "2s + 4s + 8s + 8s + 8s + 8s +
#: 8s = 38s"); the SKTERM no-answer time and the meter's first announcement delay are synthetic.
_ANNOUNCE_AFTER_S: Final = 0.25
_JOIN_TIMEOUT_S: Final = 38.0
_TERM_TIMEOUT_S: Final = 10.0
#: Register value rules: printed digits, minimum, maximum.
_REGISTER_RULES: Final = {
    "S2": (2, _FIRST_CHANNEL, _LAST_CHANNEL),
    "S3": (4, 0, 0xFFFF),
    "SFE": (1, 0, 1),
    "SA2": (1, 0, 1),
}
_HEX: Final = re.compile(r"[0-9A-Fa-f]+\Z")


def _register(name: str) -> str:
    """S02 and S2 name the same register."""
    upper = name.upper()
    return "S" + (upper[1:].lstrip("0") or "0") if upper.startswith("S") else upper


class _Fail(Exception):
    def __init__(self, code: FailCode) -> None:
        super().__init__(code.name)
        self.code = code


def _hex(text: str, lo: int, hi: int, digits: int | None = None) -> int:
    if not _HEX.match(text) or (digits is not None and len(text) != digits):
        raise _Fail(FailCode.INVALID_FORMAT)
    value = int(text, 16)
    if not lo <= value <= hi:
        raise _Fail(FailCode.INVALID_FORMAT)
    return value


def _argc(cmd: Command, *counts: int) -> None:
    if len(cmd.args) not in counts:
        raise _Fail(FailCode.INVALID_ARGUMENTS)


def _ipv6(text: str) -> str:
    if len(text) != 39:
        raise _Fail(FailCode.INVALID_FORMAT)
    try:
        return format_ipv6(text)
    except ValueError:
        raise _Fail(FailCode.INVALID_FORMAT) from None


class SkstackDongle(DongleEmulator):
    """A SKSTACK IP dongle of one dialect, answering byte for byte as that model does.

    ``payload_mode`` is the WOPT setting kept in flash (default: the dialect's
    factory value); the meter answers an active scan only when ``duration`` is
    at least ``min_scan_duration`` (a weak link needs longer scans).
    """

    def __init__(
        self,
        model: str,
        dialect: str,
        *,
        rbid: str,
        password: str,
        node: Node | None,
        now: float,
        seed: int,
        radio: RadioIdentity | None = None,
        capture: CaptureSink | None = None,
        payload_mode: PayloadMode | None = None,
        min_scan_duration: int = 4,
    ) -> None:
        self.dialect = get_dialect(dialect)
        self.profile = SK_MODELS[self.dialect.name]
        super().__init__(
            model,
            rbid=rbid,
            password=password,
            node=node,
            now=now,
            seed=seed,
            radio=radio,
            capture=capture,
        )
        if payload_mode is None:
            payload_mode = self.dialect.payload_mode_default
        self._payload_mode = PayloadMode(payload_mode)
        self._min_scan = min_scan_duration
        self._parser = CommandParser(self.dialect)
        self._registers_known = {_register(r) for r in self.dialect.registers} | {
            _register(r) for r in self.profile.extra_registers
        }
        self._reset()

    # ------------------------------------------------------------------ identity
    def _own_mac(self, rng: random.Random) -> bytes:
        prefix = self.profile.mac_prefix
        return prefix + rng.randbytes(8 - len(prefix))

    @property
    def channel(self) -> int:
        return _FIRST_CHANNEL + _SK_STEPS_PER_J11_CHANNEL * (self.radio.j11_channel - MIN_CHANNEL)

    @property
    def session_established(self) -> bool:
        return self._joined

    @property
    def payload_mode(self) -> PayloadMode:
        """ERXUDP data form now (WOPT 00 binary, 01 hex)."""
        return self._payload_mode

    def _reset(self) -> None:
        self._registers: dict[str, str] = {
            "S2": f"{_FIRST_CHANNEL:02X}",
            "S3": "FFFF",
            "SFE": "1" if self.dialect.echo_default else "0",
            "SA2": "0",
        }
        self._rbid: str | None = None
        self._password: str | None = None
        self._joined = False
        self._busy: str | None = None
        self._resolved = False
        self.pana.abort()

    # ------------------------------------------------------------------ output helpers
    def _line(self, data: bytes) -> None:
        self._emit(data)

    def _event(self, code: int, sender: str | None, *params: int) -> None:
        self._line(format_event(Event(code, sender, _SIDE_B, params), self.dialect))

    def _matcher(self, match: Any) -> Matcher:
        prefix = str(match).encode("ascii")
        return lambda unit: unit.startswith(prefix)

    def _body_end(self, unit: bytes) -> int:
        return len(unit) - 2 if unit.endswith(CRLF) else len(unit)

    def _emit_block(self, block: bytes) -> None:
        """A multi-line block (EPANDESC): each line meets the output faults on its own."""
        for line in block.split(CRLF)[:-1]:
            self._line(line + CRLF)

    def _erxudp(self, src_port: int, payload: bytes, dst: str, secured: bool) -> None:
        header = RxHeader(
            self.meter_ipv6, dst, src_port, src_port, self.meter_mac, secured, _SIDE_B,
            self.radio.lqi,
        )  # fmt: skip
        rssi = self.dialect.rssi_register is not None and self._registers["SA2"] == "1"
        msg = ERxUdp(header, payload)
        self._line(format_erxudp(msg, self.dialect, payload_mode=self._payload_mode, rssi=rssi))

    def _from_meter(self, payload: bytes, multicast: bool, now: float) -> None:
        dst = _MULTICAST_ALL_NODES if multicast else self.ipv6
        self._erxudp(ECHONET_LITE_PORT, payload, dst, secured=True)

    # ------------------------------------------------------------------ host input
    def _on_host_bytes(self, data: bytes, now: float) -> None:
        for item in self._parser.feed(data):
            if isinstance(item, Garbled):
                if self._registers["SFE"] == "1":
                    self._line(format_echo(item.line.decode("latin-1")))
                self._line(format_fail(FailCode.INVALID_FORMAT))
                continue
            if self._registers["SFE"] == "1":
                self._line(item.echo)
            failed, _ = self.faults.take_failure()
            handler = self._HANDLERS.get(item.name)
            try:
                if failed:
                    raise _Fail(FailCode.EXECUTION_FAILED)
                if handler is None:
                    raise _Fail(FailCode.UNSUPPORTED_COMMAND)
                handler(self, item, now)
            except _Fail as exc:
                self._line(format_fail(exc.code))

    def _ok(self) -> None:
        self._line(format_ok())

    # ------------------------------------------------------------------ commands
    def _skver(self, cmd: Command, now: float) -> None:
        _argc(cmd, 0)
        self._line(format_ever(self.profile.ever))
        self._ok()

    def _skappver(self, cmd: Command, now: float) -> None:
        _argc(cmd, 0)
        self._line(b"EAPPVER " + self.profile.appver.encode("ascii") + CRLF)
        self._ok()

    def _skinfo(self, cmd: Command, now: float) -> None:
        _argc(cmd, 0)
        info = EInfo(
            self.ipv6,
            self.mac,
            int(self._registers["S2"], 16),
            int(self._registers["S3"], 16),
            short_addr=0xFFFE,  # no short address on the B-route ([SMDN] EINFO ... FFFE)
            side=_SIDE_B,
        )
        self._line(format_einfo(info, self.dialect))
        self._ok()

    def _skreset(self, cmd: Command, now: float) -> None:
        _argc(cmd, 0)
        self._cancel("scan", "pana", "meter", "expiry")
        self._reset()
        self._ok()

    def _sksreg(self, cmd: Command, now: float) -> None:
        _argc(cmd, 1, 2)
        name = _register(cmd.args[0])
        if name not in self._registers_known:
            raise _Fail(FailCode.INVALID_FORMAT)
        if len(cmd.args) == 1:
            value = self._registers.get(name, "0")
            self._line(b"ESREG " + value.encode("ascii") + CRLF)
            self._ok()
            return
        text = cmd.args[1]
        rule = _REGISTER_RULES.get(name)
        if rule is None:
            _hex(text, 0, (1 << 64) - 1)
            self._registers[name] = text.upper()
        else:
            digits, lo, hi = rule
            self._registers[name] = f"{_hex(text, lo, hi):0{digits}X}"
        self._ok()

    def _sksetpwd(self, cmd: Command, now: float) -> None:
        _argc(cmd, 2)
        size = _hex(cmd.args[0], 1, _PWD_MAX)
        if len(cmd.args[1]) != size:
            raise _Fail(FailCode.INVALID_FORMAT)
        self._password = Masked(cmd.args[1])
        self._ok()

    def _sksetrbid(self, cmd: Command, now: float) -> None:
        _argc(cmd, 1)
        if len(cmd.args[0]) != _RBID_LEN:
            raise _Fail(FailCode.INVALID_FORMAT)
        self._rbid = Masked(cmd.args[0])
        self._registers[_PAIRING_REGISTER] = self._rbid[-8:]
        self._ok()

    def _skll64(self, cmd: Command, now: float) -> None:
        _argc(cmd, 1)
        mac = _hex(cmd.args[0], 0, (1 << 64) - 1, digits=16).to_bytes(8, "big")
        self._line(format_ll64(format_ipv6(link_local_from_mac(mac))))

    def _skscan(self, cmd: Command, now: float) -> None:
        _argc(cmd, 4 if self.dialect.skscan_side else 3)
        mode = _hex(cmd.args[0], 0, 3)
        if mode not in (_ED_SCAN, _SCAN_WITH_PAIRING_IE, _SCAN_WITHOUT_IE):
            raise _Fail(FailCode.INVALID_FORMAT)
        mask = _hex(cmd.args[1], 0, 0xFFFFFFFF)
        duration = _hex(cmd.args[2], 0, _MAX_DURATION)
        side = _hex(cmd.args[3], 0, 1) if self.dialect.skscan_side else _SIDE_B
        if self._busy is not None:
            raise _Fail(FailCode.EXECUTION_FAILED)
        self._busy = "scan"
        self._ok()
        every = range(_FIRST_CHANNEL, _LAST_CHANNEL + 1)
        channels = [ch for ch in every if mask >> (ch - _FIRST_CHANNEL) & 1]
        dwell = _SCAN_UNIT_S * (2**duration + 1)
        end = now + dwell * len(channels)
        if mode == _ED_SCAN:
            self._at(end, lambda t: self._ed_scan_done(channels, t), "scan")
            return
        pairing = mode == _SCAN_WITH_PAIRING_IE
        heard = side == _SIDE_B and duration >= self._min_scan and self.channel in channels
        if pairing:  # the meter answers only a beacon request carrying its pairing ID
            ours = None if self._rbid is None else self._rbid[-8:]
            heard = heard and ours == self._credentials.pairing_id
        if heard:
            at = now + dwell * (channels.index(self.channel) + 1)
            self._at(at, lambda t: self._beacon(pairing, t), "scan")
        self._at(end, self._scan_done, "scan")

    def _beacon(self, pairing: bool, now: float) -> None:
        if self.meter_silent(now):
            return
        self._event(EventCode.BEACON_RECEIVED, self.ipv6)  # [WSUHA]: sender is the dongle
        pan = PanDescriptor(
            self.channel,
            _CHANNEL_PAGE,
            self.pan_id,
            self.meter_mac,
            self.radio.lqi,
            _SIDE_B,
            self._credentials.pairing_id if pairing else None,
        )
        self._emit_block(format_pandesc(pan, self.dialect))

    def _scan_done(self, now: float) -> None:
        self._busy = None
        self._event(EventCode.ACTIVE_SCAN_DONE, self.ipv6)

    def _ed_scan_done(self, channels: list[int], now: float) -> None:
        """EVENT 1F, then EEDSCAN: channel/level pairs and the extra CRLF [SMDN] records."""
        self._busy = None
        self._event(EventCode.ED_SCAN_DONE, self.ipv6)
        levels = " ".join(f"{ch:02X} {self._rng.randrange(0x02, 0x12):02X}" for ch in channels)
        self._line(b"EEDSCAN" + CRLF)
        self._line(levels.encode("ascii") + CRLF)
        self._line(CRLF)

    def _skjoin(self, cmd: Command, now: float) -> None:
        _argc(cmd, 1)
        target = _ipv6(cmd.args[0])
        if self._busy is not None or self._joined:
            raise _Fail(FailCode.EXECUTION_FAILED)
        self._busy = "join"
        self._ok()
        reachable = (
            target == self.meter_ipv6
            and int(self._registers["S2"], 16) == self.channel
            and int(self._registers["S3"], 16) == self.pan_id
        )
        self._deadline(now, _JOIN_TIMEOUT_S)
        if not reachable:
            # [WSUHA]: the first datagram to the meter waits for neighbour discovery.
            self._event(EventCode.UDP_SENT, target, UdpSendResult.NEIGHBOR_SOLICITATION)
            return
        self._resolved = False
        self.pana.join(self._rbid or "", self._password or "", now,
                       refuse=self.faults.take_join_failure())  # fmt: skip

    def _on_session_expiry(self, now: float) -> None:
        if not self._joined or self._busy is not None:
            # No session yet, or one being set up: the lifetime runs out once it is up.
            self._at(now + _EXPIRY_RETRY_S, self._on_session_expiry, "expiry")
            return
        self.pana.reauthenticate(now)

    def _skterm(self, cmd: Command, now: float) -> None:
        _argc(cmd, 0)
        if not self._joined or self._busy is not None:
            raise _Fail(FailCode.EXECUTION_FAILED)
        self._busy = "term"
        self._ok()
        self._deadline(now, _TERM_TIMEOUT_S)
        self.pana.terminate(now)

    def _sksendto(self, cmd: Command, now: float) -> None:
        _argc(cmd, 6 if self.dialect.sksendto_side else 5)
        _hex(cmd.args[0], 1, 6)  # handle
        target = _ipv6(cmd.args[1])
        port = _hex(cmd.args[2], 0, 0xFFFF, digits=4)
        secure = _hex(cmd.args[3], 0, 2)
        side = _hex(cmd.args[4], 0, 1) if self.dialect.sksendto_side else _SIDE_B
        payload = cmd.payload or b""
        if not 1 <= len(payload) <= MAX_SKSENDTO_DATA:
            raise _Fail(FailCode.INVALID_FORMAT)
        if secure and not self._joined:
            raise _Fail(FailCode.EXECUTION_FAILED)  # no PANA key to encrypt with
        self._event(EventCode.UDP_SENT, target, UdpSendResult.SUCCESS)
        self._ok()
        to_meter = target in (self.meter_ipv6, _MULTICAST_ALL_NODES)
        if to_meter and port == ECHONET_LITE_PORT and side == _SIDE_B and secure:
            self._to_meter(payload, now, multicast=target == _MULTICAST_ALL_NODES)

    def _ropt(self, cmd: Command, now: float) -> None:
        if not self.dialect.option_commands:
            raise _Fail(FailCode.UNSUPPORTED_COMMAND)
        _argc(cmd, 0)
        self._line(format_option_ok(f"{int(self._payload_mode):02X}", self.dialect))

    def _wopt(self, cmd: Command, now: float) -> None:
        if not self.dialect.option_commands:
            raise _Fail(FailCode.UNSUPPORTED_COMMAND)
        _argc(cmd, 1)
        self._payload_mode = PayloadMode(_hex(cmd.args[0], 0, 1))
        self._line(format_option_ok(None, self.dialect))

    _HANDLERS: ClassVar[dict[str, Callable[[SkstackDongle, Command, float], None]]] = {
        "SKVER": _skver,
        "SKAPPVER": _skappver,
        "SKINFO": _skinfo,
        "SKRESET": _skreset,
        "SKSREG": _sksreg,
        "SKSETPWD": _sksetpwd,
        "SKSETRBID": _sksetrbid,
        "SKLL64": _skll64,
        "SKSCAN": _skscan,
        "SKJOIN": _skjoin,
        "SKTERM": _skterm,
        "SKSENDTO": _sksendto,
        "ROPT": _ropt,
        "WOPT": _wopt,
    }

    # ------------------------------------------------------------------ PANA as the host sees it
    def pana_sent(self, now: float, *, retransmission: bool) -> None:
        if retransmission:
            return  # one EVENT 21 per message (our choice: no source shows resends)
        if not self._resolved:
            # [WSUHA]: EVENT 21 with result 02 (neighbour solicitation), then EVENT 02 once
            # the meter answers it.
            self._resolved = True
            self._event(EventCode.UDP_SENT, self.meter_ipv6, UdpSendResult.NEIGHBOR_SOLICITATION)
            if not self.meter_silent(now):
                self._event(EventCode.NA_RECEIVED, self.meter_ipv6)
        else:
            self._event(EventCode.UDP_SENT, self.meter_ipv6, UdpSendResult.SUCCESS)

    def pana_received(self, message: bytes, now: float) -> None:
        self._erxudp(PANA_PORT, message, self.ipv6, secured=False)

    def pana_established(self, now: float, *, fresh: bool) -> None:
        self._phase(EventCode.PANA_SUCCEEDED, now)

    def pana_failed(self, reason: str, now: float) -> None:
        self._phase(EventCode.PANA_FAILED, now)

    def pana_reauthenticating(self, now: float) -> None:
        self._busy = "reauth"
        self._deadline(now, _JOIN_TIMEOUT_S)
        self._phase(EventCode.SESSION_EXPIRED, now)

    def pana_terminated(self, now: float, *, answered: bool) -> None:
        self._phase(EventCode.SESSION_ENDED if answered else EventCode.SESSION_END_TIMED_OUT, now)

    def _deadline(self, now: float, seconds: float) -> None:
        """The dongle's own give-up time for the PANA phase under way."""
        self._cancel("pana-deadline")
        self._at(now + seconds, self._no_answer, "pana-deadline")

    def _no_answer(self, now: float) -> None:
        term = self._busy == "term"
        self.pana.abort()
        self._phase(EventCode.SESSION_END_TIMED_OUT if term else EventCode.PANA_FAILED, now)

    def _phase(self, code: int, now: float) -> None:
        """An EVENT that moves the session: 29 starts re-authentication, the others end a phase."""
        self._event(code, self.meter_ipv6)
        if code == EventCode.SESSION_EXPIRED:
            self._joined = False
            return
        self._cancel("pana-deadline")
        fresh = self._busy == "join"
        self._busy = None
        self._joined = code == EventCode.PANA_SUCCEEDED
        if self._joined and fresh:
            # A meter announces its instance list (0xD5) right after the join ([WSUHA]).
            self.node.start(now)
            self._collect_node(now, _ANNOUNCE_AFTER_S)
