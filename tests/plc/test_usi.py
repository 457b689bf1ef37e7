"""USI framing: CRCs, frame codec and the resynchronising parser.

Sources of the facts checked here:
  [PCRC] Microchip-MPLAB-Harmony/smartenergy service/pcrc/srv_pcrc.c
         (tables, Get16, Get32, Get8ForUsi)
  [USI]  Microchip-MPLAB-Harmony/smartenergy service/usi/src/srv_usi.c, srv_usi_local.h
  [NOTE] /work/shared/notes/g3plc.md section 2.1 derived frames, recomputed by hand from [USI].
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError
from smartmeter_proto.plc import usi
from smartmeter_proto.plc.usi import (
    CrcType,
    UsiFrame,
    UsiParser,
    UsiProtocol,
    crc16_usi,
    crc32_usi,
    crc_type_for,
    decode_frame,
    encode_frame,
    xor8_usi,
)

# [NOTE], checked against [USI] BuildMessage: ADP INITIALIZE (ARIB, device) and DISCOVERY 15 s.
INIT_ARIB = bytes.fromhex("7E 00 E5 0A 03 00 4D 0D 7E")
DISCOVERY_15 = bytes.fromhex("7E 00 A5 0C 0F E9 40 7E")


def test_crc16_check_value_is_augmented_form() -> None:
    assert crc16_usi(b"123456789") == 0xBEEF
    # The table-driven form without augmentation: appending two zero bytes gives the
    # CRC-16/XMODEM check value 0x31C3 (the note had this relation the other way round).
    assert crc16_usi(b"123456789\x00\x00") == 0x31C3


def test_crc16_table_matches_microchip_table_entries() -> None:
    # [PCRC] pCrcTable16: first, second, 16th and last entries.
    assert usi._T16[0] == 0x0000
    assert usi._T16[1] == 0x1021
    assert usi._T16[15] == 0xF1EF
    assert usi._T16[255] == 0x1EF0
    # [PCRC] pCrcTable32 entries.
    assert usi._T32[1] == 0x04C11DB7
    assert usi._T32[255] == 0xB1F740B4


def test_crc32_and_xor8() -> None:
    # Poly 0x04C11DB7, init 0, MSB first, no final XOR = NOT of CRC-32/POSIX check 0x765E7680.
    assert crc32_usi(b"123456789") == 0x89A1897F
    assert xor8_usi(b"\x01\x02\x04\x80") == 0x87


@pytest.mark.parametrize(
    ("protocol", "crc"),
    [
        (0x00, CrcType.CRC32),
        (0x07, CrcType.CRC32),
        (0x13, CrcType.CRC16),
        (0x1F, CrcType.CRC16),
        (0x22, CrcType.CRC16),
        (0x25, CrcType.CRC16),
        (0x26, CrcType.CRC16),
        (0x27, CrcType.XOR8),
        (0x30, CrcType.XOR8),
        (0x3F, CrcType.XOR8),
    ],
)
def test_crc_type_by_protocol(protocol: int, crc: CrcType) -> None:
    assert crc_type_for(protocol) is crc


def test_known_frames_encode_and_decode() -> None:
    init = UsiFrame(UsiProtocol.ADP_G3, bytes([0x0A, 0x03, 0x00]))
    assert encode_frame(init) == INIT_ARIB
    assert decode_frame(INIT_ARIB) == init
    disc = UsiFrame(UsiProtocol.ADP_G3, bytes([0x0C, 0x0F]))
    assert disc.encode() == DISCOVERY_15
    assert decode_frame(DISCOVERY_15) == disc


def test_header_carries_ten_bit_length() -> None:
    frame = UsiFrame(0x25, bytes(0x3FF))
    wire = frame.encode()
    assert wire[1] == 0xFF
    assert wire[2] == 0xC0 | 0x25
    assert decode_frame(wire) == frame


def test_escaping_of_delimiter_and_escape() -> None:
    wire = UsiFrame(0x25, b"\x7e\x7d").encode()
    assert b"\x7d\x5e\x7d\x5d" in wire
    assert wire.count(0x7E) == 2


def test_oversize_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 1023"):
        UsiFrame(0x25, bytes(1024))
    with pytest.raises(ValueError, match="protocol id"):
        UsiFrame(0x40, b"")


def test_decode_frame_rejects_bad_crc_escape_and_length() -> None:
    bad_crc = bytearray(INIT_ARIB)
    bad_crc[-2] ^= 1
    with pytest.raises(DecodeError, match="CRC16"):
        decode_frame(bytes(bad_crc))
    with pytest.raises(DecodeError, match="0x7D"):
        decode_frame(bytes.fromhex("7E 00 E5 7D 11 7E"))
    with pytest.raises(DecodeError, match="length"):
        decode_frame(bytes.fromhex("7E 00 E5 0A 03 4D 0D 7E"))


frames = st.builds(UsiFrame, st.integers(0, 0x3F), st.binary(max_size=80))


@given(frames)
def test_frame_round_trip(frame: UsiFrame) -> None:
    wire = frame.encode()
    assert decode_frame(wire) == frame
    assert UsiParser().feed(wire) == [frame]


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_decode_error(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except DecodeError:
        return
    assert frame.encode() == data


def _frames_only(items: list[UsiFrame | DecodeError]) -> list[UsiFrame]:
    return [x for x in items if isinstance(x, UsiFrame)]


def _feed_chunks(parser: UsiParser, data: bytes, cuts: list[int]) -> list[UsiFrame | DecodeError]:
    out: list[UsiFrame | DecodeError] = []
    start = 0
    for cut in [*sorted(set(c % (len(data) + 1) for c in cuts)), len(data)]:
        out += parser.feed(data[start:cut])
        start = cut
    return out


@given(
    st.lists(frames, min_size=1, max_size=4),
    st.binary(max_size=30),
    st.lists(st.integers(0, 10_000), max_size=8),
)
def test_parser_resyncs_after_garbage_in_any_chunking(
    good: list[UsiFrame], garbage: bytes, cuts: list[int]
) -> None:
    garbage = garbage.replace(b"\x7e", b"")
    stream = garbage + b"".join(f.encode() + garbage for f in good)
    parser = UsiParser()
    out = _feed_chunks(parser, stream, cuts)
    assert _frames_only(out) == good
    assert parser.frames_received == len(good)
    assert all(isinstance(x, (UsiFrame, DecodeError)) for x in out)


@given(frames, frames, st.integers(1, 200), st.lists(st.integers(0, 10_000), max_size=6))
def test_parser_resyncs_after_truncation_and_bad_crc(
    a: UsiFrame, b: UsiFrame, cut: int, cuts: list[int]
) -> None:
    wire_a = a.encode()
    truncated = wire_a[: 1 + cut % (len(wire_a) - 2)]  # opening 7E + partial body
    corrupt = bytearray(wire_a)
    corrupt[-2] ^= 0x01 if corrupt[-2] not in (0x7F, 0x7C) else 0x02
    stream = truncated + bytes(corrupt) + b.encode()
    parser = UsiParser()
    out = _feed_chunks(parser, stream, cuts)
    assert _frames_only(out)[-1] == b
    assert parser.frames_dropped >= 1


def test_parser_bad_escape_and_adjacent_delimiters() -> None:
    parser = UsiParser()
    out = parser.feed(bytes.fromhex("7E 00 7D 00 11") + INIT_ARIB + INIT_ARIB)
    assert isinstance(out[0], DecodeError)
    assert "0x7D" in out[0].reason
    assert _frames_only(out) == [decode_frame(INIT_ARIB)] * 2
    assert parser.frames_dropped == 1


def test_parser_bounds_its_buffer() -> None:
    parser = UsiParser(max_body=16)
    out = parser.feed(b"\x7e" + bytes(100) + INIT_ARIB)
    assert isinstance(out[0], DecodeError)
    assert "exceeds" in out[0].reason
    assert out[-1] == decode_frame(INIT_ARIB)
    assert parser.frames_dropped == 1
    assert parser.frames_received == 1
    big = UsiParser()
    out = big.feed(b"\x7e" + b"\x01" * 5000 + b"\x7e")
    assert len(big._body) == 0
    assert big.frames_dropped == 1


def test_parser_reports_leading_noise_with_offset() -> None:
    parser = UsiParser()
    out = parser.feed(b"\x00\x01\x02" + DISCOVERY_15)
    assert isinstance(out[0], DecodeError)
    assert out[0].offset == 0
    assert parser.bytes_discarded == 3
    assert out[1] == decode_frame(DISCOVERY_15)
