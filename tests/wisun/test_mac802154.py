"""IEEE 802.15.4 MAC frames: published frames, Annex C CCM* vectors, round trips, fuzz."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError, EncodeError
from smartmeter_proto.wisun.radio import mac802154 as mac
from smartmeter_proto.wisun.radio.mac802154 import (
    AuxSecurityHeader,
    FrameType,
    FrameVersion,
    MacFrame,
    SecurityLevel,
)

# --- IEEE 802.15.4 Annex C (2006 / 2011) CCM* examples -------------------------------
# Key C0..CF, sender ACDE480000000001, frame counter 5. Bytes as published in:
# C.2.1 beacon (MIC-64) and C.2.3 command (ENC-MIC-64): OpenThread tests/unit/test_aes.cpp
# (TestMacBeaconFrame, TestMacCommandFrame); C.2.2 data frame (ENC): GNU Nettle
# testsuite/ccm-test.c ("C.2.2 MAC data frame"), also in Contiki/ASF CCM* tests.
KEY = bytes(range(0xC0, 0xD0))
SENDER = bytes.fromhex("ACDE480000000001")
BEACON_CLEAR = bytes.fromhex("08D084214301000000 0048DEAC02050000 0055CF000051525354")
BEACON_SECURED = BEACON_CLEAR + bytes.fromhex("223BC1EC841AB553")
DATA_CLEAR = bytes.fromhex("69DC8421430200000000 48DEAC01000000 0048DEAC0405000000 61626364")
DATA_SECURED = DATA_CLEAR[:-4] + bytes.fromhex("D43E022B")
CMD_CLEAR = bytes.fromhex("2BDC842143020000000048DEACFFFF0100000000 48DEAC060500000001CE")
CMD_SECURED = CMD_CLEAR[:-1] + bytes.fromhex("D84FDE529061F9C6F1")


@pytest.mark.parametrize(
    ("clear", "secured", "level", "clear_payload"),
    [
        (BEACON_CLEAR, BEACON_SECURED, SecurityLevel.MIC_64, bytes.fromhex("55CF000051525354")),
        (DATA_CLEAR, DATA_SECURED, SecurityLevel.ENC, b"abcd"),
        (CMD_CLEAR, CMD_SECURED, SecurityLevel.ENC_MIC_64, bytes.fromhex("01CE")),
    ],
    ids=["C.2.1-beacon", "C.2.2-data", "C.2.3-command"],
)
def test_annex_c_vectors(clear: bytes, secured: bytes, level: int, clear_payload: bytes) -> None:
    frame = mac.decode(secured)
    assert frame.security is not None
    assert frame.security.security_level == level
    assert frame.security.frame_counter == 5
    assert frame.src_addr == SENDER
    opened = mac.unprotect(frame, KEY)
    assert opened.payload == clear_payload
    assert opened.encode() == clear
    assert mac.protect(mac.decode(clear), KEY).encode() == secured


def test_annex_c_data_frame_fields() -> None:
    frame = mac.decode(DATA_SECURED)
    assert frame.frame_type == FrameType.DATA
    assert frame.seq == 0x84
    assert frame.dst_pan_id == 0x4321
    assert frame.dst_addr == bytes.fromhex("ACDE480000000002")
    assert frame.src_pan_id is None
    assert frame.pan_id_compression
    assert frame.frame_version == FrameVersion.V2006
    assert frame.security == AuxSecurityHeader(SecurityLevel.ENC, frame_counter=5)


def test_tampered_mic_is_a_decode_error_without_the_key() -> None:
    bad = CMD_SECURED[:-1] + bytes([CMD_SECURED[-1] ^ 1])
    with pytest.raises(DecodeError) as err:
        mac.unprotect(mac.decode(bad), KEY)
    assert KEY.hex() not in str(err.value)
    assert "MIC" in err.value.reason
    with pytest.raises(DecodeError):
        mac.unprotect(mac.decode(BEACON_SECURED), bytes(16))


def test_short_source_needs_the_extended_address() -> None:
    frame = mac.data_frame(src_addr=b"\x00\x01", dst_addr=None, pan_id=1, seq=0, payload=b"x")
    frame = replace(frame, security=AuxSecurityHeader(5, frame_counter=9))
    with pytest.raises(ValueError, match="extended"):
        mac.protect(frame, KEY)
    sealed = mac.protect(frame, KEY, src_ext=SENDER)
    assert len(sealed.payload) == 1 + 4
    assert mac.unprotect(sealed, KEY, src_ext=SENDER).payload == b"x"


# --- frames with FCS from scapy test/scapy/layers/dot15d4.uts ------------------------
# (secdev/scapy, commit 1aa128691a4d3e74962d0780aa8fdded4938077d)

SCAPY_BEACON = (
    b'\x00\x80\x89\xaa\x99\x00\x00\xff\xcf\x00\x00\x00"\x84\xfe\xca\xef\xbe\xed\xfe\xce\xfa'
    b"\xff\xff\xff\x00X\xa4"
)
SCAPY_REALIGN = (
    b'#\xcc\x89\xff\xff\x88wfUD3"\x11\xaa\x99\xff\xee\xdd\xcc\xbb\xaa\x99\x88\x08\xaa\x99'
    b"\xde\xc0\x14\xad\xde\\!"
)
# "Advanced packets": HTTP over 6LoWPAN, extended addresses, PAN ID compression, FCS 0x16c1
SCAPY_IPHC = bytes.fromhex(
    "41ccb5cdab161514feff1312025544 33feff221102 78f6000680000100 50c4fa000001f789f3025f"
    "501804c448280000436f6e74656e742d747970653a20746578742f6373730d0a0d0ac116"
)
# RPL DIO carried in ZEP2 ("Compressed SixLoWPAN - real packets with ZEP2"), FCS 0x466c
SCAPY_DIO = bytes.fromhex(
    "418855aa1bffff66557b3b3a1a9b01754500f1035a8bf00000fd00000000000000000000fffe0011226c46"
)


def test_scapy_beacon() -> None:
    frame = mac.decode(SCAPY_BEACON, fcs=True)
    assert frame.frame_type == FrameType.BEACON
    assert frame.seq == 137
    assert frame.frame_version == FrameVersion.V2003
    assert frame.dst_addr is None
    assert frame.src_pan_id == 0x99AA
    assert frame.src_addr == b"\x00\x00"
    assert frame.payload[:2] == b"\xff\xcf"  # superframe spec: BO=SO=15, coordinator, assoc
    assert frame.encode(fcs=True) == SCAPY_BEACON
    assert mac.crc16_kermit(SCAPY_BEACON[:-2]) == 0xA458


def test_scapy_coordinator_realignment() -> None:
    frame = mac.decode(SCAPY_REALIGN, fcs=True)
    assert frame.frame_type == FrameType.COMMAND
    assert frame.ack_request
    assert frame.dst_pan_id == 0xFFFF
    assert frame.src_pan_id == 0x99AA
    assert frame.dst_addr == bytes.fromhex("1122334455667788")
    assert frame.src_addr == bytes.fromhex("8899aabbccddeeff")
    assert frame.payload[0] == 0x08  # coordinator realignment command
    assert frame.encode(fcs=True) == SCAPY_REALIGN


@pytest.mark.parametrize("raw", [SCAPY_IPHC, SCAPY_DIO], ids=["iphc-ext", "dio-short"])
def test_scapy_data_frames(raw: bytes) -> None:
    frame = mac.decode(raw, fcs=True)
    assert frame.frame_type == FrameType.DATA
    assert frame.pan_id_compression
    assert frame.src_pan_id is None
    assert frame.encode(fcs=True) == raw


def test_scapy_ext_addresses_read_msb_first() -> None:
    frame = mac.decode(SCAPY_IPHC, fcs=True)
    assert frame.dst_pan_id == 0xABCD
    assert frame.seq == 0xB5
    assert frame.dst_addr == bytes.fromhex("021213fffe141516")
    assert frame.src_addr == bytes.fromhex("021122fffe334455")


def test_fcs_mismatch_and_short_input() -> None:
    with pytest.raises(DecodeError, match="FCS"):
        mac.decode(SCAPY_BEACON[:-1] + b"\x00", fcs=True)
    with pytest.raises(DecodeError):
        mac.decode(b"\x41", fcs=True)
    with pytest.raises(DecodeError):
        mac.decode(b"\x41\x88")  # sequence number missing


def test_ack_frame() -> None:
    frame = mac.decode(b"\x02\x00\x2a")
    assert frame.frame_type == FrameType.ACK
    assert frame.seq == 42
    assert frame.payload == b""
    assert frame.dst_addr is None
    assert frame.src_addr is None


def test_reserved_addressing_mode() -> None:
    with pytest.raises(DecodeError, match="reserved"):
        mac.decode(bytes([0x41, 0x04, 0]) + bytes(8))


def test_2015_pan_id_rules_and_suppressions() -> None:
    # ext/ext with PAN ID compression: no PAN ID at all (802.15.4-2015 table 7-2)
    frame = MacFrame(
        FrameType.DATA,
        None,
        dst_addr=bytes(8),
        src_addr=bytes(range(8)),
        pan_id_compression=True,
        frame_version=FrameVersion.V2015,
        payload=b"\x01",
    )
    raw = frame.encode()
    assert raw[:2] == (0x1 | 0x40 | 0x100 | (3 << 10) | (2 << 12) | (3 << 14)).to_bytes(2, "little")
    assert len(raw) == 2 + 16 + 1
    assert mac.decode(raw) == frame
    short = MacFrame(
        FrameType.DATA,
        1,
        dst_pan_id=7,
        dst_addr=b"\x00\x02",
        src_pan_id=8,
        src_addr=b"\x00\x03",
        frame_version=FrameVersion.V2015,
    )
    assert mac.decode(short.encode()) == short


# Fuzz find (diff_lowpan): a version 1 data frame with frame control bit 8 set.
LEGACY_SEQ_BIT = bytes.fromhex(
    "411bffff66557b3b3a018600be8740000708000000000000000001015566000000002103000000000001fd"
    "00000000000000000000fffe001122030440d8ffffffffffffffff00"
)


def test_seq_suppression_bit_is_reserved_before_version_2() -> None:
    # 802.15.4-2006 section 7.2.1.1 (figure 41): bits 7-9 reserved, ignored on receipt;
    # 802.15.4-2015 section 7.2.2.10: suppression only for frame version 0b10.
    frame = mac.decode(LEGACY_SEQ_BIT)
    assert frame.frame_version == FrameVersion.V2006
    assert frame.seq == 0xFF
    assert frame.fcf_reserved_seq
    assert (frame.dst_pan_id, frame.dst_addr, frame.src_addr) == (0x66FF, b"\x7b\x55", None)
    assert frame.encode() == LEGACY_SEQ_BIT
    # the same bit in a version 2 frame does suppress it
    v2 = mac.decode(bytes([0x41, 0x29 | 0x01]) + bytes(4))
    assert v2.seq is None
    assert not v2.fcf_reserved_seq
    with pytest.raises(EncodeError, match="sequence number"):
        MacFrame(FrameType.DATA, None, dst_pan_id=1, dst_addr=b"\x00\x01").encode()
    with pytest.raises(EncodeError, match="fcf_reserved_seq"):
        replace(v2, fcf_reserved_seq=True).encode()


def test_encode_checks_pan_presence() -> None:
    with pytest.raises(EncodeError, match="src_pan_id"):
        MacFrame(
            FrameType.DATA,
            0,
            dst_pan_id=1,
            dst_addr=b"\x00\x01",
            src_addr=b"\x00\x02",
            src_pan_id=1,
            pan_id_compression=True,
        ).encode()
    with pytest.raises(EncodeError):
        MacFrame(FrameType.DATA, 0, dst_addr=b"\x00\x01").encode()


def test_security_header_key_modes() -> None:
    for mode, source in ((1, b""), (2, b"\x01\x02\x03\x04"), (3, bytes(range(8)))):
        sec = AuxSecurityHeader(6, mode, 0x01020304, source, 0x7E)
        frame = MacFrame(
            FrameType.DATA,
            3,
            dst_pan_id=1,
            dst_addr=b"\xff\xff",
            src_addr=SENDER,
            pan_id_compression=True,
            security=sec,
            payload=b"z",
        )
        assert mac.decode(frame.encode()) == frame
        sealed = mac.protect(frame, KEY)
        assert mac.unprotect(mac.decode(sealed.encode()), KEY) == frame


# --- properties ------------------------------------------------------------------------

addresses = st.one_of(
    st.none(), st.binary(min_size=2, max_size=2), st.binary(min_size=8, max_size=8)
)


@st.composite
def frames(draw: st.DrawFn) -> MacFrame:
    version = draw(st.sampled_from([0, 1, 2]))
    dst, src = draw(addresses), draw(addresses)
    comp = draw(st.booleans())
    dst_mode, src_mode = mac._mode_of(dst), mac._mode_of(src)
    if version < 2 and comp and (dst is None or src is None):
        comp = False  # 2006: compression only with both addresses (section 7.2.1.1.5)
    has_dst_pan, has_src_pan = mac._pan_presence(version, dst_mode, src_mode, comp)
    pan = st.integers(0, 0xFFFF)
    seqs = st.integers(0, 255)
    security = None
    if draw(st.booleans()):
        mode = draw(st.integers(0, 3))
        security = AuxSecurityHeader(
            draw(st.integers(1, 7)),
            mode,
            draw(st.integers(0, 2**32 - 1)),
            draw(st.binary(min_size=mac._KEY_SOURCE_LEN[mode], max_size=mac._KEY_SOURCE_LEN[mode])),
            None if mode == 0 else draw(st.integers(0, 255)),
        )
    return MacFrame(
        frame_type=draw(st.sampled_from(list(FrameType))),
        # sequence number suppression exists in version 2 only (802.15.4-2015 7.2.2.10)
        seq=draw(st.one_of(st.none(), seqs) if version == 2 else seqs),
        dst_pan_id=draw(pan) if has_dst_pan else None,
        dst_addr=dst,
        src_pan_id=draw(pan) if has_src_pan else None,
        src_addr=src,
        payload=draw(st.binary(max_size=40)),
        security=security,
        frame_pending=draw(st.booleans()),
        ack_request=draw(st.booleans()),
        pan_id_compression=comp,
        frame_version=FrameVersion(version),
    )


@given(frames(), st.booleans())
def test_round_trip_frames(frame: MacFrame, fcs: bool) -> None:
    assert mac.decode(frame.encode(fcs=fcs), fcs=fcs) == frame


@given(st.binary(max_size=64), st.booleans())
def test_any_bytes_decode_or_decode_error(data: bytes, fcs: bool) -> None:
    try:
        frame = mac.decode(data, fcs=fcs)
    except DecodeError:
        return
    assert frame.encode(fcs=fcs) == data


@given(st.binary(min_size=1, max_size=40), st.integers(0, 2**32 - 1), st.integers(1, 7))
def test_protect_round_trip(payload: bytes, counter: int, level: int) -> None:
    frame = MacFrame(
        FrameType.DATA,
        1,
        dst_pan_id=0x1234,
        dst_addr=b"\xff\xff",
        src_addr=SENDER,
        pan_id_compression=True,
        payload=payload,
        security=AuxSecurityHeader(level, frame_counter=counter),
    )
    sealed = mac.protect(frame, KEY)
    assert len(sealed.payload) == len(payload) + sealed.security.mic_len  # type: ignore[union-attr]
    assert mac.unprotect(mac.decode(sealed.encode()), KEY) == frame
