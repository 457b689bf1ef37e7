"""G3 ADP serial messages: byte layouts, round trips, total decoding, secret masking.

Byte layouts are written out from Microchip-MPLAB-Harmony/smartenergy_g3
g3/src/adp_serial/adp_serial.c (commit 62d63090: _Stringify* for modem->host,
_Parse* for host->modem) and dmoghnie/ne-g3 src/request.rs (INITIALIZE band-only,
GET and DATA requests).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError
from smartmeter_proto.plc import g3adp as g
from smartmeter_proto.plc.g3adp import messages as g3adp_messages
from smartmeter_proto.plc.usi import UsiFrame, UsiParser, UsiProtocol

U8 = st.integers(0, 0xFF)
U16 = st.integers(0, 0xFFFF)
U32 = st.integers(0, 0xFFFFFFFF)
OPT8 = st.none() | U8
ADDR = U16 | st.binary(min_size=8, max_size=8)
BLOB = st.binary(max_size=60)

MESSAGES = st.one_of(
    st.builds(g.Status, U8, U8),
    st.builds(g.Initialize, U8, st.none() | st.booleans()),
    st.builds(g.DataRequest, U8, st.booleans(), U8, BLOB),
    st.builds(g.DiscoveryRequest, U8),
    st.builds(g.NetworkStartRequest, U16),
    st.builds(g.NetworkJoinRequest, U16, U16, OPT8),
    st.just(g.LeaveRequest()),
    st.just(g.ResetRequest()),
    st.builds(g.SetRequest, U32, U16, BLOB),
    st.builds(g.GetRequest, U32, U16),
    st.builds(g.LbpSetRequest, U32, U16, BLOB),
    st.builds(g.DataConfirm, U8, U8),
    st.builds(g.DataIndication, U8, BLOB),
    st.builds(g.NetworkStatusIndication, U16, ADDR, ADDR, U8, U8, U8, OPT8),
    st.builds(g.DiscoveryIndication, U16, U8, U16, U16, OPT8),
    st.builds(g.DiscoveryConfirm, U8),
    st.builds(g.NetworkStartConfirm, U8),
    st.builds(g.NetworkJoinConfirm, U8, U16, U16),
    st.builds(g.LeaveConfirm, U8),
    st.just(g.LeaveIndication()),
    st.builds(g.ResetConfirm, U8),
    st.builds(g.SetConfirm, U8, U32, U16),
    st.builds(g.GetConfirm, U8, U32, U16, BLOB),
    st.builds(g.BufferIndication, U8),
    st.builds(g.LbpSetConfirm, U8, U32, U16),
)


@given(MESSAGES)
def test_every_message_round_trips(message: g.AdpMessage) -> None:
    data = message.encode()
    assert data[0] == message.command
    assert g.decode_adp(data) == message
    # and through a USI frame (protocol 0x25)
    frames = UsiParser().feed(UsiFrame(UsiProtocol.ADP_G3, data).encode())
    assert frames == [UsiFrame(UsiProtocol.ADP_G3, data)]


@given(st.binary(max_size=80))
def test_any_bytes_give_message_or_decode_error(data: bytes) -> None:
    try:
        message = g.decode_adp(data)
    except DecodeError:
        return
    assert message.encode() == data


@given(st.sampled_from(sorted(set(range(256)) - {int(c) for c in g3adp_messages._DECODERS})), BLOB)
def test_unmodelled_commands_are_kept_raw(command: int, payload: bytes) -> None:
    message = g.decode_adp(bytes([command]) + payload)
    assert message == g.RawAdpMessage(command, payload)


@pytest.mark.parametrize(
    ("hexstr", "expected"),
    [
        # INITIALIZE ARIB device (adp_serial.c _ParseInitialize: band, coordinator flag)
        ("0A 03 00", g.Initialize(g.Band.ARIB, False)),
        # ne-g3 request.rs AdpInitializeRequest: band only
        ("0A 03", g.Initialize(g.Band.ARIB, None)),
        # STATUS after INITIALIZE (_StringifyMsgStatus: 00, status, command)
        ("00 00 0A", g.Status(g.SerialStatus.SUCCESS, g.AdpCommand.INITIALIZE)),
        ("00 02 11", g.Status(g.SerialStatus.UNKNOWN_COMMAND, g.AdpCommand.SET_REQUEST)),
        ("0C 0F", g.DiscoveryRequest(15)),
        # DISCOVERY indication: PAN, LQ, LBA, RC_COORD, media (_StringifyDiscoveryIndication)
        ("30 78 1D 9C 00 00 00 15 00", g.DiscoveryIndication(0x781D, 0x9C, 0, 0x15, 0)),
        ("21 A9", g.DiscoveryConfirm(g.AdpStatus.NO_BEACON)),
        ("0E 78 1D 00 00 00", g.NetworkJoinRequest(0x781D, 0x0000, 0)),
        # NETWORK_JOIN confirm: status, short address, PAN
        ("23 00 00 01 78 1D", g.NetworkJoinConfirm(g.AdpStatus.SUCCESS, 1, 0x781D)),
        ("0F", g.LeaveRequest()),
        ("25", g.LeaveIndication()),
        ("24 00", g.LeaveConfirm(g.AdpStatus.SUCCESS)),
        ("10", g.ResetRequest()),
        ("26 00", g.ResetConfirm(g.AdpStatus.SUCCESS)),
        # GET request: ne-g3 AdpGetRequest (id 4 bytes, index 2 bytes)
        ("12 00 00 00 20 00 00", g.GetRequest(g.AdpAttribute.MAX_JOIN_WAIT_TIME, 0)),
        # GET confirm of a 16-bit IB, value big-endian (_memcpyToUsiEndianessUint16)
        (
            "28 00 00 00 00 20 00 00 02 00 5A",
            g.GetConfirm(g.AdpStatus.SUCCESS, 0x20, 0, b"\x00\x5a"),
        ),
        # GET confirm of an IB the firmware does not serialise: length 16, no value bytes
        ("28 00 08 00 00 C2 00 00 10", g.GetConfirm(0, 0x080000C2, 0, b"", 16)),
        ("27 B1 08 00 00 C2 00 00", g.SetConfirm(g.AdpStatus.UNSUPPORTED_ATTRIBUTE, 0x080000C2, 0)),
        ("46 04 00 00 00 01 00 00", g.LbpSetConfirm(g.LbpStatus.INVALID_LENGTH, 1, 0)),
        # DATA request (ne-g3 request.rs / _ParseDataRequest): handle, route, QoS, len, IPv6
        ("0B 07 01 00 00 02 60 00", g.DataRequest(7, True, 0, b"\x60\x00")),
        ("1E 00 07", g.DataConfirm(g.AdpStatus.SUCCESS, 7)),
        ("1F F0 00 01 60", g.DataIndication(0xF0, b"\x60")),
        ("2F 01", g.BufferIndication(1)),
        # NETWORK_STATUS: PAN, src (size 2 + short), dst (size 8 + EUI-64), status, sec, key, media
        (
            "20 78 1D 02 00 01 08 01 02 03 04 05 06 07 08 A5 05 00 00",
            g.NetworkStatusIndication(
                0x781D, 1, bytes(range(1, 9)), g.AdpStatus.ROUTE_ERROR, 5, 0, 0
            ),
        ),
    ],
)
def test_layouts(hexstr: str, expected: g.AdpMessage) -> None:
    data = bytes.fromhex(hexstr)
    assert g.decode_adp(data) == expected
    assert expected.encode() == data


def test_status_codes_are_enums_and_unknown_stay_raw() -> None:
    assert g.decode_adp(b"\x21\xa9") == g.DiscoveryConfirm(g.AdpStatus.NO_BEACON)
    msg = g.decode_adp(b"\x21\x42")
    assert isinstance(msg, g.DiscoveryConfirm)
    assert msg.status == 0x42
    assert not isinstance(msg.status, g.AdpStatus)


@pytest.mark.parametrize(
    "hexstr",
    [
        "",
        "0B 07 02 00 00 00",
        "0B 07 01 00 00 05 60",
        "20 78 1D 03 00 01",
        "23 00 00",
        "2F",
        "0A 03 05",
        "0C",
        "0C 0F 00",
        "11 00 00 00 20 00 00 02 00",
    ],
)
def test_malformed_raise_decode_error(hexstr: str) -> None:
    with pytest.raises(DecodeError) as info:
        g.decode_adp(bytes.fromhex(hexstr))
    assert info.value.layer == "g3adp"


def test_secrets_are_masked_in_repr() -> None:
    psk = bytes.fromhex("AB10341145111BC3C12DE8FF11142204")  # Harmony lbp_dev.c default PSK
    lbp = g.LbpSetRequest(g.LbpAttribute.PSK, 0, psk)
    legacy = g.SetRequest(g.LegacyAdpAttribute.EAP_PRESHARED_KEY, 0, psk)
    for message in (lbp, legacy):
        text = repr(message)
        assert psk.hex() not in text.lower()
        assert repr(psk) not in text
        assert "16 bytes masked" in text
    idp = g.LbpSetRequest(g.LbpAttribute.IDP, 0, b"x" * 36)
    assert "xxxx" in repr(idp)
    frame = UsiFrame(UsiProtocol.ADP_G3, lbp.encode())
    assert psk.hex() not in repr(frame).lower()
    assert repr(psk) not in repr(frame)
    assert "0x3c" in repr(frame)


def test_psk_set_request_layout() -> None:
    psk = bytes(range(16))
    data = g.LbpSetRequest(g.LbpAttribute.PSK, 0, psk).encode()
    assert data == bytes.fromhex("3C 00000002 0000 10") + psk
    legacy = g.SetRequest(g.LegacyAdpAttribute.EAP_PRESHARED_KEY, 0, psk).encode()
    assert legacy == bytes.fromhex("11 080000C2 0000 10") + psk


def test_value_too_long_is_encode_error() -> None:
    from smartmeter_proto.errors import EncodeError

    with pytest.raises(EncodeError):
        g.SetRequest(1, 0, bytes(256)).encode()
    with pytest.raises(EncodeError):
        g.NetworkStatusIndication(1, b"\x00" * 3, 1, 0, 0, 0).encode()
