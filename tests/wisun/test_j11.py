"""Tests for the ROHM J11 frame codec, stream parser, typed messages and radio helpers.

Byte vectors live in tests/vectors/j11/frames.json, each with its source: the
unit tests of Tosainu/bp35c0-j11-stuff, the frame samples of ROHM application
note 63AN028E (as transcribed by broute-j11), and ak1211/smartmeter-route-b-app.
"""

from __future__ import annotations

import json
from ipaddress import IPv6Address
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError, EncodeError
from smartmeter_proto.wisun import j11
from smartmeter_proto.wisun.j11 import (
    BlockState,
    Command,
    ConnectionState,
    FrameParser,
    GlobalState,
    J11Frame,
    J11Garbled,
    OperationMode,
    PanaResult,
    ReceptionFailureReason,
    Result,
    TxPower,
    UniqueCode,
)
from smartmeter_proto.wisun.j11.messages import (
    ActiveScan,
    Beacon,
    CloseUdpPort,
    ConnectionStateNotification,
    DataReceivedNotification,
    GetInitialSettings,
    GetStatus,
    GetVersion,
    HardwareReset,
    InitialSettingsResponse,
    J11Message,
    ModuleError,
    OpenUdpPort,
    PanaResultNotification,
    RawMessage,
    ReauthPana,
    ReceptionFailureNotification,
    ResultResponse,
    ScanResultNotification,
    SetInitialSettings,
    SetRouteBAuth,
    StartPana,
    StartRouteB,
    StartRouteBResponse,
    StartupNotification,
    StatusResponse,
    TerminatePana,
    TerminateRouteB,
    TransmitData,
    TransmitDataResponse,
    VersionResponse,
    decode_message,
    encode_message,
)

_VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "j11" / "frames.json").read_text("utf-8")
)
FRAMES: dict[str, bytes] = {v["name"]: bytes.fromhex(v["hex"]) for v in _VECTORS["frames"]}

# ROHM 63AN028E placeholders: meter MAC, its link-local address, B-route ID and password.
METER_MAC = bytes.fromhex("0050C2FFFEDC2822")
METER_ADDRESS = IPv6Address("fe80::250:c2ff:fedc:2822")
DOC_ID = "00112233445566778899AABBCCDDEEFF"
DOC_PASSWORD = "0123456789AB"
TOS_MAC = bytes(range(8))


def wire(message: J11Message) -> bytes:
    return j11.encode(encode_message(message))


def parse(data: bytes) -> J11Message:
    return decode_message(j11.decode(data))


def frame_bytes(command: int, data: bytes, unique: UniqueCode = UniqueCode.RESPONSE) -> bytes:
    return j11.encode(J11Frame(command, data, unique))


# --- published vectors ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_vector_checksums_recomputed(name: str) -> None:
    data = FRAMES[name]
    assert int.from_bytes(data[6:8], "big") == len(data) - 8
    assert int.from_bytes(data[8:10], "big") == sum(data[:8]) % 0x10000
    assert int.from_bytes(data[10:12], "big") == sum(data[12:]) % 0x10000


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_vector_frame_round_trip(name: str) -> None:
    frame = j11.decode(FRAMES[name])
    assert frame.is_request == (FRAMES[name][:4] == bytes.fromhex("D0EA83FC"))
    assert j11.encode(frame) == FRAMES[name]


@pytest.mark.parametrize("name", sorted(FRAMES))
def test_vector_message_round_trip(name: str) -> None:
    message = parse(FRAMES[name])
    if name == "tos_active_scan_no_id":
        # Tosainu stops after the 0x00 flag; we emit the 8 zero ID bytes broute-j11 sends.
        assert wire(message) == frame_bytes(
            Command.ACTIVE_SCAN, bytes.fromhex("02 12345678 00") + bytes(8), UniqueCode.REQUEST
        )
    else:
        assert wire(message) == FRAMES[name]


EXPECTED: dict[str, J11Message] = {
    # Tosainu command.rs
    "tos_get_status": GetStatus(),
    "tos_get_initial_settings": GetInitialSettings(),
    "tos_set_initial_dual_ch5": SetInitialSettings(channel=5),
    "tos_open_udp_1234": OpenUdpPort(0x1234),
    "tos_close_udp_1234": CloseUdpPort(0x1234),
    "tos_transmit_data": TransmitData(
        destination=IPv6Address("1234:5678:9abc:def0:1234:5678:9abc:def0"),
        source_port=0xABCD,
        destination_port=0x1234,
        payload=bytes.fromhex("DEADBEEF"),
    ),
    "tos_active_scan_no_id": ActiveScan(duration=2, channel_mask=0x12345678),
    "tos_active_scan_with_id": ActiveScan(
        duration=2, channel_mask=0x12345678, pairing_id=bytes.fromhex("123456789ABCDEF0")
    ),
    "tos_get_version": GetVersion(),
    "tos_set_auth": SetRouteBAuth("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", "0123456789ab"),
    "tos_start_route_b": StartRouteB(),
    "tos_start_pana": StartPana(),
    "tos_terminate_pana": TerminatePana(),
    "tos_terminate_route_b": TerminateRouteB(),
    "tos_reauth_pana": ReauthPana(),
    # Tosainu response.rs
    "tos_status_response": StatusResponse(
        global_state=GlobalState.INACTIVE,
        route_b=BlockState.INACTIVE,
        han=BlockState.AUTHENTICATING,
    ),
    "tos_set_initial_response": ResultResponse(Command.SET_INITIAL_SETTINGS_RESPONSE),
    "tos_close_udp_response": ResultResponse(Command.CLOSE_UDP_PORT_RESPONSE),
    "tos_transmit_failed": ResultResponse(
        Command.TRANSMIT_DATA_RESPONSE, Result.ADDRESS_NOT_IN_DEVICE_LIST
    ),
    "tos_transmit_response": TransmitDataResponse(status=0x12, trailing=bytes.fromhex("ABCDEF")),
    "tos_scan_no_beacon_ch7": ScanResultNotification(channel=7),
    "tos_scan_two_beacons_ch12": ScanResultNotification(
        channel=12,
        beacons=(
            Beacon(mac=TOS_MAC, pan_id=0xABCD, rssi=0xDE - 256),
            Beacon(mac=bytes.fromhex("0010203040506070"), pan_id=0x1234, rssi=0x98 - 256),
        ),
    ),
    "tos_version_response": VersionResponse(firmware_id=0x0400, major=1, minor=3, revision=0x158A),
    "tos_data_received": DataReceivedNotification(
        source=IPv6Address("fe80:1:203:405:607:809:a0b:c0d"),
        source_port=0xABCD,
        destination_port=0x1234,
        source_pan_id=0x5678,
        address_type=0x01,
        encryption=0x02,
        rssi=-34,
        payload=bytes.fromhex("98765432"),
    ),
    "tos_startup": StartupNotification(),
    "tos_connection_state": ConnectionStateNotification(
        state=ConnectionState.MAC_CONNECTED, mac=TOS_MAC, rssi=-34
    ),
    "tos_pana_result": PanaResultNotification(result=PanaResult.SUCCESS, mac=TOS_MAC),
    "tos_start_route_b_failed": ResultResponse(
        Command.START_ROUTE_B_RESPONSE, Result.ADDRESS_NOT_IN_DEVICE_LIST
    ),
    "tos_start_route_b_response": StartRouteBResponse(
        channel=8, pan_id=0xABCD, mac=TOS_MAC, rssi=-34
    ),
    "tos_reauth_pana_response": ResultResponse(Command.REAUTH_PANA_RESPONSE),
    # ROHM 63AN028E
    "rohm_f1_reset": HardwareReset(),
    "rohm_f3_set_initial_ch4": SetInitialSettings(
        mode=OperationMode.DUAL, han_sleep=False, channel=4, tx_power=TxPower.MW_20
    ),
    "rohm_f5_set_auth": SetRouteBAuth(DOC_ID, DOC_PASSWORD),
    "rohm_f7_active_scan": ActiveScan(
        duration=6, channel_mask=j11.ALL_CHANNELS_MASK, pairing_id=j11.pairing_id(DOC_ID)
    ),
    "rohm_f8_scan_no_beacon_ch4": ScanResultNotification(channel=4),
    "rohm_f8_scan_beacon_ch12": ScanResultNotification(
        channel=12, beacons=(Beacon(mac=METER_MAC, pan_id=0xBCDE, rssi=-34),)
    ),
    "rohm_f9_active_scan_response": ResultResponse(Command.ACTIVE_SCAN_RESPONSE),
    "rohm_f10_set_initial_ch12": SetInitialSettings(channel=12),
    "rohm_f13_start_route_b_response": StartRouteBResponse(
        channel=12, pan_id=0xBCDE, mac=METER_MAC, rssi=-34
    ),
    "rohm_f14_open_udp_3610": OpenUdpPort(3610),
    "rohm_f15_open_udp_response": ResultResponse(Command.OPEN_UDP_PORT_RESPONSE),
    "rohm_f17_start_pana_response": ResultResponse(Command.START_PANA_RESPONSE),
    "rohm_f18_pana_success": PanaResultNotification(result=PanaResult.SUCCESS, mac=METER_MAC),
    "rohm_f20_transmit_data": TransmitData(
        destination=METER_ADDRESS,
        payload=bytes.fromhex("1081 0006 05FF01 028801 62 02 EA00 EB00"),
    ),
    "rohm_f21_transmit_response": TransmitDataResponse(
        status=0x00, trailing=bytes.fromhex("1081000605")
    ),
    "ak_open_udp_3610": OpenUdpPort(),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector_decodes_to_expected_message(name: str) -> None:
    assert parse(FRAMES[name]) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(set(EXPECTED) - {"tos_active_scan_no_id"}))
def test_expected_message_encodes_to_vector(name: str) -> None:
    assert wire(EXPECTED[name]) == FRAMES[name]


def test_rohm_data_received_fields() -> None:
    message = parse(FRAMES["rohm_f22_data_received"])
    assert isinstance(message, DataReceivedNotification)
    assert message.source == METER_ADDRESS == j11.link_local_from_mac(METER_MAC)
    assert (message.source_port, message.destination_port) == (3610, 3610)
    assert message.source_pan_id == 0x22A9
    assert message.rssi == -53
    assert message.is_encrypted
    assert not message.is_multicast
    assert message.payload[:2] == b"\x10\x81"  # ECHONET Lite EHD
    assert len(message.payload) == 0x26


def test_start_route_b_response_gives_meter_address() -> None:
    message = parse(FRAMES["rohm_f13_start_route_b_response"])
    assert isinstance(message, StartRouteBResponse)
    assert message.meter_address == METER_ADDRESS


def test_transmit_status_nibbles() -> None:
    response = TransmitDataResponse(status=0x15)
    assert response.queued
    assert response.tx_result == 5
    assert not TransmitDataResponse(status=0x00).queued


def test_codes_without_typed_message_stay_raw() -> None:
    message = parse(FRAMES["tos_route_b_pan_id_response"])
    assert message == RawMessage(0x205E, bytes.fromhex("010203"), UniqueCode.RESPONSE)
    assert wire(message) == FRAMES["tos_route_b_pan_id_response"]


def test_known_code_in_wrong_direction_stays_raw() -> None:
    message = parse(frame_bytes(Command.GET_STATUS, b"", UniqueCode.RESPONSE))
    assert isinstance(message, RawMessage)
    assert message.unique_code is UniqueCode.RESPONSE


def test_unknown_enum_values_survive() -> None:
    data = frame_bytes(Command.GET_STATUS_RESPONSE, bytes.fromhex("01 7F 09 01"))
    message = parse(data)
    assert isinstance(message, StatusResponse)
    assert message.global_state == 0x7F
    assert not isinstance(message.global_state, GlobalState)
    assert message.route_b == 0x09
    assert wire(message) == data


def test_failed_response_with_details_is_result_response() -> None:
    data = frame_bytes(Command.START_ROUTE_B_RESPONSE, bytes((Result.MAC_CONNECTION_FAILED,)))
    message = parse(data)
    assert message == ResultResponse(Command.START_ROUTE_B_RESPONSE, Result.MAC_CONNECTION_FAILED)
    assert wire(message) == data


def test_error_frames() -> None:
    for code in (Command.HEADER_CHECKSUM_ERROR, Command.INVALID_COMMAND):
        data = frame_bytes(code, b"\xf0")
        assert parse(data) == ModuleError(code, b"\xf0")
        assert wire(parse(data)) == data
    with pytest.raises(ValueError, match="error frame"):
        ModuleError(0x2001)


# --- frame decode errors -------------------------------------------------------------------

GOOD = FRAMES["rohm_f14_open_udp_3610"]


def _patched(data: bytes, at: int, value: int) -> bytes:
    return data[:at] + bytes((value,)) + data[at + 1 :]


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"", 0, "unique code"),
        (b"\x12\x34\x56\x78" + GOOD[4:], 0, "unique code"),
        (GOOD[:7], 6, "message length"),
        (_patched(GOOD, 9, 0x45), 8, "header checksum"),
        (_patched(GOOD, 11, 0x29), 10, "data checksum"),
        (_patched(GOOD, 13, 0x1B), 10, "data checksum"),
        (GOOD[:-1], 12, "data block"),
        (GOOD + b"\x00", 14, "trailing"),
    ],
)
def test_decode_errors_name_offset(data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        j11.decode(data)
    assert caught.value.layer == "j11"
    assert caught.value.offset == offset
    assert reason in caught.value.reason


def test_decode_rejects_bad_message_length() -> None:
    prefix = bytes.fromhex("D0F9EE5D 2001 0003")
    short = prefix + (sum(prefix) % 0x10000).to_bytes(2, "big") + b"\x00\x00"
    with pytest.raises(DecodeError) as caught:
        j11.decode(short)
    assert caught.value.offset == 6
    with pytest.raises(DecodeError, match="message length"):
        j11.decode(FRAMES["rohm_f22_data_received"], max_frame_size=40)


def test_encode_limits() -> None:
    largest = J11Frame(0x0008, bytes(j11.MAX_DATA_SIZE), UniqueCode.REQUEST)
    assert len(j11.encode(largest)) == j11.MAX_FRAME_SIZE == 1361
    with pytest.raises(EncodeError):
        j11.encode(J11Frame(0x0008, bytes(j11.MAX_DATA_SIZE + 1)))
    with pytest.raises(ValueError, match="command code"):
        J11Frame(0x10000)
    with pytest.raises(ValueError, match="unique code"):
        J11Frame(0x0001, b"", 0x12345678)  # type: ignore[arg-type]


def test_data_checksum_wraps_modulo_0x10000() -> None:
    data = j11.encode(J11Frame(0x0008, b"\xff" * 300, UniqueCode.REQUEST))
    assert data[10:12] == (300 * 0xFF - 0x10000).to_bytes(2, "big")
    assert j11.decode(data).data == b"\xff" * 300


# --- message decode errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "data", "unique"),
    [
        (Command.START_ROUTE_B_RESPONSE, bytes.fromhex("01 0C BCDE 0050C2FF"), UniqueCode.RESPONSE),
        (Command.GET_STATUS_RESPONSE, bytes.fromhex("01 03 02 01 00"), UniqueCode.RESPONSE),
        (Command.SCAN_RESULT, bytes.fromhex("02 04"), UniqueCode.RESPONSE),
        (Command.SCAN_RESULT, bytes.fromhex("00 0C 02") + bytes(11), UniqueCode.RESPONSE),
        (Command.DATA_RECEIVED, bytes(25) + b"\x00\x05" + bytes(4), UniqueCode.RESPONSE),
        (Command.ACTIVE_SCAN, bytes.fromhex("06 0003FFF0 02") + bytes(8), UniqueCode.REQUEST),
        (Command.OPEN_UDP_PORT, b"\x0e", UniqueCode.REQUEST),
        (Command.STARTUP, b"\x00", UniqueCode.RESPONSE),
    ],
)
def test_malformed_message_data(command: int, data: bytes, unique: UniqueCode) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_message(J11Frame(command, data, unique))
    assert caught.value.layer == "j11"


def test_non_ascii_credentials_are_not_echoed() -> None:
    data = "ÄB".encode("latin-1") + b"C" * 30 + b"SECRETPASSWD"
    with pytest.raises(DecodeError) as caught:
        decode_message(J11Frame(Command.SET_ROUTE_B_AUTH, data, UniqueCode.REQUEST))
    assert caught.value.offset == 0
    assert "SECRET" not in str(caught.value)


# --- secrets -------------------------------------------------------------------------------


def test_credentials_masked_everywhere() -> None:
    message = SetRouteBAuth(DOC_ID, DOC_PASSWORD)
    frame = encode_message(message)
    raw = RawMessage(Command.SET_ROUTE_B_AUTH, frame.data, UniqueCode.RESPONSE)
    garbled = FrameParser().feed(_patched(j11.encode(frame), 20, 0x00))
    for text in (repr(message), repr(frame), repr(raw), repr(garbled), str(message)):
        assert DOC_PASSWORD not in text
        assert DOC_ID not in text
        assert DOC_PASSWORD.encode().hex() not in text
    key = parse(FRAMES["tos_route_b_key_response"])
    assert "masked" in repr(key)
    assert "\\x0f" not in repr(key)


@pytest.mark.parametrize(("route_b_id", "password"), [(DOC_ID[:-1], "pw"), (DOC_ID, "short")])
def test_bad_credentials_rejected_without_echo(route_b_id: str, password: str) -> None:
    with pytest.raises(ValueError, match="ASCII characters") as caught:
        SetRouteBAuth(route_b_id, password)
    assert password not in str(caught.value)
    assert route_b_id not in str(caught.value)


# --- construction checks -------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: OpenUdpPort(0x10000),
        lambda: SetInitialSettings(channel=256),
        lambda: StartRouteBResponse(channel=4, pan_id=1, mac=b"\x00" * 7, rssi=0),
        lambda: Beacon(mac=METER_MAC, pan_id=1, rssi=128),
        lambda: ActiveScan(duration=1, channel_mask=1 << 32),
        lambda: ActiveScan(duration=1, channel_mask=0x10, pairing_id=b"1234"),
        lambda: TransmitData(destination=METER_ADDRESS, payload=b"x", source_port=-1),
        lambda: DataReceivedNotification(
            source=METER_ADDRESS, source_pan_id=1, rssi=0, payload=bytes(0x10000)
        ),
        lambda: ResultResponse(0x2005, 0x100),
    ],
)
def test_out_of_range_fields_rejected(build: Any) -> None:
    with pytest.raises(ValueError, match=r"must be|does not fit"):
        build()


# --- stream parser -------------------------------------------------------------------------


def test_parser_byte_by_byte() -> None:
    stream = b"".join(FRAMES.values())
    parser = FrameParser()
    events = [event for byte in stream for event in parser.feed(bytes((byte,)))]
    assert events == [j11.decode(data) for data in FRAMES.values()]
    assert parser.buffered == 0


def test_parser_resyncs_after_garbage_and_bad_checksums() -> None:
    good = FRAMES["tos_status_response"]
    bad_header = _patched(good, 9, 0x00)
    bad_data = _patched(good, 15, 0x04)
    stream = b"noise\xd0\xd0\xf9" + bad_header + good + bad_data + good
    events = FrameParser().feed(stream)
    frames = [e for e in events if isinstance(e, J11Frame)]
    garbled = [e for e in events if isinstance(e, J11Garbled)]
    assert frames == [j11.decode(good)] * 2
    assert [g.reason for g in garbled] == ["no unique code", "data checksum mismatch"]
    assert garbled[0].data == b"noise\xd0\xd0\xf9" + bad_header
    assert garbled[1].data == bad_data
    assert sum(g.size for g in garbled) + 2 * len(good) == len(stream)


def test_parser_rejects_oversized_length_and_keeps_going() -> None:
    prefix = bytes.fromhex("D0F9EE5D 6018 0800")
    huge = prefix + (sum(prefix) % 0x10000).to_bytes(2, "big") + b"\x00\x00"
    parser = FrameParser(max_frame_size=64)
    events = parser.feed(huge + FRAMES["tos_startup"])
    assert events[0] == J11Garbled("message length 2048 out of range", huge)
    assert events[1:] == [j11.decode(FRAMES["tos_startup"])]
    with pytest.raises(ValueError, match="at least 12"):
        FrameParser(max_frame_size=11)


def test_parser_skips_checksummed_frame_with_unknown_unique_code() -> None:
    prefix = bytes.fromhex("D0123456 2001 0004")
    fake = prefix + (sum(prefix) % 0x10000).to_bytes(2, "big") + b"\x00\x00"
    events = FrameParser().feed(fake + FRAMES["tos_startup"])
    assert events == [J11Garbled("no unique code", fake), j11.decode(FRAMES["tos_startup"])]


def test_parser_waits_for_partial_unique_code() -> None:
    parser = FrameParser()
    assert parser.feed(b"xx\xd0\xf9") == [J11Garbled("no unique code", b"xx")]
    assert parser.buffered == 2
    assert parser.feed(FRAMES["tos_startup"][2:]) == [j11.decode(FRAMES["tos_startup"])]
    parser.feed(b"\xd0")
    parser.reset()
    assert parser.buffered == 0


# --- helpers -------------------------------------------------------------------------------


def test_channel_frequencies() -> None:
    # Tosainu lib.rs channel names: Ch4F922p5MHz .. Ch17F927p7MHz.
    assert j11.channel_frequency_khz(4) == 922_500
    assert j11.channel_frequency_khz(12) == 925_700
    assert j11.channel_frequency_khz(17) == 927_700
    assert all(
        j11.channel_for_frequency_khz(j11.channel_frequency_khz(c)) == c for c in range(4, 18)
    )
    with pytest.raises(ValueError, match="channel must be"):
        j11.channel_frequency_khz(3)
    with pytest.raises(ValueError, match="not a J11 channel"):
        j11.channel_for_frequency_khz(922_600)


def test_scan_mask_and_duration() -> None:
    assert j11.scan_mask(range(4, 18)) == j11.ALL_CHANNELS_MASK == 0x0003FFF0
    assert j11.scan_mask([4, 12]) == 0x1010
    assert j11.mask_channels(0x1010) == (4, 12)
    assert j11.scan_duration_ms(1) == pytest.approx(19.28)  # Tosainu ScanDuration::T19p28ms
    assert j11.scan_duration_ms(14) == pytest.approx(157941.76)
    with pytest.raises(ValueError, match="outside channels"):
        j11.mask_channels(0x1)
    with pytest.raises(ValueError, match=r"1\.\.14"):
        j11.scan_duration_ms(15)


def test_link_local_address() -> None:
    # ROHM 63AN028E: MAC 0050C2FFFEDC2822 (F13, F18) is addressed as fe80::250:c2ff:fedc:2822 (F20).
    assert j11.link_local_from_mac(METER_MAC) == METER_ADDRESS
    assert j11.mac_from_link_local(METER_ADDRESS) == METER_MAC
    with pytest.raises(ValueError, match="8 bytes"):
        j11.link_local_from_mac(METER_MAC[:6])
    with pytest.raises(ValueError, match="fe80::/64"):
        j11.mac_from_link_local(IPv6Address("2001:db8::1"))


def test_pairing_id_and_response_code() -> None:
    assert j11.pairing_id(DOC_ID) == b"CCDDEEFF"  # as in ROHM 63AN028E F7
    assert j11.response_code(Command.START_ROUTE_B) == Command.START_ROUTE_B_RESPONSE


# --- properties ----------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
rssi = st.integers(-128, 127)
mac = st.binary(min_size=8, max_size=8)
ipv6 = st.builds(IPv6Address, st.binary(min_size=16, max_size=16))
small = st.binary(max_size=64)
uniques = st.sampled_from(list(UniqueCode))
frames = st.builds(J11Frame, u16, st.binary(max_size=j11.MAX_DATA_SIZE), uniques)


def _code(kind: Any) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(list(kind)), u8)


messages: st.SearchStrategy[J11Message] = st.one_of(
    st.sampled_from(
        [
            *(HardwareReset(), GetVersion(), GetStatus(), GetInitialSettings(), StartRouteB()),
            *(StartPana(), TerminatePana(), TerminateRouteB(), ReauthPana()),
            StartupNotification(),
        ]
    ),
    st.builds(
        SetInitialSettings,
        mode=_code(OperationMode),
        han_sleep=st.booleans(),
        channel=u8,
        tx_power=_code(TxPower),
    ),
    st.builds(
        SetRouteBAuth,
        st.text(st.characters(max_codepoint=127), min_size=32, max_size=32),
        st.text(st.characters(max_codepoint=127), min_size=12, max_size=12),
    ),
    st.builds(
        ActiveScan,
        duration=u8,
        channel_mask=st.integers(0, 2**32 - 1),
        pairing_id=st.none() | mac,
    ),
    st.builds(OpenUdpPort, u16),
    st.builds(CloseUdpPort, u16),
    st.builds(TransmitData, destination=ipv6, source_port=u16, destination_port=u16, payload=small),
    st.builds(
        ResultResponse,
        st.sampled_from([c for c in Command if 0x2000 <= c < 0x3000 and c != 0x2FFF]),
        st.just(Result.SUCCESS),
    ).filter(lambda m: m.command not in (0x2001, 0x2008, 0x2053, 0x2059, 0x206B, 0x2107)),
    st.builds(
        ResultResponse,
        st.sampled_from([c for c in Command if 0x2000 <= c < 0x3000 and c != 0x2FFF]),
        _code(Result).filter(lambda r: r != Result.SUCCESS),
    ).filter(lambda m: m.command != 0x2059),
    st.builds(
        StatusResponse,
        global_state=_code(GlobalState),
        route_b=_code(BlockState),
        han=_code(BlockState),
    ),
    st.builds(
        VersionResponse,
        firmware_id=u16,
        major=u8,
        minor=u8,
        revision=st.integers(0, 2**32 - 1),
    ),
    st.builds(
        InitialSettingsResponse,
        mode=_code(OperationMode),
        han_sleep=st.booleans(),
        channel=u8,
        tx_power=_code(TxPower),
    ),
    st.builds(StartRouteBResponse, channel=u8, pan_id=u16, mac=mac, rssi=rssi),
    st.builds(TransmitDataResponse, status=u8, trailing=small),
    st.builds(ModuleError, st.sampled_from([0x2FFF, 0xFFFF]), small),
    st.builds(
        ScanResultNotification,
        channel=u8,
        beacons=st.none()
        | st.lists(st.builds(Beacon, mac=mac, pan_id=u16, rssi=rssi), max_size=5).map(tuple),
    ),
    st.builds(
        DataReceivedNotification,
        source=ipv6,
        source_port=u16,
        destination_port=u16,
        source_pan_id=u16,
        address_type=u8,
        encryption=u8,
        rssi=rssi,
        payload=small,
    ),
    st.builds(ConnectionStateNotification, state=_code(ConnectionState), mac=mac, rssi=rssi),
    st.builds(PanaResultNotification, result=_code(PanaResult), mac=mac),
    st.builds(
        ReceptionFailureNotification,
        reason=_code(ReceptionFailureReason),
        source=ipv6,
        sequence=u8,
        fragment_flag=u8,
        fragment_tag=u16,
        trailing=small,
    ),
    st.builds(RawMessage, st.sampled_from([0x0009, 0x205E, 0x6FFF]), small, uniques),
)


@given(messages)
def test_every_message_round_trips(message: J11Message) -> None:
    assert parse(wire(message)) == message


@given(st.binary(max_size=80))
def test_decode_random_bytes_only_raises_decode_error(data: bytes) -> None:
    try:
        frame = j11.decode(data)
    except DecodeError:
        return
    assert j11.encode(frame) == data


@given(frames)
def test_valid_frames_round_trip(frame: J11Frame) -> None:
    data = j11.encode(frame)
    assert j11.decode(data) == frame
    assert j11.encode(j11.decode(data)) == data


@given(frames, st.integers(0, 1400), u8)
def test_corrupted_frames_only_raise_decode_error(frame: J11Frame, at: int, value: int) -> None:
    data = j11.encode(frame)
    data = _patched(data, at % len(data), value)
    try:
        decoded = j11.decode(data)
    except DecodeError:
        return
    assert j11.encode(decoded) == data


@given(st.sampled_from([c for c in Command] + [0x0009, 0x6FFF]), st.binary(max_size=64), uniques)
def test_decode_message_on_any_data_only_raises_decode_error(
    command: int, data: bytes, unique: UniqueCode
) -> None:
    try:
        message = decode_message(J11Frame(command, data, unique))
    except DecodeError:
        return
    assert decode_message(encode_message(message)) == message


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


@settings(max_examples=200)
@given(
    st.lists(st.tuples(frames, st.binary(max_size=20).filter(lambda b: 0xD0 not in b)), max_size=6),
    st.lists(st.integers(0, 10_000), max_size=30),
)
def test_parser_finds_every_frame_under_any_chunking(
    pairs: list[tuple[J11Frame, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(junk + j11.encode(frame) for frame, junk in pairs)
    parser = FrameParser()
    events = [e for chunk in _chunks(stream, cuts) for e in parser.feed(chunk)]
    assert [e for e in events if isinstance(e, J11Frame)] == [frame for frame, _ in pairs]
    assert parser.buffered == 0


@given(st.binary(max_size=3000), st.lists(st.integers(0, 10_000), max_size=30))
def test_parser_never_raises_and_is_chunking_independent(data: bytes, cuts: list[int]) -> None:
    whole = FrameParser(max_frame_size=256)
    reference = whole.feed(data)
    parser = FrameParser(max_frame_size=256)
    events = [e for chunk in _chunks(data, cuts) for e in parser.feed(chunk)]
    assert [e for e in events if isinstance(e, J11Frame)] == [
        e for e in reference if isinstance(e, J11Frame)
    ]
    dropped = sum(e.size for e in events if isinstance(e, J11Garbled))
    kept = sum(len(j11.encode(e, max_frame_size=256)) for e in events if isinstance(e, J11Frame))
    assert dropped + kept + parser.buffered == len(data)
    assert parser.buffered == whole.buffered < 256
