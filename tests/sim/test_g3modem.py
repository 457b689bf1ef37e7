"""G3 modem emulator driven as a HEMS host drives a Microchip USI G3 modem, on fake time.

The host side is built only from our codecs (plc.usi, plc.g3adp, wisun.lowpan, echonet.frame).
Expected firmware behaviour is from Microchip-MPLAB-Harmony/smartenergy_g3:
  [ADPS] g3/src/adp_serial/adp_serial.c (62d63090): STATUS after INITIALIZE, NOT_ALLOWED before
         it, UNKNOWN_COMMAND for unknown ids, LBP_SET_CONFIRM = status + id(4) + index(2).
  [DEV]  g3/src/lbp lbp_dev.c: DECLINE -> join confirm NOT_PERMITED, join timer -> TIMEOUT.
  [APPS] G3 demo apps: link-local fe80::PAN:00ff:fe00:SHORT.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartmeter_proto.auth.eap_psk import EapOutcome, EapPskServer
from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.errors import DecodeError
from smartmeter_proto.plc import g3adp as g
from smartmeter_proto.plc.usi import UsiFrame, UsiParser, UsiProtocol
from smartmeter_proto.sim import g3meter
from smartmeter_proto.sim.g3modem import (
    COORDINATOR_SHORT_ADDRESS,
    JOIN_TIMEOUT_S,
    METER_PAN_ID,
    G3ModemEmulator,
    g3_link_local,
    make_g3modem,
)
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.transport.pty_server import serve_dongle
from smartmeter_proto.wisun.radio.lowpan import build_ipv6_udp, parse_ipv6_udp

T0 = 1_780_000_000.0
#: Harmony lbp_coord.c default PSK (sEapPskKey), used here as the meter's PSK.
PSK = bytes.fromhex("AB10341145111BC3C12DE8FF11142204")
ID_P = b"HEMS-G3-ARIB-DEVICE-0001".ljust(36, b"\x00")  # 36 bytes: ARIB ID_P size
HEMS_EOJ = fr.EOJ(0x05, 0xFF, 0x01)


class Host:
    """A HEMS host on the modem's serial line, with a fake clock."""

    def __init__(self, modem: G3ModemEmulator) -> None:
        self.modem = modem
        self.now = T0
        self.parser = UsiParser()
        self.inbox: list[g.AdpMessage] = []
        self.errors: list[DecodeError] = []
        self.raw = bytearray()
        self.short = 0xFFFF  # short address from the last successful join confirm

    def send(self, message: g.AdpMessage) -> None:
        self.send_raw(UsiFrame(UsiProtocol.ADP_G3, message.encode()).encode())

    def send_raw(self, data: bytes) -> None:
        self.modem.receive_data(data, self.now)
        self._collect()

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while (deadline := self.modem.next_deadline()) is not None and deadline <= end:
            self.now = max(self.now, deadline)
            self.modem.handle_timeout(self.now)
            self._collect()
        self.now = end

    def _collect(self) -> None:
        out = self.modem.data_to_send()
        self.raw += out
        for item in self.parser.feed(out):
            if isinstance(item, DecodeError):
                self.errors.append(item)
            else:
                assert item.protocol == UsiProtocol.ADP_G3
                self.inbox.append(g.decode_adp(item.data))

    def take(self) -> list[g.AdpMessage]:
        out, self.inbox = self.inbox, []
        return out

    # --- the sequence a host runs -------------------------------------------------------
    def initialize(self) -> None:
        self.send(g.Initialize(g.Band.ARIB, False))
        assert self.take() == [g.Status(g.SerialStatus.SUCCESS, g.AdpCommand.INITIALIZE)]

    def credentials(self, psk: bytes = PSK, id_p: bytes = ID_P) -> None:
        self.send(g.LbpSetRequest(g.LbpAttribute.PSK, 0, psk))
        self.send(g.LbpSetRequest(g.LbpAttribute.IDP, 0, id_p))
        assert self.take() == [
            g.LbpSetConfirm(g.LbpStatus.OK, g.LbpAttribute.PSK, 0),
            g.LbpSetConfirm(g.LbpStatus.OK, g.LbpAttribute.IDP, 0),
        ]

    def join(self) -> g.NetworkJoinConfirm:
        self.send(g.NetworkJoinRequest(METER_PAN_ID, COORDINATOR_SHORT_ADDRESS))
        self.run(JOIN_TIMEOUT_S + 1)
        confirms = [m for m in self.take() if isinstance(m, g.NetworkJoinConfirm)]
        assert len(confirms) == 1
        if confirms[0].status == g.AdpStatus.SUCCESS:
            self.short = confirms[0].network_address
        return confirms[0]

    def get_e7(self, handle: int = 1, tid: int = 1) -> None:
        short = self.short
        payload = fr.encode(fr.Frame(tid, HEMS_EOJ, METER_EOJ, fr.ESV.GET, (fr.Property(0xE7),)))
        packet = build_ipv6_udp(
            src_ip=g3_link_local(METER_PAN_ID, short),
            dst_ip=self.modem.meter_address,
            src_port=3610,
            dst_port=3610,
            payload=payload,
        )
        self.send(g.DataRequest(handle, True, 0, packet))


def modem(seed: int = 1) -> G3ModemEmulator:
    return make_g3modem(psk=PSK, id_p=ID_P, now=T0, seed=seed)


def joined_host() -> Host:
    host = Host(modem())
    host.initialize()
    host.credentials()
    confirm = host.join()
    assert confirm.status == g.AdpStatus.SUCCESS
    return host


def get_res_power(messages: list[g.AdpMessage], host: Host) -> int:
    indications = [m for m in messages if isinstance(m, g.DataIndication)]
    assert len(indications) == 1
    header, sport, dport, payload = parse_ipv6_udp(indications[0].ipv6_packet)  # checksum checked
    assert header.src == host.modem.meter_address == g3_link_local(METER_PAN_ID, 0)
    assert (sport, dport) == (3610, 3610)
    reply = fr.decode(payload)
    assert isinstance(reply, fr.Frame)
    assert reply.esv == fr.ESV.GET_RES
    (prop,) = reply.properties
    assert prop.epc == 0xE7
    assert len(prop.edt) == 4
    return int.from_bytes(prop.edt, "big", signed=True)


# --- the full host sequence -------------------------------------------------------------------


def test_full_sequence_initialize_discover_join_get_e7() -> None:
    host = Host(modem())
    host.initialize()
    host.credentials()
    host.send(g.DiscoveryRequest(5))
    host.run(5)
    messages = host.take()
    assert messages == [
        g.DiscoveryIndication(METER_PAN_ID, host.modem.link_quality, 0x0000, 0, 0),
        g.DiscoveryConfirm(g.AdpStatus.SUCCESS),
    ]
    confirm = host.join()
    assert confirm == g.NetworkJoinConfirm(g.AdpStatus.SUCCESS, 0x0001, METER_PAN_ID)
    assert host.modem.joined
    host.get_e7(handle=7)
    host.run(2)
    messages = host.take()
    assert g.DataConfirm(g.AdpStatus.SUCCESS, 7) in messages
    assert get_res_power(messages, host) >= 0
    assert host.errors == []


def test_link_local_rule() -> None:
    # [APPS]: "FE80:0:0:0:781D:FF:FE00:0001" for PAN 0x781D, short address 1.
    assert g3_link_local(0x781D, 1) == bytes.fromhex("fe80000000000000781d00fffe000001")


def test_wrong_psk_declined_by_real_eap_psk() -> None:
    host = Host(modem())
    host.initialize()
    host.credentials(psk=bytes(16))
    confirm = host.join()
    assert confirm == g.NetworkJoinConfirm(g.AdpStatus.NOT_PERMITED, 0xFFFF, METER_PAN_ID)
    assert not host.modem.joined
    # With the right PSK the same modem joins.
    host.credentials()
    assert host.join().status == g.AdpStatus.SUCCESS


def test_wrong_id_p_declined() -> None:
    host = Host(modem())
    host.initialize()
    host.credentials(id_p=b"someone-else".ljust(36, b"\x00"))
    assert host.join().status == g.AdpStatus.NOT_PERMITED


def test_legacy_adp_set_of_psk_and_id_p() -> None:
    # ASF-era firmware: ADP SET 0x080000C2 (16-byte PSK) and 0x080000C3 (ID_P).
    host = Host(modem())
    host.initialize()
    host.send(g.SetRequest(g.LegacyAdpAttribute.EAP_PRESHARED_KEY, 0, PSK))
    host.send(g.SetRequest(g.LegacyAdpAttribute.EAP_NETWORK_ACCESS_IDENTIFIER, 0, ID_P))
    assert [m for m in host.take() if isinstance(m, g.SetConfirm)] == [
        g.SetConfirm(g.AdpStatus.SUCCESS, 0x080000C2, 0),
        g.SetConfirm(g.AdpStatus.SUCCESS, 0x080000C3, 0),
    ]
    assert host.join().status == g.AdpStatus.SUCCESS


def test_discovery_on_other_band_hears_nothing() -> None:
    host = Host(modem())
    host.send(g.Initialize(g.Band.CENELEC_A, False))
    host.take()
    host.send(g.DiscoveryRequest(3))
    host.run(3)
    assert host.take() == [g.DiscoveryConfirm(g.AdpStatus.NO_BEACON)]


def test_requests_before_initialize_and_unknown_commands() -> None:
    host = Host(modem())
    host.send(g.DiscoveryRequest(3))
    assert host.take() == [g.Status(g.SerialStatus.NOT_ALLOWED, g.AdpCommand.DISCOVERY_REQUEST)]
    host.initialize()
    host.send(g.RawAdpMessage(0x05, b"\x01"))
    host.send(g.RawAdpMessage(g.AdpCommand.LBP_COORD_KICK_DEVICE, b""))
    assert host.take() == [
        g.Status(g.SerialStatus.UNKNOWN_COMMAND, 0x05),
        g.Status(g.SerialStatus.UNKNOWN_COMMAND, g.AdpCommand.LBP_COORD_KICK_DEVICE),
    ]
    host.send(g.RawAdpMessage(g.AdpCommand.NETWORK_JOIN_REQUEST, b"\x78"))  # truncated
    assert host.take() == [
        g.Status(g.SerialStatus.INVALID_PARAMETER, g.AdpCommand.NETWORK_JOIN_REQUEST)
    ]


def test_leave_reset_and_get() -> None:
    host = joined_host()
    host.send(g.GetRequest(g.AdpAttribute.MANUF_SHORT_ADDRESS))
    assert host.take() == [
        g.GetConfirm(g.AdpStatus.SUCCESS, g.AdpAttribute.MANUF_SHORT_ADDRESS, 0, b"\x00\x01")
    ]
    host.send(g.LeaveRequest())
    host.run(1)
    assert host.take() == [g.LeaveConfirm(g.AdpStatus.SUCCESS)]
    assert not host.modem.joined
    host.send(g.ResetRequest())
    assert host.take() == [g.ResetConfirm(g.AdpStatus.SUCCESS)]
    assert host.join().status == g.AdpStatus.SUCCESS  # same short address again


def test_data_request_checks() -> None:
    host = Host(modem())
    host.initialize()
    host.send(g.DataRequest(3, True, 0, b"\x60" + bytes(39)))
    assert host.take() == [g.DataConfirm(g.AdpStatus.INVALID_REQUEST, 3)]  # not joined
    host = joined_host()
    host.send(g.DataRequest(4, True, 0, b"not an ipv6 packet"))
    assert host.take() == [g.DataConfirm(g.AdpStatus.INVALID_IPV6_FRAME, 4)]
    other = build_ipv6_udp(
        src_ip=g3_link_local(METER_PAN_ID, 1),
        dst_ip=g3_link_local(METER_PAN_ID, 9),
        src_port=3610,
        dst_port=3610,
        payload=b"\x10\x81",
    )
    host.send(g.DataRequest(5, True, 0, other))
    assert host.take() == [g.DataConfirm(g.AdpStatus.ROUTE_ERROR, 5)]


# --- faults ----------------------------------------------------------------------------------


def test_fault_join_failure_then_rejoin() -> None:
    host = Host(modem())
    host.initialize()
    host.credentials()
    host.modem.inject("join_failure")
    assert host.join().status == g.AdpStatus.NOT_PERMITED
    assert host.join().status == g.AdpStatus.SUCCESS


def test_fault_silent_meter_times_out_join_and_data() -> None:
    host = Host(modem())
    host.initialize()
    host.credentials()
    host.modem.inject("silent_meter", seconds=JOIN_TIMEOUT_S + 5)
    confirm = host.join()
    assert confirm == g.NetworkJoinConfirm(g.AdpStatus.TIMEOUT, 0xFFFF, METER_PAN_ID)
    host.run(10)
    assert host.join().status == g.AdpStatus.SUCCESS
    host.modem.inject("silent_meter", seconds=10)
    host.get_e7(handle=2)
    host.run(5)
    assert host.take() == [g.DataConfirm(g.AdpStatus.TIMEOUT, 2)]


def test_fault_drop_frame_by_command() -> None:
    host = joined_host()
    host.modem.inject("drop_frame", match=g.AdpCommand.DATA_INDICATION)
    host.get_e7(handle=1)
    host.run(2)
    assert host.take() == [g.DataConfirm(g.AdpStatus.SUCCESS, 1)]
    host.get_e7(handle=2, tid=2)
    host.run(2)
    assert get_res_power(host.take(), host) >= 0


@pytest.mark.parametrize("mode", ["corrupt", "truncate"])
def test_fault_garble_frame(mode: str) -> None:
    host = joined_host()
    host.modem.inject("garble_frame", match=g.AdpCommand.DATA_CONFIRM, mode=mode)
    host.get_e7(handle=1)
    host.run(2)
    messages = host.take()
    assert not any(isinstance(m, g.DataConfirm) for m in messages)
    assert host.errors  # the host's parser saw a broken frame and resynchronised
    assert get_res_power(messages, host) >= 0


def test_fault_leave_indication_needs_rejoin() -> None:
    host = joined_host()
    host.modem.inject("leave_indication")
    host.run(1)
    assert host.take() == [g.LeaveIndication()]
    host.get_e7()  # uses the old short address: refused, not joined
    assert host.take() == [g.DataConfirm(g.AdpStatus.INVALID_REQUEST, 1)]
    assert host.join().status == g.AdpStatus.SUCCESS


def test_fault_disconnect() -> None:
    host = joined_host()
    host.modem.inject("disconnect")
    assert host.modem.disconnected
    assert host.modem.next_deadline() is None
    host.send(g.ResetRequest())
    assert host.take() == []


def test_fault_parameters_checked() -> None:
    with pytest.raises(TypeError):
        modem().inject("join_failure", seconds=3)
    with pytest.raises(ValueError, match="no_such_fault"):
        modem().inject("no_such_fault")


# --- robustness and secrets ------------------------------------------------------------------


def test_garbage_and_bad_crc_do_not_stop_it() -> None:
    host = Host(modem())
    good = UsiFrame(UsiProtocol.ADP_G3, g.Initialize(g.Band.ARIB, False).encode()).encode()
    bad_crc = good[:-2] + bytes((good[-2] ^ 0x01,)) + good[-1:]
    host.send_raw(b"\x00garbage\xff" + bad_crc + b"\x7d\x7d\x7e")
    assert host.take() == []
    assert host.modem.frames_dropped >= 2
    host.send_raw(good)
    assert host.take() == [g.Status(g.SerialStatus.SUCCESS, g.AdpCommand.INITIALIZE)]
    other = UsiFrame(UsiProtocol.MAC_G3, b"\x32\x03").encode()  # another USI protocol: ignored
    host.send_raw(other)
    assert host.take() == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_then_still_answers(noise: bytes) -> None:
    host = Host(modem())
    host.send_raw(noise)
    host.run(30)
    host.take()
    host.send_raw(b"\x7e")  # close whatever the noise left open
    host.initialize()


def test_join_returns_lbp_parameter_result_in_message_4(monkeypatch: pytest.MonkeyPatch) -> None:
    # [DEV] lbp_dev.c: the device's EAP-PSK message 4 carries EXT 02 (configuration parameters)
    # with one parameter-result 31 02 00 00 (RESULT_PARAMETER_SUCCESS, lbp_encode_decode.h).
    servers: list[EapPskServer] = []

    class Recording(EapPskServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            servers.append(self)

    monkeypatch.setattr(g3meter, "EapPskServer", Recording)
    host = joined_host()
    assert host.short == 0x0001
    assert len(servers) == 1
    assert servers[0].outcome is EapOutcome.SUCCESS
    assert servers[0].peer_ext == bytes.fromhex("02 3102 0000")


def test_secrets_never_shown() -> None:
    host = joined_host()
    host.get_e7()
    host.run(2)
    shown = repr(host.modem) + repr(host.modem._meter) + repr(host.modem.faults)
    for secret in (PSK, ID_P.rstrip(b"\x00")):
        assert secret.hex() not in shown.lower()
        assert repr(secret) not in shown
        assert secret not in bytes(host.raw)
    assert PSK.hex() not in repr(g.LbpSetRequest(g.LbpAttribute.PSK, 0, PSK)).lower()
    assert "secret" in repr(host.modem._psk)


def test_meter_schedule_runs_behind_the_modem() -> None:
    # The meter's 30-minute reading (0xEA) reaches the joined host as a DATA_INDICATION.
    host = joined_host()
    host.get_e7()
    host.run(1)
    host.take()
    host.run(1800)
    indications = [m for m in host.take() if isinstance(m, g.DataIndication)]
    assert indications
    _, _, _, payload = parse_ipv6_udp(indications[0].ipv6_packet)
    inf = fr.decode(payload)
    assert isinstance(inf, fr.Frame)
    assert 0xEA in inf.epcs


def test_join_to_a_pan_nobody_runs_times_out() -> None:
    host = Host(modem())
    host.initialize()
    host.credentials()
    host.send(g.NetworkJoinRequest(0x1234, COORDINATOR_SHORT_ADDRESS))
    host.run(JOIN_TIMEOUT_S + 1)
    assert host.take() == [g.NetworkJoinConfirm(g.AdpStatus.TIMEOUT, 0xFFFF, 0x1234)]


def test_lbp_set_checks_and_command_bit_7() -> None:
    host = Host(modem())
    # adp_serial.c masks the command byte with 0x7F: 0x8A is INITIALIZE.
    host.send_raw(UsiFrame(UsiProtocol.ADP_G3, b"\x8a\x03\x00").encode())
    assert host.take() == [g.Status(g.SerialStatus.SUCCESS, g.AdpCommand.INITIALIZE)]
    host.send(g.LbpSetRequest(g.LbpAttribute.PSK, 0, PSK[:8]))
    host.send(g.LbpSetRequest(0x77, 0, b"\x01"))
    assert host.take() == [
        g.LbpSetConfirm(g.LbpStatus.INVALID_LENGTH, g.LbpAttribute.PSK, 0),
        g.LbpSetConfirm(g.LbpStatus.UNSUPPORTED_PARAMETER, 0x77, 0),
    ]
    assert host.join().status == g.AdpStatus.INVALID_REQUEST  # no credentials yet


def test_served_on_a_pty() -> None:
    """DonglePty serves the G3 modem as it serves the Wi-SUN dongles: same method surface."""

    async def session() -> list[g.AdpMessage]:
        emulator = modem()
        parser, got = UsiParser(), []
        async with serve_dongle(emulator, time_scale=20.0) as pty:
            fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            try:
                requests = [
                    g.Initialize(g.Band.ARIB, False),
                    g.LbpSetRequest(g.LbpAttribute.PSK, 0, PSK),
                    g.LbpSetRequest(g.LbpAttribute.IDP, 0, ID_P),
                    g.NetworkJoinRequest(METER_PAN_ID, COORDINATOR_SHORT_ADDRESS),
                ]
                for request in requests:
                    os.write(fd, UsiFrame(UsiProtocol.ADP_G3, request.encode()).encode())
                deadline = time.monotonic() + 20.0  # generous for a loaded CI machine
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                    try:
                        chunk = os.read(fd, 4096)
                    except BlockingIOError:
                        continue
                    got += [
                        g.decode_adp(f.data) for f in parser.feed(chunk) if isinstance(f, UsiFrame)
                    ]
                    if any(isinstance(m, g.NetworkJoinConfirm) for m in got):
                        break
            finally:
                os.close(fd)
        return got

    messages = asyncio.run(session())
    assert messages[0] == g.Status(g.SerialStatus.SUCCESS, g.AdpCommand.INITIALIZE)
    assert messages[-1] == g.NetworkJoinConfirm(g.AdpStatus.SUCCESS, 1, METER_PAN_ID), messages
