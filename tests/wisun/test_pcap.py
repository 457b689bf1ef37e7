"""pcap writer/reader, and a capture of our 6LoWPAN frames that tshark dissects."""

from __future__ import annotations

import contextlib
import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError
from smartmeter_proto.wisun.radio import lowpan, mac802154
from smartmeter_proto.wisun.radio.pcap import (
    LINKTYPE_IEEE802_15_4_NOFCS,
    LINKTYPE_IEEE802_15_4_WITHFCS,
    PcapWriter,
    read_pcap,
)

METER = bytes.fromhex("001C640000000001")
DONGLE = bytes.fromhex("001C640000000002")


def test_linktype_values() -> None:
    # tcpdump.org link-layer header types: 195 IEEE802_15_4_WITHFCS, 230 IEEE802_15_4_NOFCS
    assert (LINKTYPE_IEEE802_15_4_WITHFCS, LINKTYPE_IEEE802_15_4_NOFCS) == (195, 230)


def test_global_and_record_headers() -> None:
    buf = io.BytesIO()
    writer = PcapWriter(buf)
    writer.write(1_700_000_000.25, b"\x01\x02\x03")
    raw = buf.getvalue()
    assert struct.unpack_from("<IHHiIII", raw) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 230)
    assert struct.unpack_from("<IIII", raw, 24) == (1_700_000_000, 250_000, 3, 3)
    assert raw[40:] == b"\x01\x02\x03"
    assert read_pcap(raw) == [(1_700_000_000.25, b"\x01\x02\x03")]


def test_big_endian_and_nanosecond_files() -> None:
    header = struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 195)
    record = struct.pack(">IIII", 10, 500_000_000, 2, 2) + b"\xaa\xbb"
    assert read_pcap(header + record) == [(10.5, b"\xaa\xbb")]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00" * 24,
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 100, 230) + b"\x00" * 8,
        struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 100, 230)
        + struct.pack("<IIII", 0, 0, 50, 50)
        + b"\x00" * 10,
    ],
    ids=["empty", "bad-magic", "short-record", "truncated-body"],
)
def test_bad_files(data: bytes) -> None:
    with pytest.raises(DecodeError):
        read_pcap(data)


@given(
    st.lists(
        st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 999_999), st.binary(max_size=127)),
        max_size=8,
    )
)
def test_round_trip(records: list[tuple[int, int, bytes]]) -> None:
    buf = io.BytesIO()
    writer = PcapWriter(buf, LINKTYPE_IEEE802_15_4_WITHFCS)
    for seconds, micros, packet in records:
        writer.write(seconds + micros / 1e6, packet)
    got = read_pcap(buf.getvalue())
    assert [p for _, p in got] == [p for *_, p in records]
    assert [round(t * 1e6) for t, _ in got] == [s * 1_000_000 + u for s, u, _ in records]


@given(st.binary(max_size=200))
def test_any_bytes_read_or_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        read_pcap(data)


def _capture(path: Path, *, fcs: bool) -> list[bool]:
    """Writes datagrams of several sizes, unicast and broadcast, one fragmented.

    Returns, per frame, whether it completes a datagram.
    """
    linktype = LINKTYPE_IEEE802_15_4_WITHFCS if fcs else LINKTYPE_IEEE802_15_4_NOFCS
    with path.open("wb") as file:
        writer = PcapWriter(file, linktype)
        ends: list[bool] = []
        now = 1_700_000_000.0
        sizes = [(DONGLE, 12), (None, 40), (DONGLE, 90), (None, 30), (DONGLE, 300)]
        for tag, (dst, size) in enumerate(sizes):
            frames = lowpan.udp_frames(
                src_mac=METER,
                dst_mac=dst,
                pan_id=0x8123,
                src_port=3610,
                dst_port=3610,
                payload=bytes([0x10, 0x81]) + bytes(size),
                seq=tag,
                tag=tag,
            )
            for i, frame in enumerate(frames):
                if fcs:
                    frame = mac802154.decode(frame).encode(fcs=True)
                writer.write(now, frame)
                ends.append(i == len(frames) - 1)
                now += 0.01
    return ends


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("fcs", [False, True], ids=["nofcs-230", "withfcs-195"])
def test_tshark_dissects_our_frames(tmp_path: Path, fcs: bool) -> None:
    path = tmp_path / "lowpan.pcap"
    ends = _capture(path, fcs=fcs)
    assert len(ends) > 6  # the 300-byte datagram went out in fragments
    out = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "udp.checksum.status",
            "-e",
            "ipv6.src",
            "-e",
            "ipv6.dst",
            "-e",
            "udp.srcport",
            "-e",
            "wpan.fcs_ok",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert len(out) == len(ends)
    for line, complete in zip(out, ends, strict=True):
        protocols, status, src, dst, port, fcs_ok = line.split("\t")
        if fcs:
            assert fcs_ok == "1"
        if not complete:  # a fragment Wireshark holds for reassembly
            assert protocols.startswith("wpan:6lowpan")
            assert "udp" not in protocols
            continue
        assert protocols.startswith("wpan:6lowpan:ipv6:udp")
        assert status == "1"  # Wireshark: checksum good
        assert src == "fe80::21c:6400:0:1"
        assert dst in ("fe80::21c:6400:0:2", "ff02::1")
        assert port == "3610"
