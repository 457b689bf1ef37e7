"""6LoWPAN: IPHC/NHC against captured frames, round trips, fragmentation and reassembly."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError, EncodeError
from smartmeter_proto.wisun.radio import lowpan, mac802154
from smartmeter_proto.wisun.radio.lowpan import Reassembler, UdpDatagram

METER = bytes.fromhex("001C640000000001")
DONGLE = bytes.fromhex("001C640000000002")
PAN = 0x8123


def _ip(text: str) -> bytes:
    import ipaddress

    return ipaddress.IPv6Address(text).packed


def _icmpv6_checksum_ok(packet: bytes) -> bool:
    """ICMPv6 checksum over the pseudo-header (RFC 4443 section 2.3) sums to 0xFFFF."""
    body = packet[40:]
    data = packet[8:40] + struct.pack(">II", len(body), 58) + body
    data += b"\x00" * (len(data) % 2)
    words: tuple[int, ...] = struct.unpack(f">{len(data) // 2}H", data)
    total = sum(words)
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


# --- captured frames from scapy test/scapy/layers/dot15d4.uts ----------------------------
# (secdev/scapy commit 1aa128691a4d3e74962d0780aa8fdded4938077d; the ZEP2 captures carry FCS)

# "Compressed SixLoWPAN - real packets with ZEP2": RPL DIO, IPHC 7b3b, short source 0x5566
DIO = bytes.fromhex(
    "418855aa1bffff66557b3b3a1a9b01754500f1035a8bf00000fd00000000000000000000fffe0011226c46"
)
# same capture: router advertisement to ff02::1 with prefix and 6CO options
RA = bytes.fromhex(
    "41885faa1bffff66557b3b3a018600be87400007080000000000000000010155660000000021030000000000"
    "01fd00000000000000000000fffe00112203044040ffffffffffffffff00000000fd00000000000000000000"
    "00000000002002401000000003fd00000000000000c237"
)


@pytest.mark.parametrize(("raw", "dst"), [(DIO, "ff02::1a"), (RA, "ff02::1")], ids=["dio", "ra"])
def test_captured_icmpv6_frames(raw: bytes, dst: str) -> None:
    frame = mac802154.decode(raw, fcs=True)
    packet = lowpan.decompress(frame.payload, src_mac=frame.src_addr, dst_mac=frame.dst_addr)
    assert packet[8:24] == _ip("fe80::ff:fe00:5566")  # SAM=11 from the short address
    assert packet[24:40] == _ip(dst)  # M=1 DAM=11: ff02::00XX
    assert packet[6] == 58
    assert packet[7] == 255
    assert _icmpv6_checksum_ok(packet)  # proves the decompressed addresses are the sender's


def test_scapy_advanced_1_unspecified_source_and_48bit_multicast() -> None:
    # "SixLoWPAN - Advanced 1": neighbour solicitation from ::, SAC=1 SAM=00, M=1 DAM=01
    data = bytes.fromhex("7b493a0201ff0202028700020b00000000fe800000000000000212740200020202")
    packet = lowpan.decompress(data, src_mac=None, dst_mac=None)
    assert packet[8:24] == bytes(16)
    assert packet[24:40] == _ip("ff02::1:ff02:202")
    assert packet[6] == 58
    assert packet[40] == 0x87


def test_scapy_advanced_3_short_addresses() -> None:
    # "SixLoWPAN - Advanced 3": IPHC 7b33 between short 0x0000 and short 0xffff
    data = bytes.fromhex(
        "7b333a88003cb960000000fe80000000000000021274020002020202020012740200020202000000000000"
    )
    packet = lowpan.decompress(data, src_mac=b"\x00\x00", dst_mac=b"\xff\xff")
    assert packet[8:24] == _ip("fe80::ff:fe00:0")
    assert packet[24:40] == _ip("fe80::ff:fe00:ffff")


def test_scapy_nhc_udp_fields() -> None:
    # "LoWPAN_NHC - NHC_UDP": IPHC 7d3b, NHC f0 with 16-bit ports 56009, checksum 0x8580
    raw = bytes.fromhex("4188002200ffff13007d3b01f0dac9dac98580c800000000000000f2eb")
    frame = mac802154.decode(raw)
    packet = lowpan.decompress(frame.payload, src_mac=frame.src_addr, dst_mac=frame.dst_addr)
    assert packet[7] == 1
    assert packet[6] == 17
    assert packet[8:24] == _ip("fe80::ff:fe00:13")
    assert packet[24:40] == _ip("ff02::1")
    assert struct.unpack(">HHHH", packet[40:48]) == (56009, 56009, 18, 0x8580)
    # the checksum does not cover these bytes (the frame was trimmed for the test suite),
    # so the reassembler refuses the datagram
    with pytest.raises(DecodeError, match="checksum"):
        Reassembler().feed(raw, 0.0)


# --- encoding facts (RFC 6282) ------------------------------------------------------------


def test_iid_from_mac() -> None:
    assert lowpan.iid_from_mac(METER) == bytes.fromhex("021C640000000001")  # U/L flipped
    assert lowpan.iid_from_mac(b"\x12\x34") == bytes.fromhex("000000fffe001234")
    assert lowpan.link_local(METER) == _ip("fe80::21c:6400:0:1")
    with pytest.raises(ValueError, match="2 or 8"):
        lowpan.iid_from_mac(b"\x00" * 6)


def test_link_local_ext_to_ext_compresses_to_nothing() -> None:
    frames = lowpan.udp_frames(
        src_mac=METER,
        dst_mac=DONGLE,
        pan_id=PAN,
        src_port=0xF0B1,
        dst_port=0xF0B2,
        payload=b"hi",
        seq=9,
        tag=1,
    )
    frame = mac802154.decode(frames[0])
    # IPHC 7f33: TF=11 NH=1 HLIM=11, SAM=11, DAM=11; NHC f3: both ports 4-bit
    assert frame.payload[:4] == bytes.fromhex("7f33f312")
    assert len(frame.payload) == 4 + 2 + 2
    assert frame.ack_request
    assert frame.seq == 9
    assert frame.dst_pan_id == PAN


@pytest.mark.parametrize(
    ("sport", "dport", "nhc", "inline"),
    [
        (3610, 3610, 0xF0, 4),
        (3610, 0xF012, 0xF1, 3),
        (0xF034, 3610, 0xF2, 3),
        (0xF0B0, 0xF0BF, 0xF3, 1),
        (0xF0C0, 0xF0B1, 0xF1, 3),
    ],
)
def test_nhc_udp_port_forms(sport: int, dport: int, nhc: int, inline: int) -> None:
    packet = lowpan.build_ipv6_udp(
        src_ip=lowpan.link_local(METER),
        dst_ip=lowpan.link_local(DONGLE),
        src_port=sport,
        dst_port=dport,
        payload=b"x",
    )
    data, uncompressed = lowpan.compress(packet, src_mac=METER, dst_mac=DONGLE)
    assert uncompressed == 48
    assert data[2] == nhc
    assert len(data) == 3 + inline + 2 + 1
    assert lowpan.decompress(data, src_mac=METER, dst_mac=DONGLE) == packet


def test_broadcast_defaults() -> None:
    (raw,) = lowpan.udp_frames(
        src_mac=METER,
        dst_mac=None,
        pan_id=PAN,
        src_port=3610,
        dst_port=3610,
        payload=b"ping",
        seq=0,
        tag=0,
    )
    frame = mac802154.decode(raw)
    assert frame.dst_addr == b"\xff\xff"
    assert not frame.ack_request
    got = Reassembler().feed(raw, 0.0)
    assert got == UdpDatagram(
        METER, b"\xff\xff", lowpan.link_local(METER), lowpan.ALL_NODES, 3610, 3610, b"ping", 255
    )


def test_context_compression() -> None:
    prefix = bytes.fromhex("20010db800000001")
    src, dst = prefix + lowpan.iid_from_mac(METER), prefix + bytes.fromhex("000000fffe000007")
    packet = lowpan.build_ipv6_udp(
        src_ip=src, dst_ip=dst, src_port=1, dst_port=2, payload=b"", hop_limit=64
    )
    data, _ = lowpan.compress(packet, src_mac=METER, dst_mac=b"\x00\x09", contexts={3: prefix})
    assert data[1] & 0x80
    assert data[2] == 0x33
    assert (
        lowpan.decompress(data, src_mac=METER, dst_mac=b"\x00\x09", contexts={3: prefix}) == packet
    )
    with pytest.raises(DecodeError, match="context"):
        lowpan.decompress(data, src_mac=METER, dst_mac=b"\x00\x09")


def test_udp_checksum_zero_is_sent_as_ffff_and_refused_when_zero() -> None:
    packet = lowpan.build_ipv6_udp(
        src_ip=bytes(16), dst_ip=bytes(16), src_port=0, dst_port=0, payload=b""
    )
    header, *_ = lowpan.parse_ipv6_udp(packet)
    assert header.payload_length == 8
    broken = packet[:46] + b"\x00\x00"
    with pytest.raises(DecodeError):
        lowpan.parse_ipv6_udp(broken)


# --- round trips and fuzz -------------------------------------------------------------------

macs = st.sampled_from([METER, DONGLE, b"\x00\x01", b"\xab\xcd"])


@st.composite
def unicast(draw: st.DrawFn, mac: bytes) -> bytes:
    prefix = draw(
        st.sampled_from(
            [
                lowpan.LINK_LOCAL_PREFIX,
                bytes.fromhex("20010db800000001"),
                bytes.fromhex("2400000000000abc"),
            ]
        )
    )
    iid = draw(
        st.one_of(
            st.just(lowpan.iid_from_mac(mac)),
            st.binary(min_size=8, max_size=8),
            st.binary(min_size=2, max_size=2).map(lambda s: b"\x00\x00\x00\xff\xfe\x00" + s),
        )
    )
    return draw(
        st.one_of(st.just(prefix + iid), st.just(bytes(16)), st.binary(min_size=16, max_size=16))
    )


multicast = st.one_of(
    st.binary(min_size=1, max_size=1).map(lambda b: b"\xff\x02" + bytes(13) + b),
    st.binary(min_size=4, max_size=4).map(lambda b: b"\xff" + b[:1] + bytes(11) + b[1:]),
    st.binary(min_size=6, max_size=6).map(lambda b: b"\xff" + b[:1] + bytes(9) + b[1:]),
    st.binary(min_size=15, max_size=15).map(lambda b: b"\xff" + b),
)


@st.composite
def packets(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    src_mac, dst_mac = draw(macs), draw(macs)
    src = draw(unicast(src_mac))
    dst = draw(st.one_of(unicast(dst_mac), multicast))
    payload = draw(st.binary(max_size=60))
    if draw(st.booleans()):
        packet = lowpan.build_ipv6_udp(
            src_ip=src,
            dst_ip=dst,
            src_port=draw(st.integers(0, 0xFFFF)),
            dst_port=draw(st.sampled_from([3610, 0xF0B5, 0xF022, 716])),
            payload=payload,
            hop_limit=draw(st.sampled_from([1, 64, 255, 0, 17])),
        )
    else:
        header = lowpan.Ipv6Header(
            src,
            dst,
            draw(st.sampled_from([58, 6, 0x3B, 17])),
            draw(st.integers(0, 255)),
            len(payload),
            draw(st.integers(0, 255)),
            draw(st.integers(0, 0xFFFFF)),
        )
        packet = header.encode() + payload
    return packet, src_mac, dst_mac


@given(
    packets(),
    st.dictionaries(
        st.integers(0, 15), st.sampled_from([bytes.fromhex("20010db800000001")]), max_size=2
    ),
)
def test_compress_round_trip(case: tuple[bytes, bytes, bytes], contexts: dict[int, bytes]) -> None:
    packet, src_mac, dst_mac = case
    data, _ = lowpan.compress(packet, src_mac=src_mac, dst_mac=dst_mac, contexts=contexts)
    assert len(data) <= len(packet) + 1
    assert lowpan.decompress(data, src_mac=src_mac, dst_mac=dst_mac, contexts=contexts) == packet


@given(st.binary(max_size=80), st.sampled_from([None, METER, b"\x00\x01"]))
def test_any_bytes_decompress_or_decode_error(data: bytes, mac: bytes | None) -> None:
    with contextlib.suppress(DecodeError):
        lowpan.decompress(data, src_mac=mac, dst_mac=mac, contexts={0: bytes(8)})


@given(st.binary(max_size=127))
def test_any_frame_feeds_or_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        Reassembler().feed(data, 0.0)


# --- fragmentation / reassembly (RFC 4944 section 5.3) -------------------------------------


def _frames(size: int, tag: int = 5, dst: bytes | None = DONGLE) -> list[bytes]:
    return lowpan.udp_frames(
        src_mac=METER,
        dst_mac=dst,
        pan_id=PAN,
        src_port=3610,
        dst_port=3610,
        payload=bytes(i % 253 for i in range(size)),
        seq=250,
        tag=tag,
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 1200), st.randoms(use_true_random=False), st.integers(0, 3))
def test_reassembly_any_order_with_duplicates(size: int, rnd: object, dups: int) -> None:
    import random

    assert isinstance(rnd, random.Random)
    frames = _frames(size)
    assert all(len(f) + 2 <= 127 for f in frames)
    order = frames + [rnd.choice(frames) for _ in range(dups)] if len(frames) > 1 else frames
    rnd.shuffle(order)
    r = Reassembler()
    results = [got for f in order if (got := r.feed(f, 1.0)) is not None]
    if len(frames) > 1:  # a duplicate after completion starts a new, never-finished buffer
        results = results[:1]
    assert len(results) == 1
    assert results[0].payload == bytes(i % 253 for i in range(size))
    assert results[0].src_mac == METER
    assert results[0].dst_mac == DONGLE


def test_fragment_layout() -> None:
    frames = [mac802154.decode(f) for f in _frames(300)]
    first, rest = frames[0].payload, [f.payload for f in frames[1:]]
    assert first[0] >> 3 == 0b11000
    assert rest[0][0] >> 3 == 0b11100
    size = ((first[0] & 7) << 8) | first[1]
    assert size == 40 + 8 + 300
    assert first[2:4] == b"\x00\x05"
    offsets = [p[4] * 8 for p in rest]
    assert offsets == sorted(offsets)
    assert offsets[0] > 0
    assert [f.seq for f in frames] == [(250 + i) & 0xFF for i in range(len(frames))]


def test_missing_fragment_waits_until_timeout() -> None:
    frames = _frames(400)
    r = Reassembler()
    for f in frames[:-1]:
        assert r.feed(f, 10.0) is None
    assert r.pending() == 1
    assert r.next_deadline() == 10.0 + lowpan.REASSEMBLY_TIMEOUT_S
    r.handle_timeout(69.9)
    assert r.pending() == 1
    r.handle_timeout(70.0)
    assert r.pending() == 0
    assert r.next_deadline() is None
    assert r.feed(frames[-1], 71.0) is None  # the late fragment alone completes nothing


def test_overlapping_fragment_discards_the_buffer() -> None:
    frames = _frames(400)
    r = Reassembler()
    r.feed(frames[0], 0.0)
    r.feed(frames[1], 0.0)
    frame = mac802154.decode(frames[2])
    shifted = bytearray(frame.payload)
    shifted[4] -= 1  # overlaps the previous fragment at another offset
    bad = replace(frame, payload=bytes(shifted)).encode()
    assert r.feed(bad, 0.0) is None
    assert r.pending() == 1
    for f in frames[3:]:
        assert r.feed(f, 0.0) is None  # the early fragments were thrown away
    assert r.feed(frames[0], 0.0) is None
    assert r.feed(frames[1], 0.0) is None


def test_size_mismatch_and_bounds() -> None:
    r = Reassembler(max_buffers=2)
    for tag in (1, 2, 3):
        r.feed(_frames(300, tag=tag)[0], float(tag))
    assert r.pending() == 2
    outside = bytes.fromhex("61cc") + bytes([0]) + PAN.to_bytes(2, "little") + DONGLE[::-1]
    outside += METER[::-1] + bytes.fromhex("e0640001ff") + bytes(8)
    with pytest.raises(DecodeError, match="outside"):
        r.feed(outside, 0.0)


def test_oversized_datagram_is_refused() -> None:
    with pytest.raises(EncodeError):
        _frames(2100)


def test_elided_udp_checksum_is_recomputed() -> None:
    # RFC 6282 section 4.3.3: C=1 elides the checksum; the decompressor computes it
    packet = lowpan.build_ipv6_udp(
        src_ip=lowpan.link_local(METER),
        dst_ip=lowpan.ALL_NODES,
        src_port=3610,
        dst_port=3610,
        payload=b"elided",
    )
    data, _ = lowpan.compress(packet, src_mac=METER, dst_mac=b"\xff\xff")
    nhc_at = data.index(0xF0)
    elided = data[:nhc_at] + bytes([0xF4]) + data[nhc_at + 1 : nhc_at + 5] + data[nhc_at + 7 :]
    assert lowpan.decompress(elided, src_mac=METER, dst_mac=b"\xff\xff") == packet
