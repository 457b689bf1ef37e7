"""The B-route machine with the G3 driver against the G3 modem emulator, sans-IO, in memory.

Bad input on the serial line (garbage, a bad CRC, a truncated frame, an unknown
command) becomes a counted GARBLED/unknown input; the parser resynchronises on
the next delimiter and the session goes on.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.plc import g3adp as adp
from smartmeter_proto.plc.broute_g3 import G3Driver, g3_link_local
from smartmeter_proto.plc.usi import UsiFrame, UsiProtocol, encode_frame
from smartmeter_proto.sim.g3modem import METER_PAN_ID, G3ModemEmulator, make_g3modem
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.wisun.broute import (
    BRoute,
    BRouteEvent,
    BRouteState,
    EchonetReceived,
    Joined,
)

ID_P = b"HEMS00112233445566778899AABBCCDDEEFF"
PSK = bytes(range(16))
T0 = 1_700_000_000.0


class Link:
    """Our BRoute on one side, the modem emulator on the other, one clock."""

    def __init__(self, psk: bytes = PSK) -> None:
        self.modem: G3ModemEmulator = make_g3modem(psk=PSK, id_p=ID_P, now=T0)
        self.driver = G3Driver(id_p=ID_P, psk=psk)
        self.broute = BRoute(
            model="g3-usi", rbid="", password="", driver=self.driver, scan_durations=(3,)
        )
        self.now = T0
        self.events: list[BRouteEvent] = []

    def pump(self, seconds: float) -> None:
        end = self.now + seconds
        for _ in range(10_000):
            self._exchange()
            deadlines = [d for d in (self.modem.next_deadline(), self.broute.next_deadline()) if d]
            due = min(deadlines, default=None)
            if due is None or due > end:
                break
            self.now = max(self.now, due)
            self.modem.handle_timeout(self.now)
            self.events += self.broute.handle_timeout(self.now)
        self.now = end
        self._exchange()

    def _exchange(self) -> None:
        for _ in range(100):
            out = self.broute.data_to_send()
            if out:
                self.modem.receive_data(out, self.now)
            back = self.modem.data_to_send()
            if back:
                self.events += self.broute.receive_data(back, self.now)
            if not out and not back:
                return

    def get(self, epc: int = 0xE7, tid: int = 1) -> fr.Frame:
        request = fr.Frame(
            tid, fr.EOJ(0x05, 0xFF, 0x01), METER_EOJ, fr.ESV.GET, (fr.Property(epc, b""),)
        )
        before = len(self.events)
        self.broute.send_echonet(fr.encode(request), self.now)
        self.pump(1.0)
        answers = [e for e in self.events[before:] if isinstance(e, EchonetReceived)]
        assert len(answers) == 1
        decoded = fr.decode(answers[0].payload)
        assert isinstance(decoded, fr.Frame)
        return decoded


def joined() -> Link:
    link = Link()
    link.broute.start(link.now)
    link.pump(10.0)
    assert link.broute.state is BRouteState.READY
    return link


def test_join_and_read() -> None:
    link = joined()
    (join,) = [e for e in link.events if isinstance(e, Joined)]
    assert join.meter_ipv6 == "fe80::781d:ff:fe00:0"
    assert join.pan_id == METER_PAN_ID
    answer = link.get(0xE7, tid=7)
    assert (answer.tid, answer.esv, answer.seoj) == (7, fr.ESV.GET_RES, METER_EOJ)
    assert g3_link_local(METER_PAN_ID, 0).hex() == "fe80000000000000781d00fffe000000"


def test_wrong_psk_fails_the_join_as_refused() -> None:
    link = Link(psk=bytes(16))
    link.broute.start(link.now)
    link.pump(60.0)
    assert link.broute.state is BRouteState.FAILED


@pytest.mark.parametrize(
    "noise",
    [
        b"garbage without delimiters",
        b"\x7e\x00\x05\x1f\x00\x00\x00\x7e",  # a frame whose CRC is wrong
        encode_frame(UsiFrame(UsiProtocol.ADP_G3, adp.DataConfirm(0, 1).encode()))[:-3],  # cut
        encode_frame(UsiFrame(UsiProtocol.ADP_G3, b"\x7a\x01\x02")),  # unknown ADP command
        b"\x7e\x7d\x7e",  # a broken escape
    ],
)
def test_bad_serial_input_is_counted_and_the_session_goes_on(noise: bytes) -> None:
    link = joined()

    def counters() -> tuple[int, ...]:
        stats = link.broute.stats
        return (stats.garbled, stats.unknown, stats.ignored, link.driver.bytes_discarded)

    before = counters()
    link.events += link.broute.receive_data(noise, link.now)
    link.pump(0.5)
    # The next delimiter (the answer's frame) closes whatever the noise opened.
    assert link.get(0xE7, tid=9).esv == fr.ESV.GET_RES
    assert counters() != before  # dropped and counted
    assert link.broute.state is BRouteState.READY


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_from_the_modem_never_break_the_machine(noise: bytes) -> None:
    link = joined()
    link.events += link.broute.receive_data(noise + b"\x7e", link.now)
    link.pump(0.5)
    assert link.broute.state is BRouteState.READY
    assert link.get(0xE7, tid=3).esv == fr.ESV.GET_RES


def test_leave_indication_rejoins() -> None:
    link = joined()
    link.modem.inject("leave_indication")
    link.pump(15.0)
    assert sum(isinstance(e, Joined) for e in link.events) == 2
    assert link.broute.state is BRouteState.READY
    assert link.get().esv == fr.ESV.GET_RES


def test_driver_keeps_credentials_out_of_repr() -> None:
    driver = G3Driver(id_p=ID_P, psk=PSK)
    assert PSK.hex() not in repr(vars(driver)).lower()
    assert "HEMS" not in repr(vars(driver))
    with pytest.raises(ValueError, match="36-byte ID_P"):
        G3Driver(id_p=b"short", psk=PSK)
