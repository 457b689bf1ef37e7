"""DLMS wrapper (``aroute.wrapper``) and HDLC framing (``aroute.hdlc``).

Vectors: u9n/dlms-cosem tests/test_udp_message.py (a UDP push: wrapper header
00 01 00 01 00 01 00 46 + general-glo-ciphering) and tests/test_hdlc/test_hdlc.py
(SNRM, UA with parameters, AARQ/AARE I-frames, a segmented I-frame, HCS of "03 3F");
gurux-dlms 1.0.203 ``GXDLMSClient.snrmRequest`` for 1-, 2- and 4-byte server addresses
(generated with the installed package; bytes pasted below).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.aroute import hdlc, wrapper
from smartmeter_proto.aroute.hdlc import (
    Control,
    FrameType,
    HdlcAddress,
    HdlcFrame,
    HdlcParser,
    fcs16,
)
from smartmeter_proto.aroute.wrapper import WPort, WrapperFrame, WrapperParser
from smartmeter_proto.errors import DecodeError, EncodeError

# ----------------------------------------------------------------- wrapper

# u9n/dlms-cosem tests/test_udp_message.py, first datagram.
UDP_PUSH = bytes.fromhex(
    "0001000100010046"
    "DB082F192291991641033B30000001E5025CE9D2271FD78BE8C204211A916A9D7F587E0A7A814CADEA89"
    "E9593F01F92EA8C087B5BDFDEFEAB6BECF282DFE49C08F5BE6DC8400"
)


def test_udp_datagram_from_dlms_cosem() -> None:
    frame = wrapper.decode(UDP_PUSH)
    assert (frame.version, frame.source_wport, frame.destination_wport) == (1, 1, 1)
    assert len(frame.apdu) == 0x46
    assert frame.apdu[0] == 0xDB
    assert wrapper.encode(frame) == UDP_PUSH


def test_public_client_to_management_device_header() -> None:
    frame = WrapperFrame(WPort.PUBLIC_CLIENT, wrapper.MANAGEMENT_LOGICAL_DEVICE, b"\xc0\x01")
    assert wrapper.encode(frame) == bytes.fromhex("0001 0010 0001 0002 C001")
    assert wrapper.DLMS_PORT == 4059


@pytest.mark.parametrize(
    "bad", [UDP_PUSH[:-1], UDP_PUSH + b"\x00", b"\x00\x02" + UDP_PUSH[2:], UDP_PUSH[:7]]
)
def test_udp_datagram_rejects_bad_lengths_and_versions(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        wrapper.decode(bad)


def test_tcp_stream_in_any_chunks() -> None:
    second = wrapper.encode(WrapperFrame(0x10, 0x01, bytes(range(40))))
    stream = UDP_PUSH + second + UDP_PUSH
    for size in (1, 3, 8, 79, len(stream)):
        parser = WrapperParser()
        frames: list[WrapperFrame] = []
        for i in range(0, len(stream), size):
            frames += parser.feed(stream[i : i + size])
        assert [wrapper.encode(f) for f in frames] == [UDP_PUSH, second, UDP_PUSH]
        assert parser.buffered == 0


def test_tcp_stream_fails_for_good_after_a_bad_header() -> None:
    parser = WrapperParser()
    frames = parser.feed(UDP_PUSH + b"\x12\x34garbage!")
    assert len(frames) == 1  # the good frame before the damage is delivered
    assert parser.failed
    with pytest.raises(DecodeError, match="cannot be resynchronised") as info:
        parser.feed(UDP_PUSH)
    assert info.value.offset == len(UDP_PUSH)


def test_tcp_stream_bounds_the_length() -> None:
    parser = WrapperParser(max_apdu_length=100)
    with pytest.raises(DecodeError, match="exceeds the limit 100"):
        parser.feed(bytes.fromhex("0001 0010 0001 0400"))
    assert parser.buffered == 0


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=300))
def test_wrapper_round_trip(src: int, dst: int, apdu: bytes) -> None:
    frame = WrapperFrame(src, dst, apdu)
    assert wrapper.decode(wrapper.encode(frame)) == frame


@given(st.binary(max_size=200))
def test_wrapper_any_bytes(data: bytes) -> None:
    try:
        frame = wrapper.decode(data)
    except DecodeError:
        return
    assert wrapper.encode(frame) == data


@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=10))
def test_wrapper_stream_any_bytes(data: bytes, cuts: list[int]) -> None:
    parser = WrapperParser()
    pos = 0
    for cut in [*cuts, len(data)]:
        try:
            parser.feed(data[pos : pos + cut])
        except DecodeError:
            assert parser.failed
            return
        pos += cut


def test_wrapper_encode_rejects_oversize() -> None:
    with pytest.raises(EncodeError):
        wrapper.encode(WrapperFrame(1, 1, bytes(0x10000)))
    with pytest.raises(EncodeError):
        wrapper.encode(WrapperFrame(0x10000, 1, b""))


# ----------------------------------------------------------------- HDLC vectors

SERVER = HdlcAddress(1, 17)  # logical device 1, physical 17: 02 23
CLIENT = HdlcAddress(0x10)  # public client: 21

# u9n/dlms-cosem tests/test_hdlc/test_hdlc.py
SNRM = bytes.fromhex("7EA00802232193BD647E")
UA = bytes.fromhex("7EA01F21022373E6C781801205019A06019A070400000001080400000001CCA27E")
AARQ_I = bytes.fromhex(
    "7EA02C02232110AF9FE6E600601DA109060760857405080101BE10040E01000000065F1F0400001E1DFFFFC5E47E"
)
AARE_I = bytes.fromhex(
    "7EA0382102233034E7E6E7006129A109060760857405080101A203020100A305A103020100BE10040E0800"
    "065F1F0400001E1D04C80007B86A7E"
)
SEGMENTED_I = bytes.fromhex(
    "7ea87e210396a4090f01160002020f02160002020f03160002020f04160002020f05160002020f0616000204"
    "120017110009060000160000ff0202010902030f0116010002030f0216010002030f0316010002030f041601"
    "0002030f0516010002030f0616010002030f0716010002030f0816010002030f09160100016ff37e"
)
# gurux-dlms 1.0.203 GXDLMSClient(True, 16, server).snrmRequest() for server addresses
# 1, getServerAddress(1, 17) and getServerAddress(1, 0x1234, 4).
GURUX_SNRM = {
    HdlcAddress(1): bytes.fromhex("7ea0070321930f017e"),
    HdlcAddress(1, 17): bytes.fromhex("7ea00802232193bd647e"),
    HdlcAddress(1, 0x1234, 4): bytes.fromhex("7ea00a0002486921937bf77e"),
}
ALL_FRAMES = [SNRM, UA, AARQ_I, AARE_I, SEGMENTED_I, *GURUX_SNRM.values()]


def test_fcs16_is_crc16_x25() -> None:
    assert fcs16(b"123456789") == 0x906E  # CRC-16/X-25 check value (RFC 1662 FCS-16)
    assert fcs16(bytes.fromhex("033F")).to_bytes(2, "little") == bytes.fromhex("5BEC")


def test_snrm() -> None:
    frame = hdlc.decode(SNRM)
    assert frame == HdlcFrame(SERVER, CLIENT, Control(FrameType.SNRM, True))
    assert hdlc.encode(frame) == SNRM


def test_ua_with_negotiation_parameters() -> None:
    frame = hdlc.decode(UA)
    assert (frame.destination, frame.source) == (CLIENT, SERVER)
    assert frame.control == Control(FrameType.UA, True)
    assert frame.information.startswith(bytes.fromhex("818012"))


def test_aarq_and_aare_information_frames() -> None:
    req = hdlc.decode(AARQ_I)
    assert req.control == Control(FrameType.I, True, send_seq=0, recv_seq=0)
    is_response, apdu = hdlc.strip_llc(req.information)
    assert not is_response
    assert apdu[0] == 0x60  # AARQ
    res = hdlc.decode(AARE_I)
    assert res.control == Control(FrameType.I, True, send_seq=0, recv_seq=1)
    is_response, apdu = hdlc.strip_llc(res.information)
    assert is_response
    assert apdu[0] == 0x61  # AARE
    assert (
        hdlc.encode(
            HdlcFrame(
                SERVER,
                CLIENT,
                req.control,
                hdlc.add_llc(hdlc.strip_llc(req.information)[1], response=False),
            )
        )
        == AARQ_I
    )


def test_segmented_frame() -> None:
    frame = hdlc.decode(SEGMENTED_I)
    assert frame.segmented
    assert frame.control == Control(FrameType.I, True, send_seq=3, recv_seq=4)
    assert (frame.destination, frame.source) == (CLIENT, HdlcAddress(1))
    with pytest.raises(DecodeError, match="LLC header"):
        hdlc.strip_llc(frame.information)  # only the first segment carries the LLC header


@pytest.mark.parametrize("server", list(GURUX_SNRM))
def test_gurux_snrm_addresses(server: HdlcAddress) -> None:
    frame = HdlcFrame(server, CLIENT, Control(FrameType.SNRM, True))
    assert hdlc.encode(frame) == GURUX_SNRM[server]
    assert hdlc.decode(GURUX_SNRM[server]) == frame


@pytest.mark.parametrize(
    ("byte", "control"),
    [
        (0x93, Control(FrameType.SNRM, True)),
        (0x53, Control(FrameType.DISC, True)),
        (0x73, Control(FrameType.UA, True)),
        (0x1F, Control(FrameType.DM, True)),
        (0x97, Control(FrameType.FRMR, True)),
        (0x13, Control(FrameType.UI, True)),
        (0x03, Control(FrameType.UI, False)),
        (0x31, Control(FrameType.RR, True, recv_seq=1)),
        (0xF5, Control(FrameType.RNR, True, recv_seq=7)),
        (0x54, Control(FrameType.I, True, send_seq=2, recv_seq=2)),
        (0x09, Control(0x09, False)),  # REJ is not used by IEC 62056-46: kept raw
    ],
)
def test_control_field(byte: int, control: Control) -> None:
    assert Control.from_byte(byte) == control
    assert control.to_byte() == byte


@given(st.integers(0, 255))
def test_control_round_trip(byte: int) -> None:
    assert Control.from_byte(byte).to_byte() == byte


def test_corruption_is_rejected() -> None:
    for i in range(1, len(AARQ_I) - 1):
        bad = bytearray(AARQ_I)
        bad[i] ^= 0x04
        with pytest.raises(DecodeError):
            hdlc.decode(bytes(bad))


# ----------------------------------------------------------------- HDLC properties

_address = st.one_of(
    st.builds(HdlcAddress, st.integers(0, 0x7F)),
    st.builds(HdlcAddress, st.integers(0, 0x7F), st.integers(0, 0x7F), st.just(2)),
    st.builds(HdlcAddress, st.integers(0, 0x3FFF), st.integers(0, 0x3FFF), st.just(4)),
)
_control = st.integers(0, 255).map(Control.from_byte)
_frames = st.builds(HdlcFrame, _address, _address, _control, st.binary(max_size=200), st.booleans())


@given(_frames)
def test_hdlc_round_trip(frame: HdlcFrame) -> None:
    wire = hdlc.encode(frame)
    assert hdlc.decode(wire) == frame
    assert hdlc.encode(hdlc.decode(wire)) == wire


@given(st.binary(max_size=200))
def test_hdlc_any_bytes(data: bytes) -> None:
    try:
        frame = hdlc.decode(data)
    except DecodeError:
        return
    assert hdlc.encode(frame) == data


def test_parser_splits_and_shares_flags() -> None:
    shared = SNRM[:-1] + UA  # closing flag of the SNRM opens the UA
    stream = b"\x00\xff" + AARQ_I + AARE_I + b"\x7e\x7e" + shared + SEGMENTED_I
    for size in (1, 2, 7, 64, len(stream)):
        parser = HdlcParser()
        frames: list[HdlcFrame] = []
        for i in range(0, len(stream), size):
            frames += parser.feed(stream[i : i + size])
        assert [hdlc.encode(f) for f in frames] == [AARQ_I, AARE_I, SNRM, UA, SEGMENTED_I]
        assert parser.dropped_bytes == 2
        assert parser.bad_frames == 0


def test_parser_resynchronises_after_damage() -> None:
    damaged_fcs = bytearray(AARQ_I)
    damaged_fcs[-3] ^= 0xFF
    damaged_header = bytearray(AARE_I)
    damaged_header[4] ^= 0x01
    parser = HdlcParser()
    stream = bytes(damaged_fcs) + SNRM + bytes(damaged_header) + UA + AARQ_I[:10]
    frames = parser.feed(stream)
    assert [hdlc.encode(f) for f in frames] == [SNRM, UA]
    assert parser.bad_frames >= 2
    assert parser.last_error is not None
    assert [hdlc.encode(f) for f in parser.feed(AARQ_I[10:])] == [AARQ_I]


@given(st.binary(max_size=400), st.sampled_from(ALL_FRAMES))
def test_parser_finds_a_frame_after_any_garbage(garbage: bytes, frame: bytes) -> None:
    parser = HdlcParser()
    try:
        parser.feed(garbage)
    except DecodeError:  # pragma: no cover - the parser never raises
        pytest.fail("HdlcParser.feed raised")
    # Garbage that fails its header check is abandoned at once: the next frame comes out.
    out = parser.feed(b"\x7e" + frame)
    if garbage.rfind(b"\x7e") < 0 or len(garbage) - garbage.rfind(b"\x7e") < 3:
        assert out
        assert hdlc.encode(out[-1]) == frame
    # In every case the stall is bounded by the 11-bit length field.
    for _ in range(2100 // len(frame) + 2):
        if out and hdlc.encode(out[-1]) == frame:
            break
        out += parser.feed(frame)
    assert out
    assert hdlc.encode(out[-1]) == frame
    assert parser.buffered <= 2050


def test_parser_drops_a_long_garbage_header_without_waiting() -> None:
    parser = HdlcParser()
    # Flag, format with length 0x7FF, then a header whose HCS is wrong.
    assert parser.feed(bytes.fromhex("7EA7FF0223211000") + b"\x00\x00") == []
    assert [hdlc.encode(f) for f in parser.feed(SNRM)] == [SNRM]
    assert parser.bad_frames == 1


@given(st.lists(st.binary(max_size=60), max_size=12))
def test_parser_any_chunks_never_raises(chunks: list[bytes]) -> None:
    parser = HdlcParser()
    for chunk in chunks:
        for frame in parser.feed(chunk):
            assert hdlc.decode(hdlc.encode(frame)) == frame
    assert parser.buffered <= 2050
