"""Dongle emulator (SKSTACK IP and J11) driven in memory by our host-side codecs, on fake time.

Real bytes come from:
  [WSUHA]   the RS-WSUHA-P (BP35C2 inside) session published in the Qiita article
            "NervesとWi-SUNドングルで自宅の消費電力を把握したい" (NervesJP Advent Calendar
            2023), as transcribed in tests/wisun/test_skstack.py: EPANDESC block, PANA
            message sizes and flags, SKSENDTO echo / EVENT 21 / OK, the D5 INF line.
  [ROHM-AN] ROHM application note 63AN028E frames F1..F21 (tests/vectors/j11/frames.json).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.auth.eap import EapCode, EapPacket
from smartmeter_proto.auth.eap_psk_messages import decode_psk_message
from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.sim.dongle import (
    MODELS,
    SESSION_LIFETIME_S,
    DongleEmulator,
    RadioIdentity,
    make_dongle,
)
from smartmeter_proto.sim.dongle.j11 import J11Dongle
from smartmeter_proto.sim.dongle.skstack import SK_MODELS, SkstackDongle
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.wisun import j11
from smartmeter_proto.wisun import skstack as sk
from smartmeter_proto.wisun.j11 import messages as jm
from smartmeter_proto.wisun.radio.lowpan import Reassembler
from smartmeter_proto.wisun.radio.pana import message as pana
from smartmeter_proto.wisun.radio.pcap import PcapWriter, read_pcap
from smartmeter_proto.wisun.skstack import (
    Echo,
    EInfo,
    ERxUdp,
    Event,
    Ever,
    Fail,
    Garbled,
    LinkLocalAddress,
    Ok,
    PanDescriptor,
    PayloadMode,
    UnknownLine,
)

RBID = "00112233445566778899AABB0194BFAD"  # ends with the [WSUHA] PairID
PASSWORD = "0123456789AB"
T0 = 1_780_000_000.0  # 200 s before a half hour
HALF_HOUR_AFTER_T0 = 200.0
#: The [WSUHA] meter: MAC (anonymised by the author), PAN B5FB, SKSTACK channel 0x31 = J11 12.
WSUHA_RADIO = RadioIdentity(
    meter_mac=bytes.fromhex("0011223344556677"), pan_id=0xB5FB, j11_channel=12, lqi=0xDD
)
SK_MODEL_NAMES = ("bp35a1", "bp35c2", "rl7023", "rl7023-dss")
ALL_CHANNELS_SCAN_S = 28 * 0.0096 * (2**6 + 1)  # SKSCAN 2 FFFFFFFF 6: 17.472 s
MULTICAST = "FF02:0000:0000:0000:0000:0000:0000:0001"
VECTORS = Path(__file__).parents[1] / "vectors" / "j11" / "frames.json"


def get_request(epc: int, tid: int = 1) -> bytes:
    return fr.encode(
        fr.Frame(tid, fr.EOJ(0x05, 0xFF, 0x01), METER_EOJ, fr.ESV.GET, (fr.Property(epc),))
    )


def el(data: bytes) -> fr.Frame:
    """An ECHONET Lite format-1 frame (the meter never sends anything else)."""
    frame = fr.decode(data)
    assert isinstance(frame, fr.Frame)
    return frame


class Host:
    """A host on the serial line: writes commands, reads the dongle through a codec, fake clock."""

    def __init__(self, model: str, *, password: str = PASSWORD, **options: Any) -> None:
        self.meter = SimulatedMeter()
        self.dongle = make_dongle(
            model,
            rbid=RBID,
            password=password,
            node=meter_node(self.meter, now=T0),
            now=T0,
            radio=options.pop("radio", WSUHA_RADIO),
            **options,
        )
        self.now = T0
        self.raw = bytearray()

    def _decode(self, data: bytes) -> list[Any]:
        raise NotImplementedError

    def _collect(self) -> list[Any]:
        out = self.dongle.data_to_send()
        self.raw += out
        return self._decode(out)

    def run(self, seconds: float = 0.0) -> list[Any]:
        end = self.now + seconds
        out: list[Any] = []
        while (deadline := self.dongle.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.dongle.handle_timeout(deadline)
            out += self._collect()
        self.now = end
        self.dongle.handle_timeout(end)  # the emulator's clock follows ours (faults act from it)
        return out + self._collect()

    def write(self, data: bytes, wait: float = 0.0) -> list[Any]:
        self.dongle.receive_data(data, self.now)
        return self._collect() + self.run(wait)


class SkHost(Host):
    def __init__(self, model: str, **kw: Any) -> None:
        super().__init__(model, **kw)
        assert isinstance(self.dongle, SkstackDongle)
        self.sk: SkstackDongle = self.dongle
        self.dialect = self.sk.dialect
        self.parser = sk.Parser(self.dialect)

    def _decode(self, data: bytes) -> list[Any]:
        return self.parser.feed(data)

    def write(self, data: bytes, wait: float = 0.0) -> list[Any]:
        self.parser.expect_echo(data)  # needed when echo-back is off
        return super().write(data, wait)

    def cmd(self, data: bytes, wait: float = 0.0) -> list[Any]:
        """Like write, without the echo line."""
        return [m for m in self.write(data, wait) if not isinstance(m, Echo)]

    def setup(self, *, rbid: str = RBID, password: str = PASSWORD) -> None:
        if self.dialect.option_commands and self.cmd(sk.ropt()) != [Ok("01")]:  # as momonga does
            assert self.cmd(sk.wopt(PayloadMode.HEX)) == [Ok()]
        assert self.cmd(sk.sksetpwd(password)) == [Ok()]
        assert self.cmd(sk.sksetrbid(rbid)) == [Ok()]

    def scan(self, duration: int = 6, mode: int = 2) -> list[Any]:
        cmd = sk.skscan(mode, 0xFFFFFFFF, duration, dialect=self.dialect)
        assert self.cmd(cmd) == [Ok()]
        return self.run(28 * 0.0096 * (2**duration + 1))

    def join(self) -> list[Any]:
        d = self.dongle
        assert self.cmd(sk.sksreg("S2", d.channel)) == [Ok()]
        assert self.cmd(sk.sksreg("S3", d.pan_id)) == [Ok()]
        return self.cmd(sk.skjoin(d.meter_ipv6), wait=5.0)

    def get(self, epc: int = 0xE7, tid: int = 1, wait: float = 1.0) -> list[Any]:
        request = sk.sksendto(self.dongle.meter_ipv6, get_request(epc, tid), dialect=self.dialect)
        return self.cmd(request, wait)


def events(msgs: list[Any]) -> list[int]:
    return [m.code for m in msgs if isinstance(m, Event)]


def udp(msgs: list[Any], port: int = sk.ECHONET_LITE_PORT) -> list[ERxUdp]:
    return [m for m in msgs if isinstance(m, ERxUdp) and m.rport == port]


def assert_clean(msgs: list[Any]) -> None:
    assert not [m for m in msgs if isinstance(m, Garbled)]


# --------------------------------------------------------------------------- SKSTACK sessions
@pytest.mark.parametrize("model", SK_MODEL_NAMES)
def test_whole_session(model: str) -> None:
    h = SkHost(model)
    d = h.sk
    profile = SK_MODELS[d.dialect.name]
    assert h.cmd(sk.skver()) == [Ever(profile.ever), Ok()]
    info = h.cmd(sk.skinfo())
    side_dialect = d.dialect.einfo_fields[4] == "side"
    assert info == [
        EInfo(
            d.ipv6,
            d.mac,
            0x21,
            0xFFFF,
            short_addr=None if side_dialect else 0xFFFE,
            side=0 if side_dialect else None,
        ),
        Ok(),
    ]
    if not d.dialect.option_commands:  # RL7023 Stick-D/IPS: [MOMONGA] handles this ER04
        assert h.cmd(sk.ropt()) == [Fail(4)]
    h.setup()
    assert h.cmd(sk.sksreg("SA2", "1")) == [Ok()]  # accepted by every model ([MOMONGA])

    # SKSCAN: the beacon comes while the meter's channel is scanned, EVENT 22 at the very end.
    assert h.cmd(sk.skscan(2, 0xFFFFFFFF, 6, dialect=d.dialect)) == [Ok()]
    before = h.run(ALL_CHANNELS_SCAN_S - 0.001)
    pan = next(m for m in before if isinstance(m, PanDescriptor))
    assert pan == PanDescriptor(
        0x31, 9, 0xB5FB, WSUHA_RADIO.meter_mac, 0xDD, 0 if side_dialect else None, "0194BFAD"
    )
    assert events(before) == [0x20]
    assert events(h.run(0.002)) == [0x22]

    assert h.cmd(sk.skll64(pan.addr)) == [LinkLocalAddress(d.meter_ipv6)]
    msgs = h.join()
    assert_clean(msgs)
    assert events(msgs) == [0x21, 0x02, 0x21, 0x21, 0x21, 0x21, 0x25]
    assert d.session_established
    assert len(udp(msgs, sk.PANA_PORT)) == 4
    (announce,) = udp(msgs)
    assert announce.dst == MULTICAST
    assert announce.secured
    inf = el(announce.payload)
    assert inf.esv == fr.ESV.INF
    assert inf.properties[0].epc == 0xD5

    # Get of 0xE7: EVENT 21 (sent) then OK at once; the Get_Res arrives as ERXUDP.
    asked_at = h.now
    msgs = h.get(0xE7, tid=0x1234, wait=0.0)
    assert msgs == [Event(0x21, d.meter_ipv6, 0 if d.dialect.event_side else None, (0,)), Ok()]
    (answer,) = udp(h.run(1.0))
    assert (answer.src, answer.dst, answer.src_mac) == (d.meter_ipv6, d.ipv6, d.meter_mac)
    assert answer.rssi == (0xDD if d.dialect.rssi_register else None)
    res = el(answer.payload)
    assert (res.tid, res.esv, res.seoj) == (0x1234, fr.ESV.GET_RES, METER_EOJ)
    watts = int.from_bytes(res.properties[0].edt, "big", signed=True)
    assert watts == h.meter.curve.power_w(asked_at)

    # The meter's fixed-time reading goes out at the half hour, not before.
    assert udp(h.run(HALF_HOUR_AFTER_T0 - (h.now - T0) - 0.01)) == []
    (fixed,) = udp(h.run(0.02))
    # Like a real meter (63AN028E F19, RS-WSUHA-P capture): unicast to the HEMS that
    # read it, addressed to its controller object.
    assert fixed.dst == d.ipv6
    assert [p.epc for p in el(fixed.payload).properties] == [0xEA]
    assert el(fixed.payload).deoj == fr.EOJ(0x05, 0xFF, 0x01)

    msgs = h.cmd(sk.skterm(), wait=2.0)
    assert events(msgs) == [0x21, 0x27]
    assert len(udp(msgs, sk.PANA_PORT)) == 1
    assert not d.session_established
    assert h.cmd(sk.skterm()) == [Fail(10)]
    assert_clean(h.parser.feed(b""))


def test_wsuha_capture_bytes() -> None:
    """Lines the [WSUHA] RS-WSUHA-P printed, byte for byte (own address substituted)."""
    h = SkHost("bp35c2")
    h.setup()
    me = h.dongle.ipv6.encode()
    meter = h.dongle.meter_ipv6.encode()
    h.raw.clear()
    h.scan()
    assert bytes(h.raw).split(b"\r\nOK\r\n", 1)[1] == (
        b"EVENT 20 " + me + b" 0\r\nEPANDESC\r\n  Channel:31\r\n  Channel Page:09\r\n"
        b"  Pan ID:B5FB\r\n  Addr:0011223344556677\r\n  LQI:DD\r\n  Side:0\r\n"
        b"  PairID:0194BFAD\r\nEVENT 22 " + me + b" 0\r\n"
    )
    h.raw.clear()
    msgs = h.join()
    lines = bytes(h.raw).split(b"\r\n")
    assert b"EVENT 21 " + meter + b" 0 02" in lines
    assert b"EVENT 02 " + meter + b" 0" in lines
    pana = udp(msgs, sk.PANA_PORT)
    assert all(line.startswith(b"ERXUDP " + meter + b" " + me + b" 02CC 02CC 0011223344556677 0 0 ")
               for line in lines if b" 02CC " in line)  # fmt: skip
    headers = [struct.unpack_from(">HHHHII", m.payload) for m in pana]
    # [WSUHA]: sizes 0x28, 0x68, 0x54, 0x58; flags R|S, R, R, R|C; all PANA-Auth (type 2),
    # one session ID, consecutive sequence numbers.
    assert [(h_[1], h_[2], h_[3]) for h_ in headers] == [
        (0x28, 0xC000, 2),
        (0x68, 0x8000, 2),
        (0x54, 0x8000, 2),
        (0x58, 0xA000, 2),
    ]
    assert [len(m.payload) for m in pana] == [0x28, 0x68, 0x54, 0x58]
    assert len({h_[4] for h_ in headers}) == 1
    assert [h_[5] - headers[0][5] for h_ in headers] == [0, 1, 2, 3]
    # The final PAR grants the capture's 24-hour Session-Lifetime (AVP 8).
    assert struct.pack(">HHHHI", 8, 0, 4, 0, SESSION_LIFETIME_S) in pana[-1].payload
    d5 = next(line for line in lines if MULTICAST.encode() in line)
    head, _, data = d5.rpartition(b" ")
    assert (
        head
        == b"ERXUDP " + meter + b" " + MULTICAST.encode() + b" 0E1A 0E1A 0011223344556677 1 0 0012"
    )
    assert data[:4] + data[8:] == b"1081" + b"0EF0010EF0017301D50401028801"  # TID is the node's
    h.raw.clear()
    h.cmd(sk.sksendto(h.dongle.meter_ipv6, get_request(0xE7), dialect=h.dialect, sec=1))
    assert bytes(h.raw) == (
        b"SKSENDTO 1 " + meter + b" 0E1A 1 0 000E \r\nEVENT 21 " + meter + b" 0 00\r\nOK\r\n"
    )


def test_bp35a1_prints_binary_data_until_wopt() -> None:
    h = SkHost("bp35a1")
    assert h.cmd(sk.sksetpwd(PASSWORD)) == [Ok()]
    assert h.cmd(sk.sksetrbid(RBID)) == [Ok()]
    h.scan()
    assert events(h.join())[-1] == 0x25
    h.get(0x80, wait=0.0)
    h.raw.clear()
    msgs = h.run(1.0)
    (answer,) = udp(msgs)
    assert bytes(h.raw).endswith(b" 000F " + answer.payload + b"\r\n")  # raw, not hex
    assert el(answer.payload).properties[0].edt == b"\x30"


def test_wrong_password_gives_event_24() -> None:
    h = SkHost("bp35a1")
    h.setup(password="WRONGPASSWRD")
    h.scan()
    msgs = h.join()
    assert events(msgs) == [0x21, 0x02, 0x21, 0x21, 0x21, 0x24]
    final = udp(msgs, sk.PANA_PORT)[-1].payload
    assert struct.unpack_from(">HH", final, 4) == (0xA000, 2)  # PAR with the C flag
    assert struct.pack(">HHHHI", 7, 0, 4, 0, 1) in final  # Result-Code: authentication rejected
    assert not h.dongle.session_established
    assert h.get() == [Fail(10)]  # nothing to encrypt with


def test_join_to_the_wrong_channel_times_out() -> None:
    h = SkHost("bp35c2")
    h.setup()
    assert h.cmd(sk.sksreg("S2", 0x21)) == [Ok()]
    assert h.cmd(sk.sksreg("S3", h.dongle.pan_id)) == [Ok()]
    assert events(h.cmd(sk.skjoin(h.dongle.meter_ipv6), wait=37.0)) == [0x21]
    assert events(h.run(2.0)) == [0x24]


@pytest.mark.parametrize(
    ("duration", "rbid", "mode", "found", "pair_id"),
    [
        (3, RBID, 2, False, None),  # too short for this link
        (4, RBID, 2, True, "0194BFAD"),
        (6, "F" * 32, 2, False, None),  # another meter's pairing ID: no answer
        (6, "F" * 32, 3, True, None),  # without the pairing IE: no PairID line
    ],
)
def test_scan_outcomes(
    duration: int, rbid: str, mode: int, found: bool, pair_id: str | None
) -> None:
    h = SkHost("bp35a1")
    h.setup(rbid=rbid)
    msgs = h.scan(duration, mode)
    pans = [m for m in msgs if isinstance(m, PanDescriptor)]
    assert events(msgs) == ([0x20, 0x22] if found else [0x22])
    assert [p.pair_id for p in pans] == ([pair_id] if found else [])


def test_energy_detect_scan() -> None:
    h = SkHost("bp35a1")
    assert h.cmd(sk.skscan(0, 0x7, 2)) == [Ok()]
    msgs = h.run(3 * 0.0096 * 5)
    # [SMDN]: EVENT 1F, "EEDSCAN", channel/level pairs, then an extra CRLF.
    assert msgs[0] == Event(0x1F, h.dongle.ipv6)
    assert msgs[1] == UnknownLine(b"EEDSCAN")
    assert re.fullmatch(rb"21 [0-9A-F]{2} 22 [0-9A-F]{2} 23 [0-9A-F]{2}", msgs[2].line)
    assert len(msgs) == 3
    assert bytes(h.raw).endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"SKFOO\r\n", 4),
        (b"SKVER 1\r\n", 5),
        (b"SKSREG S2\r\nSKSREG S2 ZZ\r\n", 6),
        (b"SKSREG S99 1\r\n", 6),
        (b"SKSREG S2 20\r\n", 6),  # below channel 33
        (b"SKSETPWD C 123\r\n", 6),
        (b"SKSETRBID 1234\r\n", 6),
        (b"SKJOIN FE80::1\r\n", 6),
        (b"SKLL64 0011\r\n", 6),
        (b"SKSCAN 2 FFFFFFFF\r\n", 5),
        (b"SKSCAN 1 FFFFFFFF 6\r\n", 6),
        (b"SKSENDTO 1 " + MULTICAST.encode() + b" 0E1A 1 0003 abc", 10),  # no session yet
        (b"SKSENDTO 7 " + MULTICAST.encode() + b" 0E1A 0 0003 abc", 6),
    ],
)
def test_command_errors(line: bytes, code: int) -> None:
    h = SkHost("bp35a1")
    assert h.cmd(line)[-1] == Fail(code)


def test_register_read_and_echo_off() -> None:
    h = SkHost("bp35c2")
    assert h.cmd(b"SKSREG S02\r\n") == [UnknownLine(b"ESREG 21"), Ok()]
    assert h.write(b"SKSREG SFE 0\r\n") == [Echo("SKSREG SFE 0"), Ok()]  # its own echo still shows
    assert h.write(b"SKVER\r\n") == [Ever("1.5.2"), Ok()]
    assert h.write(b"SKSREG S3 1\r\nSKSREG S3\r\n") == [Ok(), UnknownLine(b"ESREG 0001"), Ok()]


def test_reset_clears_the_session_but_not_wopt() -> None:
    h = SkHost("bp35c2")
    h.setup()
    h.scan()
    assert events(h.join())[-1] == 0x25
    assert h.cmd(sk.skreset()) == [Ok()]
    assert not h.dongle.session_established
    assert h.cmd(sk.ropt()) == [Ok("01")]  # WOPT is kept in flash
    assert h.get() == [Fail(10)]


# --------------------------------------------------------------------------- SKSTACK faults
def joined(model: str = "bp35c2") -> SkHost:
    h = SkHost(model)
    h.setup()
    h.scan()
    assert events(h.join())[-1] == 0x25
    return h


def test_session_expiry_reauthenticates() -> None:
    h = joined()
    h.dongle.inject("session_expiry")
    assert events(h.run()) == [0x29, 0x21]  # EVENT 29, then the PNR(A) goes out
    assert h.get(wait=0.0) == [Fail(10)]  # no session while re-authenticating
    msgs = h.run(5.0)
    assert events(msgs) == [0x21, 0x21, 0x21, 0x25]
    flags = [struct.unpack_from(">HH", m.payload, 4) for m in udp(msgs, sk.PANA_PORT)]
    assert flags[0] == (0x1000, 4)  # PANA-Notification-Answer with the A (re-auth) flag
    assert len(udp(h.get(0xE7, wait=1.0))) == 1


def test_join_failure_fault_then_success() -> None:
    h = SkHost("bp35a1")
    h.setup()
    h.scan()
    h.dongle.inject("join_failure")
    assert events(h.join())[-1] == 0x24
    assert events(h.cmd(sk.skjoin(h.dongle.meter_ipv6), wait=5.0))[-1] == 0x25


def test_drop_line() -> None:
    h = joined()
    h.dongle.inject("drop_line", match="ERXUDP")
    assert udp(h.get()) == []
    assert len(udp(h.get())) == 1
    h.dongle.inject("drop_line")  # the very next line: here the echo
    assert h.write(sk.skver()) == [Ever("1.5.2"), Ok()]


@pytest.mark.parametrize("mode", ["corrupt", "truncate"])
def test_garble_line(mode: str) -> None:
    h = joined()
    h.dongle.inject("garble_line", match="EVER", mode=mode)
    h.raw.clear()
    msgs = h.cmd(sk.skver())
    assert Ever("1.5.2") not in msgs
    if mode == "corrupt":
        assert len(h.raw) == len(b"SKVER\r\nEVER 1.5.2\r\nOK\r\n")
        assert sum(b >= 0x80 for b in h.raw) == 1
        assert msgs[-1] == Ok()
    else:  # the first half of "EVER 1.5.2", no line end: the OK runs into it
        assert bytes(h.raw) == b"SKVER\r\nEVER OK\r\n"


def test_silent_meter() -> None:
    h = joined()
    h.dongle.inject("silent_meter", seconds=10)
    assert udp(h.get(wait=5.0)) == []
    h.run(5.0)
    assert len(udp(h.get())) == 1


def test_silent_meter_over_the_half_hour_and_join() -> None:
    h = joined("bp35a1")
    h.dongle.inject("silent_meter", seconds=HALF_HOUR_AFTER_T0 + 60)
    assert udp(h.run(HALF_HOUR_AFTER_T0)) == []  # no INF while silent
    assert events(h.cmd(sk.skterm(), wait=11.0)) == [0x21, 0x28]  # no answer to PTR
    assert events(h.cmd(sk.skjoin(h.dongle.meter_ipv6), wait=40.0)) == [0x21, 0x24]


def test_fail_er10() -> None:
    h = SkHost("bp35a1")
    h.dongle.inject("fail_er10")
    assert h.write(sk.skver()) == [Echo("SKVER"), Fail(10)]
    assert h.cmd(sk.skver()) == [Ever("1.2.10"), Ok()]


def test_disconnect() -> None:
    h = joined()
    h.dongle.inject("disconnect")
    assert h.dongle.disconnected
    assert h.dongle.next_deadline() is None
    assert h.write(sk.skver(), wait=HALF_HOUR_AFTER_T0 * 2) == []


def test_faults_are_checked() -> None:
    h = SkHost("bp35a1")
    with pytest.raises(ValueError, match="not a valid Fault"):
        h.dongle.inject("meteor_strike")
    with pytest.raises(TypeError):
        h.dongle.inject("silent_meter", minutes=3)


@pytest.mark.parametrize("model", ["bp35a1", "bp35c2", "j11"])
def test_credentials_never_printed(model: str) -> None:
    """With echo-back off, no byte of output, no repr and no error holds the ID or password."""
    secrets = [RBID, PASSWORD]
    forms = [f(s) for s in secrets for f in (str.encode, lambda s: s.encode().hex().encode())]
    forms += [f.upper() for f in forms]
    h: Host
    if model == "j11":
        jh = J11Host()
        jh.session()
        jh.dongle.inject("session_expiry")
        jh.run(5.0)
        h = jh
    else:
        sh = SkHost(model)
        assert sh.write(sk.sksreg("SFE", "0"))[-1] == Ok()
        sh.setup()
        sh.scan()
        sh.join()
        sh.get()
        sh.dongle.inject("session_expiry")
        sh.run(5.0)
        sh.setup(password="WRONGPASSWRD")
        sh.cmd(sk.skterm(), 2)
        sh.join()
        h = sh
    h.run(HALF_HOUR_AFTER_T0)
    shown = bytes(h.raw) + repr(h.dongle).encode() + repr(vars(h.dongle)).encode()
    assert not [f for f in forms if f in shown]
    with pytest.raises(ValueError, match="ID must be 32 characters") as err:
        make_dongle(model, rbid=RBID[:-1], password=PASSWORD, now=T0)
    assert PASSWORD not in str(err.value)
    assert RBID[:-1] not in str(err.value)


# --------------------------------------------------------------------------- J11
FRAMES = {f["name"]: bytes.fromhex(f["hex"]) for f in json.loads(VECTORS.read_text())["frames"]}
#: The [ROHM-AN] meter: MAC 0050C2FFFEDC2822, PAN BCDE, channel 12, RSSI 0xDE (-34 dBm).
ROHM_RADIO = RadioIdentity(
    meter_mac=bytes.fromhex("0050C2FFFEDC2822"), pan_id=0xBCDE, j11_channel=12, lqi=0xFF
)
ROHM_RBID = "00112233445566778899AABBCCDDEEFF"  # the note's placeholders (frame F5)


class J11Host(Host):
    def __init__(self, **kw: Any) -> None:
        kw.setdefault("radio", ROHM_RADIO)
        super().__init__("j11", **kw)
        self.parser = j11.FrameParser()

    def _decode(self, data: bytes) -> list[Any]:
        return [
            jm.decode_message(f) if isinstance(f, j11.J11Frame) else f
            for f in self.parser.feed(data)
        ]

    def send(self, msg: jm.J11Message, wait: float = 0.0) -> list[Any]:
        return self.write(j11.encode(jm.encode_message(msg)), wait)

    def session(self, *, password: str = PASSWORD) -> list[Any]:
        self.send(jm.HardwareReset(), 1.0)
        self.send(jm.SetInitialSettings(channel=self.dongle.channel))
        self.send(jm.SetRouteBAuth(RBID, password))
        assert isinstance(self.send(jm.StartRouteB(), 1.0)[0], jm.StartRouteBResponse)
        self.send(jm.OpenUdpPort())
        return self.send(jm.StartPana(), 3.0)

    def get(self, epc: int = 0xE7, tid: int = 1, wait: float = 1.0) -> list[Any]:
        meter = j11.link_local_from_mac(self.dongle.meter_mac)
        return self.send(jm.TransmitData(destination=meter, payload=get_request(epc, tid)), wait)


def received(msgs: list[Any]) -> list[jm.DataReceivedNotification]:
    return [m for m in msgs if isinstance(m, jm.DataReceivedNotification)]


def test_j11_rohm_application_note_sequence() -> None:
    """Frames F1..F21 of [ROHM-AN], answered byte for byte by the emulator."""
    h = J11Host(password=PASSWORD)
    h.dongle = make_dongle(
        "j11", rbid=ROHM_RBID, password=PASSWORD, node=meter_node(h.meter, now=T0), now=T0,
        radio=ROHM_RADIO,
    )  # fmt: skip
    exchanges = [
        ("rohm_f1_reset", 1.0, ["rohm_f2_startup"]),
        ("rohm_f3_set_initial_ch4", 0.0, ["rohm_f4_set_initial_response"]),
        ("rohm_f5_set_auth", 0.0, ["rohm_f6_set_auth_response"]),
        ("rohm_f10_set_initial_ch12", 0.0, ["rohm_f4_set_initial_response"]),
        ("rohm_f12_start_route_b", 1.0, ["rohm_f13_start_route_b_response"]),
        ("rohm_f14_open_udp_3610", 0.0, ["rohm_f15_open_udp_response"]),
        ("rohm_f16_start_pana", 0.0, ["rohm_f17_start_pana_response"]),
    ]
    for request, wait, answers in exchanges:
        h.raw.clear()
        h.write(FRAMES[request], wait)
        assert bytes(h.raw) == b"".join(FRAMES[a] for a in answers), request
    h.raw.clear()
    h.run(3.0)
    assert bytes(h.raw).startswith(FRAMES["rohm_f18_pana_success"])
    # F7: active scan with the pairing ID; F8 per channel (F8 samples: ch 4 empty, ch 12
    # beacon), F9 after the last channel. Duration 6: 9.64 ms * 64 per channel.
    h.raw.clear()
    h.write(FRAMES["rohm_f7_active_scan"])
    dwell = 0.00964 * 64
    h.run(dwell * 14 - 0.0001)
    assert FRAMES["rohm_f9_active_scan_response"] not in h.raw
    h.run(0.001)
    frames = [f for f in j11.FrameParser().feed(bytes(h.raw)) if isinstance(f, j11.J11Frame)]
    assert j11.encode(frames[0]) == FRAMES["rohm_f8_scan_no_beacon_ch4"]
    assert j11.encode(frames[8]) == FRAMES["rohm_f8_scan_beacon_ch12"]
    assert j11.encode(frames[-1]) == FRAMES["rohm_f9_active_scan_response"]
    assert len(frames) == 15
    # F20 Get of 0xEA/0xEB -> F21 (result, status, first five payload bytes), then F22's header.
    h.raw.clear()
    h.write(FRAMES["rohm_f20_transmit_data"])
    assert bytes(h.raw) == FRAMES["rohm_f21_transmit_response"]
    (data,) = received(h.run(1.0))
    # F19 (the meter's unicast INF) carries this link's header: source, ports, PAN BCDE,
    # unicast, encrypted, RSSI DE. (F22 shows PAN 22A9 and RSSI CB: another moment.)
    f19 = jm.decode_message(j11.decode(FRAMES["rohm_f19_instance_list"]))
    assert isinstance(f19, jm.DataReceivedNotification)
    assert data.source_pan_id == f19.source_pan_id == 0xBCDE
    assert j11.encode(jm.encode_message(data))[12:37] == FRAMES["rohm_f19_instance_list"][12:37]
    answer = el(data.payload)
    assert (answer.tid, answer.esv, [p.epc for p in answer.properties]) == (
        6,
        fr.ESV.GET_RES,
        [0xEA, 0xEB],
    )


def test_j11_session_get_and_inf() -> None:
    h = J11Host()
    msgs = h.session()
    assert msgs[0] == jm.ResultResponse(j11.Command.START_PANA_RESPONSE, j11.Result.SUCCESS)
    assert msgs[1] == jm.PanaResultNotification(
        result=j11.PanaResult.SUCCESS, mac=ROHM_RADIO.meter_mac
    )
    (d5,) = received(msgs)
    assert d5.is_multicast
    assert el(d5.payload).properties[0].epc == 0xD5
    asked_at = h.now
    msgs = h.get(0xE7)
    assert msgs[0] == jm.TransmitDataResponse(status=0, trailing=get_request(0xE7)[:5])
    (answer,) = received(msgs)
    assert not answer.is_multicast
    assert answer.rssi == -34
    watts = int.from_bytes(el(answer.payload).properties[0].edt, "big", signed=True)
    assert watts == h.meter.curve.power_w(asked_at)
    status = h.send(jm.GetStatus())
    assert status == [
        jm.StatusResponse(
            global_state=j11.GlobalState.ACTIVE,
            route_b=j11.BlockState.ACTIVE,
            han=j11.BlockState.INACTIVE,
        )
    ]
    (inf,) = received(h.run(HALF_HOUR_AFTER_T0))
    assert not inf.is_multicast  # unicast to the HEMS that read the meter
    assert el(inf.payload).properties[0].epc == 0xEA


def test_j11_wrong_password_and_join_failure() -> None:
    h = J11Host()
    msgs = h.session(password="WRONGPASSWRD")
    assert msgs[1] == jm.PanaResultNotification(
        result=j11.PanaResult.FAILURE, mac=ROHM_RADIO.meter_mac
    )
    assert h.get()[0] == jm.ResultResponse(
        j11.Command.TRANSMIT_DATA_RESPONSE, j11.Result.NOT_STARTED
    )
    h2 = J11Host()
    h2.dongle.inject("join_failure")
    assert h2.session()[1].result == j11.PanaResult.FAILURE
    assert h2.send(jm.StartPana(), 3.0)[1].result == j11.PanaResult.SUCCESS


@pytest.mark.parametrize(("duration", "pairing"), [(3, RBID[-8:]), (6, "FFFFFFFF"), (6, None)])
def test_j11_scan_outcomes(duration: int, pairing: str | None) -> None:
    h = J11Host()
    ident = None if pairing is None else pairing.encode()
    scan = jm.ActiveScan(duration=duration, channel_mask=j11.scan_mask([4, 12]), pairing_id=ident)
    msgs = h.send(scan, 2 * 0.00964 * 2**duration)
    notes = [m for m in msgs if isinstance(m, jm.ScanResultNotification)]
    assert [n.channel for n in notes] == [4, 12]
    heard = duration >= 4 and pairing in (None, RBID[-8:])
    assert notes[1].beacons == (
        (jm.Beacon(mac=ROHM_RADIO.meter_mac, pan_id=0xBCDE, rssi=-34),) if heard else None
    )
    assert msgs[-1] == jm.ResultResponse(j11.Command.ACTIVE_SCAN_RESPONSE, j11.Result.SUCCESS)


def test_j11_faults() -> None:
    h = J11Host()
    h.session()
    h.dongle.inject("session_expiry")
    msgs = h.run(3.0)
    assert msgs == [
        jm.ConnectionStateNotification(
            state=j11.ConnectionState.PANA_DISCONNECTED, mac=ROHM_RADIO.meter_mac, rssi=-34
        ),
        jm.PanaResultNotification(result=j11.PanaResult.SUCCESS, mac=ROHM_RADIO.meter_mac),
    ]
    h.dongle.inject("drop_line", match=0x6018)
    assert received(h.get()) == []
    h.dongle.inject("garble_line")
    msgs = h.get()
    assert isinstance(msgs[0], j11.J11Garbled)
    assert len(received(msgs)) == 1
    h.dongle.inject("fail_er10")
    assert h.get() == [jm.ResultResponse(j11.Command.TRANSMIT_DATA_RESPONSE, j11.Result.BUSY)]
    h.dongle.inject("silent_meter", seconds=10)
    assert received(h.get(wait=5.0)) == []
    assert h.send(jm.TerminateRouteB()) == [
        jm.ResultResponse(j11.Command.TERMINATE_ROUTE_B_RESPONSE, j11.Result.SUCCESS)
    ]
    assert h.send(jm.StartRouteB(), 6.0) == [
        jm.ResultResponse(j11.Command.START_ROUTE_B_RESPONSE, j11.Result.MAC_CONNECTION_FAILED)
    ]
    h.run(5.0)
    assert isinstance(h.send(jm.StartRouteB(), 1.0)[0], jm.StartRouteBResponse)
    h.dongle.inject("disconnect")
    assert h.send(jm.GetStatus(), 10.0) == []
    assert h.dongle.next_deadline() is None


def test_j11_bad_input() -> None:
    h = J11Host()
    bad_header = bytearray(FRAMES["rohm_f1_reset"])
    bad_header[9] ^= 1
    assert h.write(bytes(bad_header)) == [jm.ModuleError(j11.Command.HEADER_CHECKSUM_ERROR)]
    unknown = j11.encode(j11.J11Frame(0x0999, b"", j11.UniqueCode.REQUEST))
    assert h.write(unknown) == [jm.ModuleError(j11.Command.INVALID_COMMAND)]
    short = j11.encode(j11.J11Frame(0x005F, b"\x05\x00\x04", j11.UniqueCode.REQUEST))
    assert h.write(short) == [
        jm.ResultResponse(
            j11.Command.SET_INITIAL_SETTINGS_RESPONSE, j11.Result.BAD_PARAMETER_LENGTH
        )
    ]
    assert h.send(jm.StartPana()) == [
        jm.ResultResponse(j11.Command.START_PANA_RESPONSE, j11.Result.NOT_STARTED)
    ]
    assert h.send(jm.StartRouteB()) == [
        jm.ResultResponse(j11.Command.START_ROUTE_B_RESPONSE, j11.Result.WRONG_OPERATION_MODE)
    ]
    assert h.send(jm.SetInitialSettings(channel=18)) == [
        jm.ResultResponse(j11.Command.SET_INITIAL_SETTINGS_RESPONSE, j11.Result.INVALID_PARAMETER)
    ]


# --------------------------------------------------------------------------- any input
@pytest.mark.parametrize("model", sorted(MODELS))
@settings(max_examples=60, deadline=None)
@given(chunks=st.lists(st.binary(max_size=64), max_size=12), seed=st.integers(0, 3))
def test_any_host_bytes_are_survived(model: str, chunks: list[bytes], seed: int) -> None:
    dongle: DongleEmulator = make_dongle(model, rbid=RBID, password=PASSWORD, now=T0, seed=seed)
    now = T0
    for chunk in chunks:
        dongle.receive_data(chunk, now)
        now += 0.5
        dongle.handle_timeout(now)
    out = dongle.data_to_send()
    if isinstance(dongle, J11Dongle):
        assert all(isinstance(f, j11.J11Frame) for f in j11.FrameParser().feed(out))
    else:
        assert isinstance(dongle, SkstackDongle)
        sk.Parser(dongle.dialect).feed(out)  # decodes without raising


# --------------------------------------------------------------------------- the radio below
# The capture sink sees every frame put on air; our own codecs read it back, and tshark
# (Debian package, installed by CI) must dissect the same frames as wpan/6lowpan/ipv6/udp.
Captured = list[tuple[float, bytes]]


def captured_host(password: str = "0123456789AB") -> tuple[SkHost, Captured]:
    frames: Captured = []
    h = SkHost("bp35c2", password=password, capture=lambda t, f: frames.append((t, f)))
    h.setup()
    h.scan()
    return h, frames


def pana_messages(frames: Captured) -> list[pana.PanaMessage]:
    reassembler = Reassembler()
    out = []
    for ts, frame in frames:
        datagram = reassembler.feed(frame, ts)
        if datagram is not None and datagram.dst_port == pana.PANA_UDP_PORT:
            out.append(pana.decode(datagram.payload))
    return out


def kinds(messages: list[pana.PanaMessage]) -> list[str]:
    out = []
    for m in messages:
        suffix = "-S" if m.has(pana.Flag.START) else "-C" if m.has(pana.Flag.COMPLETE) else ""
        out.append(m.name + suffix)
    return out


def eap_of(message: pana.PanaMessage) -> EapPacket | None:
    avp = message.find(pana.AvpCode.EAP_PAYLOAD)
    return None if avp is None else EapPacket.decode(avp.value)


def test_join_runs_real_pana_over_the_radio() -> None:
    h, frames = captured_host()
    msgs = h.join()
    assert events(msgs)[-1] == 0x25
    messages = pana_messages(frames)
    assert kinds(messages) == [
        "PCI", "PAR-S", "PAN-S", "PAR", "PAN", "PAR", "PAN", "PAR-C", "PAN-C",
    ]  # fmt: skip
    # What the dongle printed on port 716 is exactly what the meter put on air.
    from_meter = [pana.encode(m) for m in messages if m.is_request]
    assert [m.payload for m in udp(msgs, sk.PANA_PORT)] == from_meter
    psk = [decode_psk_message(e.data) for m in messages if (e := eap_of(m)) and e.type == 47]
    assert [type(p).__name__ for p in psk] == [
        "PskMessage1", "PskMessage2", "PskMessage3", "PskMessage4",
    ]  # fmt: skip
    # ID_S keeps the real meter's shape: "SM" + 32 characters ending in the pairing ID.
    id_s = psk[0].id_s
    assert len(id_s) == 34
    assert id_s.startswith(b"SM")
    assert id_s.endswith(RBID[-8:].encode())
    # EAP-PSK carries ID_P in clear (RFC 4764 message 2): on air, never in the dongle's output.
    assert psk[1].id_p == RBID.encode()
    assert RBID.encode().hex().upper().encode() not in bytes(h.raw)
    final = messages[-2]
    assert final.u32(pana.AvpCode.RESULT_CODE) == pana.ResultCode.PANA_SUCCESS
    assert final.find(pana.AvpCode.AUTH) is not None
    # ECHONET Lite rides the same link afterwards.
    h.get(0xE7, wait=1.0)
    ports = {d.dst_port for d in _datagrams(frames)}
    assert ports == {pana.PANA_UDP_PORT, sk.ECHONET_LITE_PORT}


def _datagrams(frames: Captured) -> list[object]:
    reassembler = Reassembler()
    return [d for ts, f in frames if (d := reassembler.feed(f, ts)) is not None]


def test_wrong_password_fails_after_eap_psk_message_2() -> None:
    h, frames = captured_host(password="WRONGPASSWRD")
    msgs = h.join()
    assert events(msgs)[-1] == 0x24
    messages = pana_messages(frames)
    assert kinds(messages) == ["PCI", "PAR-S", "PAN-S", "PAR", "PAN", "PAR-C", "PAN-C"]
    psk2 = eap_of(messages[4])
    assert psk2 is not None
    assert type(decode_psk_message(psk2.data)).__name__ == "PskMessage2"
    refusal = messages[5]
    assert refusal.u32(pana.AvpCode.RESULT_CODE) == pana.ResultCode.PANA_AUTHENTICATION_REJECTED
    failure = eap_of(refusal)
    assert failure is not None
    assert failure.code == EapCode.FAILURE
    assert refusal.find(pana.AvpCode.AUTH) is None  # no key to sign with


def test_reauthentication_renews_in_the_same_session() -> None:
    h, frames = captured_host()
    h.join()
    first = pana_messages(frames)
    h.dongle.inject("session_expiry")
    assert events(h.run(5.0))[-1] == 0x25
    again = pana_messages(frames)[len(first) :]
    assert kinds(again)[:2] == ["PNR", "PNA"]
    assert {m.session_id for m in again} == {first[1].session_id}
    assert all(m.find(pana.AvpCode.AUTH) is not None for m in again)


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark (Debian) not installed")
def test_tshark_dissects_the_capture(tmp_path: Path) -> None:
    h, frames = captured_host()
    h.join()
    h.get(0xE7, wait=1.0)
    path = tmp_path / "session.pcap"
    with path.open("wb") as file:
        writer = PcapWriter(file)
        for ts, frame in frames:
            writer.write(ts, frame)
    assert len(read_pcap(path.read_bytes())) == len(frames)
    done = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-e", "frame.protocols", "-e", "pana.avp.code"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert len(rows) == len(frames)
    assert all(r[0].startswith("wpan:6lowpan:ipv6:udp") for r in rows)
    assert not any("malformed" in r[0] for r in rows)
    pana_rows = [r for r in rows if r[0].endswith(("pana", "pana:eap"))]
    assert len(pana_rows) == 9
    assert pana_rows[1][1] == "6,3"  # PAR(S): PRF-Algorithm, Integrity-Algorithm
