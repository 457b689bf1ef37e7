"""B-route state machine: real transcripts, the dongle emulator with fake time, fuzzing.

Real bytes come from:
  [WSUHA]  a RATOC RS-WSUHA-P (BP35C2 inside, EVER 1.5.2) session published in the Qiita
           article "NervesとWi-SUNドングルで自宅の消費電力を把握したい" (NervesJP Advent
           Calendar 2023); meter MAC and B-route secrets anonymised by its author.
  [ROHM-AN] ROHM application note 63AN028E "BP35C0-J11 B-Route Communication" samples
           F1..F22, as kept in tests/vectors/j11/frames.json (sources named there).
The emulator is smartmeter_proto.sim.dongle (SKSTACK family; J11 once it exists).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet import frame as el
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.errors import SessionError
from smartmeter_proto.sim.dongle import make_dongle
from smartmeter_proto.wisun.broute import (
    AuthFailed,
    BRoute,
    BRouteState,
    DroppedInput,
    EchonetReceived,
    Joined,
    LinkError,
    PanInfo,
    Reauthenticated,
    ScanFinished,
    SendConfirmed,
    StateChanged,
)
from smartmeter_proto.wisun.broute import machine as br
from smartmeter_proto.wisun.broute import transitions as broute_transitions
from smartmeter_proto.wisun.broute.driver import In, Input

S = BRouteState
RBID = "00112233445566778899AABBCCDDEEFF"  # the [ROHM-AN] sample ID (F5)
PASSWORD = "0123456789AB"  # the [ROHM-AN] sample password (F5)
SK_MODELS = ("bp35a1", "bp35c2", "rl7023")
try:
    import smartmeter_proto.sim.dongle.j11  # noqa: F401

    HAVE_J11_EMULATOR = True
except ImportError:
    HAVE_J11_EMULATOR = False
EMULATED = (
    *SK_MODELS,
    pytest.param("j11", marks=pytest.mark.skipif(not HAVE_J11_EMULATOR, reason="no J11 emulator")),
)
METER_EOJ = EOJ(0x02, 0x88, 0x01)
CONTROLLER = EOJ(0x05, 0xFF, 0x01)


def get_request(tid: int, *epcs: int) -> bytes:
    return el.encode(Frame(tid, CONTROLLER, METER_EOJ, ESV.GET, tuple(Property(e) for e in epcs)))


def secret_free(events: list[Any]) -> bool:
    text = " ".join(repr(e) for e in events)
    return PASSWORD not in text and RBID not in text and RBID[-8:] not in text


# --------------------------------------------------------------------------- emulator bench
class Bench:
    """A BRoute wired to an emulated dongle, both driven by one fake clock."""

    def __init__(self, model: str, *, dongle_password: str = PASSWORD, seed: int = 7,
                 dongle_options: dict[str, Any] | None = None, **link: Any) -> None:  # fmt: skip
        self.model = model
        self.now = 0.0
        self.seed = seed
        self.dongle = make_dongle(
            model, rbid=RBID, password=dongle_password, now=0.0, seed=seed,
            **(dongle_options or {}),
        )  # fmt: skip
        link.setdefault("password", PASSWORD)
        self.link = BRoute(model=model, rbid=RBID, **link)
        self.events: list[br.BRouteEvent] = []
        self.sent = bytearray()

    def exchange(self) -> None:
        for _ in range(10_000):
            out = self.link.data_to_send()
            if out:
                self.sent += out
                self.dongle.receive_data(out, self.now)
            back = self.dongle.data_to_send()
            if back:
                self.events += self.link.receive_data(back, self.now)
            if not out and not back:
                return
        raise AssertionError("the link never went quiet")

    def run_until(self, done: Callable[[], bool], limit: float = 900.0) -> None:
        end = self.now + limit
        while True:
            self.exchange()
            if done():
                return
            due = [d for d in (self.link.next_deadline(), self.dongle.next_deadline()) if d]
            assert due, f"nothing left to wait for in {self.link.state}"
            self.now = max(self.now, min(due))
            assert self.now <= end, f"still {self.link.state} at t={self.now}"
            self.events += self.link.handle_timeout(self.now)
            self.dongle.handle_timeout(self.now)

    def run_for(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            self.exchange()
            due = [d for d in (self.link.next_deadline(), self.dongle.next_deadline()) if d]
            if not due or min(due) > end:
                self.now = end
                return
            self.now = max(self.now, min(due))
            self.events += self.link.handle_timeout(self.now)
            self.dongle.handle_timeout(self.now)

    def join(self) -> Joined:
        self.link.start(self.now)
        self.run_until(lambda: self.link.state in (S.READY, S.FAILED))
        assert self.link.state is S.READY, self.events
        return next(e for e in self.events if isinstance(e, Joined))

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]

    def read(self, tid: int) -> Frame:
        """Get 0xE7 from the meter and wait for the matching answer."""
        self.link.send_echonet(get_request(tid, 0xE7), self.now)

        def answered() -> bool:
            return any(
                isinstance(e, EchonetReceived) and el.decode(e.payload).tid == tid
                for e in self.events
            )

        self.run_until(answered, limit=60.0)
        got = next(
            e
            for e in self.events
            if isinstance(e, EchonetReceived) and el.decode(e.payload).tid == tid
        )
        decoded = el.decode(got.payload)
        assert isinstance(decoded, Frame)
        return decoded


@pytest.mark.parametrize("model", EMULATED)
def test_full_join_and_reads(model: str) -> None:
    bench = Bench(model)
    joined = bench.join()
    dongle = bench.dongle
    assert joined.meter_mac == dongle.meter_mac
    assert joined.pan_id == dongle.pan_id
    assert joined.channel == dongle.channel
    assert joined.meter_ipv6 == br.canonical_ipv6(dongle.meter_ipv6)
    states = [e.new for e in bench.of(StateChanged)]
    assert states == [S.RESETTING, S.CONFIGURING, S.SCANNING, S.JOINING, S.READY]
    scans = bench.of(ScanFinished)
    assert len(scans) == 1
    assert scans[0].duration == 4
    assert [p.mac for p in scans[0].found] == [dongle.meter_mac]
    for tid in (1, 2, 3):
        answer = bench.read(tid)
        assert answer.esv == ESV.GET_RES
        assert answer.seoj == METER_EOJ
        assert answer.properties[0].epc == 0xE7
        assert answer.properties[0].pdc == 4
    assert bench.of(SendConfirmed) == [SendConfirmed(True)] * 3
    assert all(e.source == joined.meter_ipv6 for e in bench.of(EchonetReceived))
    assert bench.link.stats.garbled == bench.link.stats.retries == 0
    assert secret_free(bench.events)
    assert secret_free([bench.link, bench.link.stats])


@pytest.mark.parametrize("model", EMULATED)
def test_session_expiry_reauthenticates_and_flushes_the_queued_send(model: str) -> None:
    bench = Bench(model)
    bench.join()
    bench.dongle.inject("session_expiry")
    bench.run_until(lambda: bench.link.state is S.REAUTHENTICATING, limit=5.0)
    bench.link.send_echonet(get_request(7, 0xE7), bench.now)  # queued, not sent
    assert b"SKSENDTO" not in bench.link.data_to_send()
    assert bench.link.data_to_send() == b""
    bench.run_until(lambda: bool(bench.of(Reauthenticated)), limit=60.0)
    assert bench.link.state is S.READY
    assert bench.link.stats.reauths == 1
    bench.run_until(lambda: bool(bench.of(EchonetReceived)) and any(
        el.decode(e.payload).tid == 7 for e in bench.of(EchonetReceived)), limit=30.0)  # fmt: skip
    assert bench.of(SendConfirmed) == [SendConfirmed(True)]
    states = [e.new for e in bench.of(StateChanged)]
    assert states[-2:] == [S.REAUTHENTICATING, S.READY]


@pytest.mark.parametrize("model", EMULATED)
def test_garbled_line_is_counted_and_ignored(model: str) -> None:
    bench = Bench(model)
    bench.join()
    match = 0x2008 if model == "j11" else "EVENT 21"
    bench.dongle.inject("garble_line", match=match)
    answer = bench.read(11)
    assert answer.esv == ESV.GET_RES
    # SKSTACK: the OK still confirms the send; J11: the lost 0x2008 is asked for again.
    bench.run_until(lambda: bool(bench.of(SendConfirmed)), limit=30.0)
    stats = bench.link.stats
    assert stats.garbled + stats.unknown == 1
    assert bench.link.state is S.READY
    assert bench.of(SendConfirmed) == [SendConfirmed(True)]


@pytest.mark.parametrize("model", EMULATED)
def test_wrong_password_fails_once_without_naming_it(model: str) -> None:
    wrong = "ZYXWVUTSRQPO"
    bench = Bench(model, password=wrong)
    bench.link.start(0.0)
    bench.run_until(lambda: bench.link.state is S.FAILED)
    failures = bench.of(AuthFailed)
    assert len(failures) == 1
    assert not bench.of(LinkError)
    assert wrong not in failures[0].reason
    assert secret_free(failures)
    assert bench.sent.count(b"SKJOIN") + bench.sent.count(bytes.fromhex("0056")) >= 1
    before = bytes(bench.sent)
    bench.run_for(300.0)  # no endless retries
    assert bytes(bench.sent) == before
    assert wrong not in " ".join(repr(e) for e in bench.events)
    assert wrong not in repr(bench.link)


@pytest.mark.parametrize("model", EMULATED)
def test_scan_widens_until_the_meter_answers(model: str) -> None:
    bench = Bench(model, dongle_options={"min_scan_duration": 6}, scan_durations=(4, 5, 6, 7))
    bench.join()
    scans = bench.of(ScanFinished)
    assert [(len(s.found), s.duration) for s in scans] == [(0, 4), (0, 5), (1, 6)]


@pytest.mark.parametrize("model", EMULATED)
def test_scan_gives_up_after_max_rounds(model: str) -> None:
    bench = Bench(
        model, dongle_options={"min_scan_duration": 9}, scan_durations=(4, 5), max_scan_rounds=3
    )
    bench.link.start(0.0)
    bench.run_until(lambda: bench.link.state is S.FAILED)
    assert [s.duration for s in bench.of(ScanFinished)] == [4, 5, 5]
    assert "3 scan rounds" in bench.of(LinkError)[0].reason


@pytest.mark.parametrize("model", EMULATED)
def test_fail_er10_is_retried(model: str) -> None:
    bench = Bench(model)
    bench.dongle.inject("fail_er10")  # hits the reset command
    bench.join()
    assert bench.link.stats.retries == 1
    bench.dongle.inject("fail_er10")  # hits the send
    assert bench.read(21).esv == ESV.GET_RES
    assert bench.link.stats.retries == 2
    assert bench.of(SendConfirmed) == [SendConfirmed(True)]


@pytest.mark.parametrize("model", EMULATED)
def test_fail_er10_every_time_fails_the_setup(model: str) -> None:
    bench = Bench(model, command_retries=2)
    for _ in range(3):
        bench.dongle.inject("fail_er10")
    bench.link.start(0.0)
    bench.run_until(lambda: bench.link.state is S.FAILED, limit=30.0)
    (error,) = bench.of(LinkError)
    assert "3 tries" in error.reason
    assert bench.link.stats.retries == 2


@pytest.mark.parametrize("model", EMULATED)
def test_power_cycled_dongle_is_rejoined_from_the_top(model: str) -> None:
    bench = Bench(model)
    first = bench.join()
    # The dongle loses power: a fresh one with the same radio, no session, no settings.
    old = bench.dongle
    bench.dongle = make_dongle(model, rbid=RBID, password=PASSWORD, now=bench.now,
                               seed=bench.seed + 1, radio=old.radio)  # fmt: skip
    sent_at = bench.now
    bench.link.send_echonet(get_request(31, 0xE7), sent_at)
    bench.run_until(lambda: bench.link.stats.recoveries == 1, limit=60.0)  # not the silence timer
    bench.run_until(lambda: len(bench.of(Joined)) == 2)
    assert bench.of(Joined)[1] == first
    assert bench.link.stats.recoveries == 1
    assert SendConfirmed(False) in bench.of(SendConfirmed)
    states = [e.new for e in bench.of(StateChanged)]
    assert states[-6:] == [S.READY, S.RESETTING, S.CONFIGURING, S.SCANNING, S.JOINING, S.READY]
    assert bench.read(32).esv == ESV.GET_RES


@pytest.mark.parametrize("model", EMULATED)
def test_lost_port_goes_idle_and_a_new_dongle_is_joined_from_the_start(model: str) -> None:
    bench = Bench(model)
    first = bench.join()
    bench.link.send_echonet(get_request(51, 0xE7), bench.now)  # in flight when unplugged
    bench.link.send_echonet(get_request(52, 0xE7), bench.now)  # queued behind it
    events = bench.link.port_lost(bench.now)
    assert bench.link.state is S.IDLE
    assert events[0] == StateChanged(S.READY, S.IDLE)
    assert [e for e in events if isinstance(e, SendConfirmed)] == [SendConfirmed(False)] * 2
    assert bench.link.next_deadline() is None
    with pytest.raises(SessionError, match="IDLE"):
        bench.link.send_echonet(get_request(53, 0xE7), bench.now)
    bench.link.data_to_send()  # the bytes meant for the old port are gone with it
    bench.dongle = make_dongle(model, rbid=RBID, password=PASSWORD, now=bench.now,
                               seed=bench.seed + 1)  # fmt: skip
    assert bench.join() == first
    assert bench.read(54).esv == ESV.GET_RES


def test_port_lost_is_allowed_in_every_state_and_inert_once_closed() -> None:
    for state in S:
        link = c2_link()
        link.state = state
        link.port_lost(0.0)
        if state is S.CLOSED:
            assert link.state is S.CLOSED
            continue
        assert link.state is S.IDLE
        assert link.next_deadline() is None
    link = c2_link()  # in the middle of the setup: a start on the new port is legal
    link.port_lost(1.0)
    link.data_to_send()
    link.start(2.0)
    assert link.state is S.RESETTING
    assert link.data_to_send()


@pytest.mark.parametrize("model", EMULATED)
def test_silent_meter_triggers_a_rejoin(model: str) -> None:
    bench = Bench(model, silence_timeout=60.0)
    bench.join()
    bench.dongle.inject("silent_meter", seconds=65.0)
    bench.link.send_echonet(get_request(41, 0xE7), bench.now)
    bench.run_until(lambda: bench.link.stats.recoveries == 1, limit=70.0)
    bench.run_until(lambda: bench.link.state in (S.READY, S.FAILED))
    assert bench.link.state is S.READY
    assert len(bench.of(Joined)) == 2


@pytest.mark.parametrize("model", EMULATED)
def test_close_ends_the_session(model: str) -> None:
    bench = Bench(model)
    bench.join()
    bench.link.close(bench.now)
    sent = bench.link.data_to_send()
    assert sent.startswith(b"SKTERM") or sent[4:6] == bytes.fromhex("0057")
    bench.dongle.receive_data(sent, bench.now)
    bench.run_for(30.0)
    assert bench.link.state is S.CLOSED
    with pytest.raises(SessionError, match="CLOSED"):
        bench.link.send_echonet(b"\x10\x81", bench.now)
    with pytest.raises(SessionError, match="CLOSED"):
        bench.link.start(bench.now)


@pytest.mark.parametrize("model", ["bp35a1", EMULATED[-1]])
def test_unreachable_meter_join_is_retried_then_fails_as_link_error(model: str) -> None:
    """A meter that never answers PANA: SKSTACK EVENT 24 with no PANA heard, J11 0x6028
    result 0x03, are radio failures: retried, then a LinkError, never AuthFailed."""
    bench = Bench(model, join_timeout=60.0, max_join_attempts=2)
    bench.link.start(0.0)
    join = b"SKJOIN" if model != "j11" else bytes.fromhex("D0EA83FC0056")
    bench.run_until(lambda: join in bench.sent)
    bench.dongle.inject("silent_meter", seconds=10_000.0)
    bench.run_until(lambda: bench.link.state is S.FAILED)
    assert not bench.of(AuthFailed)
    (error,) = bench.of(LinkError)
    assert "2 attempts" in error.reason
    assert bench.link.stats.join_retries == 1


# --------------------------------------------------------------------------- transcripts
def converse(link: BRoute, script: list[tuple[bytes, bytes]], now: float = 0.0) -> list[Any]:
    """Check each command ``link`` sends against its prefix and answer with the bytes given."""
    events: list[Any] = []
    for expect, answer in script:
        sent = link.data_to_send()
        assert sent.startswith(expect), (sent, expect)
        events += link.receive_data(answer, now)
    return events


C2_ME = b"FE80:0000:0000:0000:021D:1291:0004:E578"
C2_METER = b"FE80:0000:0000:0000:C2F9:4500:4058:B5FB"
C2_PANA = [  # [WSUHA] the four PANA messages the meter sent during SKJOIN
    b"0028 00000028C0000002136F0BFE2FDA83DC00060000000400000000000500030000000400000000000C",
    b"0068 0000006880000002136F0BFE2FDA83DD000500000010000044AA92C21CDBB377DEBBEBC9B755B87D0"
    b"00200000038000001E300382F007835A9A40F167C39A7A5AB6ACB3F1070534D30303030303039393032313"
    b"73030303030303030303030303031393442464144",
    b"0054 0000005480000002136F0BFE2FDA83DE00020000003B000001E4003B2F807835A9A40F167C39A7A5AB6ACB"
    b"3F1070A69CF318ABB2DA0AC088301193DE29E2000000006852F3CB9B3291068BF82BB6863F1D2B8100",
    b"0058 00000058A0000002136F0BFE2FDA83DF000700000004000000000000000200000004000003E400040004"
    b"0000000400000000160100080000000400000001518000010000001000006F2356B28BAD8AE081F64840CF5B5933",
]
C2_PANDESC = (
    b"EVENT 20 " + C2_ME + b" 0\r\nEPANDESC\r\n  Channel:31\r\n  Channel Page:09\r\n"
    b"  Pan ID:B5FB\r\n  Addr:0011223344556677\r\n  LQI:DD\r\n  Side:0\r\n  PairID:0194BFAD\r\n"
)
C2_JOIN = (
    b"SKJOIN " + C2_METER + b"\r\nOK\r\nEVENT 21 " + C2_METER + b" 0 02\r\n"
    b"EVENT 02 "
    + C2_METER
    + b" 0\r\n"
    + b"".join(
        b"ERXUDP " + C2_METER + b" " + C2_ME + b" 02CC 02CC 0011223344556677 0 0 " + p + b"\r\n"
        b"EVENT 21 " + C2_METER + b" 0 00\r\n"
        for p in C2_PANA
    )
    + b"EVENT 25 "
    + C2_METER
    + b" 0\r\n"
    # the meter's instance-list announcement right after the join
    b"ERXUDP " + C2_METER + b" FF02:0000:0000:0000:0000:0000:0000:0001"
    b" 0E1A 0E1A 0011223344556677 1 0 0012 108100000EF0010EF0017301D50401028801\r\n"
)
# [WSUHA] answers to the reset and configuration, scan at the capture's duration 6
C2_SETUP = [
    (b"SKRESET\r\n", b"SKRESET\r\nOK\r\n"),
    (b"ROPT\r\n", b"ROPT\r\nOK 01\r"),
    (b"SKSETPWD C ", b"SKSETPWD C " + PASSWORD.encode() + b"\r\nOK\r\n"),
    (b"SKSETRBID ", b"SKSETRBID " + RBID.encode() + b"\r\nOK\r\n"),
    (b"SKSCAN 2 FFFFFFFF 6 0\r\n",
     b"SKSCAN 2 FFFFFFFF 6 0 \r\nOK\r\n" + C2_PANDESC + b"EVENT 22 " + C2_ME + b" 0\r\n"),
    (b"SKSREG S2 31\r\n", b"SKSREG S2 31\r\nOK\r\n"),
    (b"SKSREG S3 B5FB\r\n", b"SKSREG S3 B5FB\r\nOK\r\n"),
    (b"SKLL64 0011223344556677\r\n", b"SKLL64 0011223344556677\r\n" + C2_METER + b"\r\n"),
    (b"SKJOIN " + C2_METER + b"\r\n", C2_JOIN),
]  # fmt: skip
C2_READ = (  # [WSUHA] the Get of 0xE7 and its answer
    b"SKSENDTO 1 " + C2_METER + b" 0E1A 1 0 000E \r\nEVENT 21 " + C2_METER + b" 0 00\r\nOK\r\n"
    b"ERXUDP " + C2_METER + b" " + C2_ME + b" 0E1A 0E1A 0011223344556677 1 0"
    b" 0012 1081525302880105FF017201E704000000E4\r\n"
)
C2_METER_TEXT = "fe80::c2f9:4500:4058:b5fb"


def c2_link(**kw: Any) -> BRoute:
    link = BRoute(model="bp35c2", rbid=RBID, password=PASSWORD, scan_durations=(6,), **kw)
    link.start(0.0)
    assert link.handle_timeout(0.0) == [StateChanged(S.IDLE, S.RESETTING)]  # start's event
    return link


def test_bp35c2_capture_joins_and_reads() -> None:
    link = c2_link()
    events = converse(link, C2_SETUP)
    pan = PanInfo(0x31, 0xB5FB, bytes.fromhex("0011223344556677"), 0.275 * 0xDD - 104.27, 0xDD)
    assert ScanFinished((pan,), 6) in events
    joined = Joined(C2_METER_TEXT, pan.mac, 0x31, 0xB5FB)
    assert events[-3:] == [
        StateChanged(S.JOINING, S.READY),
        joined,
        EchonetReceived(bytes.fromhex("108100000EF0010EF0017301D50401028801"), C2_METER_TEXT, True),
    ]
    assert link.stats.ignored >= 8  # PANA datagrams and their transmit reports
    request = bytes.fromhex("1081525302880105FF0162 01E700".replace(" ", ""))
    link.send_echonet(request, 1.0)
    assert link.data_to_send() == b"SKSENDTO 1 " + C2_METER + b" 0E1A 1 0 000E " + request
    events = link.receive_data(C2_READ, 1.2)
    assert events == [
        SendConfirmed(True),
        EchonetReceived(
            bytes.fromhex("1081525302880105FF017201E704000000E4"), C2_METER_TEXT, False
        ),
    ]
    assert link.next_deadline() is None  # the meter answered: no silence timer
    link.send_echonet(request, 2.0)
    link.receive_data(C2_READ[: C2_READ.index(b"ERXUDP")], 2.1)
    assert link.next_deadline() == pytest.approx(2.0 + 180.0)  # waiting for the meter
    assert link.state is S.READY
    assert secret_free(events)


@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=40))
@settings(max_examples=50, deadline=None)
def test_bp35c2_capture_in_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    whole = converse(c2_link(), C2_SETUP)
    link = c2_link()
    events: list[Any] = []
    for expect, answer in C2_SETUP:
        assert link.data_to_send().startswith(expect)
        points = sorted({c % (len(answer) + 1) for c in cuts} | {0, len(answer)})
        for a, b in itertools.pairwise(points):
            events += link.receive_data(answer[a:b], 0.0)
    assert events == whole


def test_event29_then_event25_reauthenticates_with_a_queued_send() -> None:
    link = c2_link()
    converse(link, C2_SETUP)
    events = link.receive_data(b"EVENT 29 " + C2_METER + b" 0\r\n", 5.0)
    assert events == [StateChanged(S.READY, S.REAUTHENTICATING)]
    link.send_echonet(b"\x10\x81\x00\x01\x05\xff\x01\x02\x88\x01\x62\x01\xe7\x00", 5.5)
    assert link.data_to_send() == b""
    assert link.next_deadline() == pytest.approx(5.0 + 45.0)
    pana = b"ERXUDP " + C2_METER + b" " + C2_ME + b" 02CC 02CC 0011223344556677 0 0 " + C2_PANA[3]
    reauth = b"EVENT 21 " + C2_METER + b" 0 00\r\n" + pana + b"\r\nEVENT 25 " + C2_METER + b" 0\r\n"
    events = link.receive_data(reauth, 9.0)
    assert events == [StateChanged(S.REAUTHENTICATING, S.READY), Reauthenticated()]
    assert link.data_to_send().startswith(b"SKSENDTO 1 " + C2_METER + b" 0E1A 1 0 000E ")


def test_event29_without_event25_rejoins() -> None:
    link = c2_link()
    converse(link, C2_SETUP)
    link.receive_data(b"EVENT 29 " + C2_METER + b" 0\r\n", 5.0)
    events = link.handle_timeout(50.0)
    assert events == [StateChanged(S.REAUTHENTICATING, S.JOINING)]
    assert link.data_to_send() == b"SKSREG S2 31\r\n"
    assert link.stats.rejoins == 1


@pytest.mark.parametrize("code", [b"26", b"27", b"28"])
def test_session_end_events_rejoin(code: bytes) -> None:
    link = c2_link()
    converse(link, C2_SETUP)
    link.send_echonet(b"\x10\x81\x00\x01", 3.0)
    link.data_to_send()
    events = link.receive_data(b"EVENT " + code + b" " + C2_METER + b" 0\r\n", 4.0)
    assert events == [StateChanged(S.READY, S.JOINING), SendConfirmed(False)]
    events = converse(link, C2_SETUP[5:], 5.0)
    assert Joined(C2_METER_TEXT, bytes.fromhex("0011223344556677"), 0x31, 0xB5FB) in events


def test_garbled_and_unknown_lines_are_counted_in_any_state() -> None:
    link = c2_link()
    events = converse(link, C2_SETUP[:2])
    events += link.receive_data(b"EVENT 2Z nonsense\r\nWHATEVER 1 2 3\r\n\xff\xfe\r\n", 0.1)
    assert link.state is S.CONFIGURING
    assert events == [StateChanged(S.RESETTING, S.CONFIGURING)]
    assert link.stats.garbled == 1
    assert link.stats.unknown == 2
    converse(link, C2_SETUP[2:])
    assert link.state is S.READY


def test_fail_er10_is_resent_and_er04_is_not() -> None:
    link = c2_link(command_retries=1)
    converse(link, C2_SETUP[:2])
    assert link.data_to_send().startswith(b"SKSETPWD")
    link.receive_data(b"SKSETPWD C " + PASSWORD.encode() + b"\r\nFAIL ER10\r\n", 0.2)
    assert link.data_to_send().startswith(b"SKSETPWD C ")  # the same command again
    events = link.receive_data(b"SKSETPWD C " + PASSWORD.encode() + b"\r\nFAIL ER10\r\n", 0.3)
    assert events[-1] == LinkError("set password: FAIL ER10 after 2 tries")
    assert link.state is S.FAILED
    assert secret_free(events)
    link = c2_link()
    converse(link, C2_SETUP[:2])
    link.data_to_send()
    events = link.receive_data(b"SKSETPWD C 0123456789AB\r\nFAIL ER06\r\n", 0.2)
    assert events[-1] == LinkError("set password: FAIL ER06")


def test_late_ok_to_an_earlier_command_is_not_taken_for_the_current_one() -> None:
    link = c2_link()
    link.data_to_send()
    link.handle_timeout(5.0)  # SKRESET timed out: sent again
    assert link.data_to_send() == b"SKRESET\r\n"
    link.receive_data(b"SKRESET\r\nOK\r\n", 5.1)
    assert link.data_to_send() == b"ROPT\r\n"
    events = link.receive_data(b"SKRESET\r\nOK\r\n", 5.2)  # the answer to the first SKRESET
    assert isinstance(events[0], DroppedInput)
    assert "earlier SKRESET" in events[0].reason
    assert link.state is S.RESETTING
    link.receive_data(b"ROPT\r\nOK 01\r", 5.3)
    assert link.state is S.CONFIGURING


def test_command_timeouts_exhaust_into_link_error() -> None:
    link = c2_link(command_timeout=2.0, command_retries=2)
    assert link.data_to_send() == b"SKRESET\r\n"
    now = 0.0
    for _ in range(2):
        now = link.next_deadline() or 0.0
        assert link.handle_timeout(now) == []
        assert link.data_to_send() == b"SKRESET\r\n"
    events = link.handle_timeout(link.next_deadline() or 0.0)
    assert events == [
        StateChanged(S.RESETTING, S.FAILED),
        LinkError("reset: no answer after 3 tries"),
    ]
    assert link.next_deadline() is None
    assert link.stats.retries == 2


def test_unasked_ever_means_the_dongle_restarted() -> None:
    link = c2_link()
    converse(link, C2_SETUP)
    events = link.receive_data(b"EVER 1.5.2\r\n", 9.0)
    assert events == [StateChanged(S.READY, S.RESETTING)]
    assert link.data_to_send() == b"SKRESET\r\n"
    assert link.stats.recoveries == 1


def test_recoveries_are_bounded() -> None:
    link = c2_link(max_recoveries=2)
    converse(link, C2_SETUP)
    for _ in range(2):
        link.receive_data(b"EVER 1.5.2\r\n", 9.0)
        link.receive_data(b"SKRESET\r\nOK\r\n", 9.0)  # ROPT in flight: EVER is not its answer
    assert link.state is S.RESETTING
    events = link.receive_data(b"EVER 1.5.2\r\n", 9.0)
    assert link.state is S.FAILED
    assert "2 recoveries" in events[-1].reason


def test_inputs_out_of_place_are_dropped_with_a_reason() -> None:
    link = c2_link()
    converse(link, C2_SETUP[:4])  # scanning
    events = link.receive_data(
        b"EVENT 25 " + C2_METER + b" 0\r\nERXUDP " + C2_METER + b" " + C2_ME
        + b" 0E1A 0E1A 0011223344556677 1 0 0002 1081\r\nOK\r\n",
        0.5,
    )  # fmt: skip
    assert all(isinstance(e, DroppedInput) for e in events)
    assert len(events) == 2
    assert "SCANNING" in events[0].reason
    assert link.state is S.SCANNING
    assert link.stats.dropped == 2


def test_rl7023_skips_ropt_and_reads_hex() -> None:
    link = BRoute(model="rl7023", rbid=RBID, password=PASSWORD)
    link.start(0.0)
    assert link.data_to_send() == b"SKRESET\r\n"
    link.receive_data(b"SKRESET\r\nOK\r\n", 0.1)
    assert link.data_to_send().startswith(b"SKSETPWD C ")


def test_bp35a1_without_ropt_falls_back_to_hex() -> None:
    """momonga: FAIL ER04 to ROPT means the firmware has no option commands (hex data)."""
    link = BRoute(model="bp35a1", rbid=RBID, password=PASSWORD)
    link.start(0.0)
    link.data_to_send()
    link.receive_data(b"SKRESET\r\nOK\r\n", 0.1)
    assert link.data_to_send() == b"ROPT\r\n"
    events = link.receive_data(b"ROPT\r\nFAIL ER04\r\n", 0.2)
    assert events[-1] == StateChanged(S.RESETTING, S.CONFIGURING)


# --------------------------------------------------------------------------- J11 transcript
FRAMES = {
    f["name"]: bytes.fromhex(f["hex"])
    for f in json.loads(
        (Path(__file__).parents[1] / "vectors" / "j11" / "frames.json").read_text("utf-8")
    )["frames"]
}
AN_METER = "fe80::250:c2ff:fedc:2822"
AN_MAC = bytes.fromhex("0050C2FFFEDC2822")


def j11_link(**kw: Any) -> BRoute:
    link = BRoute(model="j11", rbid=RBID, password=PASSWORD, scan_durations=(6,), **kw)
    link.start(0.0)
    assert link.handle_timeout(0.0) == [StateChanged(S.IDLE, S.RESETTING)]  # start's event
    return link


# Each request our machine sends must be the application note's frame byte for byte.
AN_SETUP = [
    ("rohm_f1_reset", "rohm_f2_startup"),
    ("rohm_f3_set_initial_ch4", "rohm_f4_set_initial_response"),
    ("rohm_f5_set_auth", "rohm_f6_set_auth_response"),
    ("rohm_f7_active_scan", ("rohm_f8_scan_no_beacon_ch4", "rohm_f8_scan_beacon_ch12",
                             "rohm_f9_active_scan_response")),
    ("rohm_f10_set_initial_ch12", "rohm_f4_set_initial_response"),  # F11 = F4's bytes
    ("rohm_f12_start_route_b", "rohm_f13_start_route_b_response"),
    ("rohm_f14_open_udp_3610", "rohm_f15_open_udp_response"),
    ("rohm_f16_start_pana", ("rohm_f17_start_pana_response", "rohm_f18_pana_success",
                             "rohm_f19_instance_list")),
]  # fmt: skip


def an_script(steps: list[tuple[str, Any]]) -> list[tuple[bytes, bytes]]:
    out = []
    for request, answers in steps:
        names = (answers,) if isinstance(answers, str) else answers
        out.append((FRAMES[request], b"".join(FRAMES[n] for n in names)))
    return out


def test_j11_application_note_session_byte_for_byte() -> None:
    link = j11_link()
    script = an_script(AN_SETUP)
    events: list[Any] = []
    for request, answer in script:
        assert link.data_to_send() == request
        events += link.receive_data(answer, 0.0)
    assert ScanFinished((PanInfo(12, 0xBCDE, AN_MAC, -34.0),), 6) in events
    assert Joined(AN_METER, AN_MAC, 12, 0xBCDE) in events
    instance_list = bytes.fromhex("1081000102880105FF017301EA0B07DF081F151E0000000DAC")
    assert events[-1] == EchonetReceived(instance_list, AN_METER, False)
    assert link.state is S.READY
    f20 = FRAMES["rohm_f20_transmit_data"]
    link.send_echonet(f20[12 + 22 :], 1.0)
    assert link.data_to_send() == f20
    events = link.receive_data(FRAMES["rohm_f21_transmit_response"], 1.1)
    assert events == [SendConfirmed(True)]
    events = link.receive_data(FRAMES["rohm_f22_data_received"], 1.3)
    assert isinstance(events[0], EchonetReceived)
    assert events[0].source == AN_METER
    assert el.decode(events[0].payload).esv == ESV.GET_RES
    assert secret_free(events)
    assert "SetRouteBAuth" not in repr(link)


def test_j11_pana_failure_is_auth_failed() -> None:
    link = j11_link()
    for request, answer in an_script(AN_SETUP[:-1]):
        assert link.data_to_send() == request
        link.receive_data(answer, 0.0)
    assert link.data_to_send() == FRAMES["rohm_f16_start_pana"]
    refused = bytearray(FRAMES["rohm_f18_pana_success"])
    refused[12] = 0x02  # result FAILURE (broute-j11 §3.2.5.4); fix the data checksum
    refused[10:12] = (int.from_bytes(refused[10:12], "big") + 1).to_bytes(2, "big")
    events = link.receive_data(FRAMES["rohm_f17_start_pana_response"] + bytes(refused), 0.5)
    assert events[-2:] == [
        StateChanged(S.JOINING, S.FAILED),
        AuthFailed("PANA result FAILURE (0x6028)"),
    ]


def test_j11_unsolicited_startup_recovers() -> None:
    link = j11_link()
    for request, answer in an_script(AN_SETUP):
        assert link.data_to_send() == request
        link.receive_data(answer, 0.0)
    events = link.receive_data(FRAMES["rohm_f2_startup"], 5.0)
    assert events == [StateChanged(S.READY, S.RESETTING)]
    assert link.data_to_send() == FRAMES["rohm_f1_reset"]


def test_j11_responses_to_other_requests_are_stray() -> None:
    link = j11_link()
    assert link.data_to_send() == FRAMES["rohm_f1_reset"]
    events = link.receive_data(FRAMES["rohm_f6_set_auth_response"], 0.1)
    assert isinstance(events[-1], DroppedInput)
    assert "0x2054" in events[-1].reason
    assert link.state is S.RESETTING


# --------------------------------------------------------------------------- machine rules
def test_caller_misuse_raises_and_leaves_the_state() -> None:
    link = c2_link()
    with pytest.raises(SessionError, match=r"send is not allowed in state RESETTING"):
        link.send_echonet(b"\x10\x81", 0.0)
    with pytest.raises(SessionError, match="start is not allowed in state RESETTING"):
        link.start(0.0)
    assert link.state is S.RESETTING
    with pytest.raises(ValueError, match=r"1\.\.1232"):
        link.send_echonet(b"", 0.0)
    with pytest.raises(ValueError, match="scan durations"):
        BRoute(model="bp35a1", rbid=RBID, password=PASSWORD, scan_durations=(15,))


def test_illegal_move_fails_naming_state_and_input() -> None:
    link = c2_link()
    link._dispatch(Input(In.SILENCE_TIMEOUT), 1.0)  # no such timer while resetting
    events = link.handle_timeout(1.0)
    assert link.state is S.FAILED
    assert events == [
        StateChanged(S.RESETTING, S.FAILED),
        LinkError("illegal input SILENCE_TIMEOUT in state RESETTING"),
    ]
    assert link.next_deadline() is None


def test_every_dongle_input_has_a_rule_in_every_state() -> None:
    news = set(broute_transitions.NEWS) | {In.COMMAND_TIMEOUT}
    news.add(In.PORT_LOST)  # an unplugged port may be seen in any state
    missing = [(s, k) for s in S for k in news if (s, k) not in broute_transitions.TRANSITIONS]
    assert missing == []
    assert set(br._ACTIONS) == {a for a, _ in broute_transitions.TRANSITIONS.values()}


@pytest.mark.parametrize("secret", ["rbid", "password"])
def test_bad_credentials_are_refused_without_echoing_them(secret: str) -> None:
    creds = {"rbid": RBID, "password": PASSWORD, secret: "bad secret!"}
    for model in ("bp35a1", "j11"):
        with pytest.raises(ValueError, match=secret.replace("rbid", "B-route ID")) as info:
            BRoute(model=model, **creds)
        assert "bad secret" not in str(info.value)


def test_unknown_model() -> None:
    with pytest.raises(ValueError, match="unknown SKSTACK dialect"):
        BRoute(model="bp99", rbid=RBID, password=PASSWORD)


@pytest.mark.parametrize("model", ["bp35a1", "bp35c2", "rl7023", "j11"])
@given(chunks=st.lists(st.binary(max_size=300), max_size=20), started=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_bytes_never_raise(model: str, chunks: list[bytes], started: bool) -> None:
    link = BRoute(model=model, rbid=RBID, password=PASSWORD)
    if started:
        link.start(0.0)
    now = 0.0
    for chunk in chunks:
        now += 0.5
        link.receive_data(chunk, now)
        link.handle_timeout(now)
        link.data_to_send()
    assert isinstance(link.state, BRouteState)


@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_random_skstack_lines_in_ready_never_raise(data: st.DataObject) -> None:
    link = c2_link()
    converse(link, C2_SETUP)
    words = [b"OK", b"FAIL ER10", b"EVENT 21 " + C2_METER + b" 0 00", b"EVENT 29 " + C2_METER
             + b" 0", b"EVENT 25 " + C2_METER + b" 0", b"EVENT 24 " + C2_METER + b" 0",
             b"EVER 1.5.2", C2_METER, b"EVENT 22 " + C2_ME + b" 0"]  # fmt: skip
    lines = data.draw(st.lists(st.sampled_from(words), max_size=30))
    now = 1.0
    events: list[Any] = []
    for line in lines:
        if data.draw(st.booleans()) and link.state is S.READY:
            link.send_echonet(b"\x10\x81\x00\x01", now)
        events += link.receive_data(line + b"\r\n", now)
        now += data.draw(st.floats(min_value=0, max_value=40))
        events += link.handle_timeout(now)
        link.data_to_send()
    assert not [e for e in events if isinstance(e, LinkError) and "illegal" in e.reason]
