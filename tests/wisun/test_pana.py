"""PANA codec (RFC 5191): real meter captures, round trips, prf+, AUTH.

Real bytes (PANA payloads of ERXUDP lines on port 716 = 0x02CC; every one is a
message the meter, as PAA, sent to the dongle):
  [WSUHA] RS-WSUHA-P / BP35C2 join, Qiita "NervesとWi-SUNドングルで自宅の消費電力を把握したい"
          (C2_PANA in tests/wisun/test_skstack.py, repeated here).
  [VKG]   vkgtaro/home_power_usage test/rl7023-stick-d-ips.test.js: the final PAR(C) an
          RL7023 Stick-D/IPS received.
  [RSNOM] Kumassy/smartmeter-exporter src/parser.rs (commit df4477a5), Rust nom SKSTACK
          parser unit test ``test_parse_erxudp_invalid_frame``: PAR(S) and PAR(C) of one
          session, given there as Rust byte-string literals.
  [GORL]  matsuu/go-el-controller wisun/rl7023_client_test.go (commit af4a067a), Go unit
          test ``Test_RL7023_Join``: a PAR carrying EAP-PSK message 3, as ERXUDP hex. The same
          bytes are in upstream u-one/go-el-controller wisun/wisun_test.go ``Test_Join``.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError
from smartmeter_proto.wisun.radio.pana import message as pana
from smartmeter_proto.wisun.radio.pana.message import (
    Avp,
    AvpCode,
    Flag,
    IntegrityAlgorithm,
    MaskedKey,
    MessageType,
    PanaMessage,
    PrfAlgorithm,
    ResultCode,
)

WSUHA = [  # [WSUHA] "LEN HEX" as printed by the dongle
    "0028 00000028C0000002136F0BFE2FDA83DC00060000000400000000000500030000000400000000000C",
    "0068 0000006880000002136F0BFE2FDA83DD000500000010000044AA92C21CDBB377DEBBEBC9B755B87D0"
    "00200000038000001E300382F007835A9A40F167C39A7A5AB6ACB3F1070534D30303030303039393032313"
    "73030303030303030303030303031393442464144",
    "0054 0000005480000002136F0BFE2FDA83DE00020000003B000001E4003B2F807835A9A40F167C39A7A5AB6ACB"
    "3F1070A69CF318ABB2DA0AC088301193DE29E2000000006852F3CB9B3291068BF82BB6863F1D2B8100",
    "0058 00000058A0000002136F0BFE2FDA83DF000700000004000000000000000200000004000003E400040004"
    "0000000400000000160100080000000400000001518000010000001000006F2356B28BAD8AE081F64840CF5B5933",
]
VKG_PAR_C = (  # [VKG]
    "00000058A0000002AB0FB498736E78FC000700000004000000000000000200000004000003AC000400040000"
    "000400000000FE010008000000040000000151800001000000100000877B491137BCABC194562415536C3E17"
)
RSNOM_PAR_S = (  # [RSNOM]
    "00000028C0000002060453078DD561BF00060000000400000000000500030000000400000000000C"
)
RSNOM_PAR_C = (  # [RSNOM]
    "00000058A0000002060453078DD561C2000700000004000000000000000200000004000003B5000400040000"
    "0004000000000701000800000004000000015180000100000010000013760124311C90D354B670203833EEE7"
)
GORL_PAR_PSK3 = (  # [GORL]
    "00000054800000021C2FF4B1D1A295AA00020000003B0000015B003B2F808A7F842BD41B4C0902258E791A8F"
    "F605914DA6E50C90EDE8ACC05E035979BA4A00000000C639CE0D16CC74349C8F6DF9FF9D6EA1D200"
)


def _wsuha(i: int) -> bytes:
    length, hexdata = WSUHA[i].split(" ")
    data = bytes.fromhex(hexdata)
    assert int(length, 16) == len(data)
    return data


def _codes(msg: PanaMessage) -> list[int]:
    return [a.code for a in msg.avps]


def test_skstack_fixture_is_the_same_capture() -> None:
    from importlib import import_module

    try:
        skstack_tests = import_module("tests.wisun.test_skstack")
    except ImportError:
        pytest.skip("tests is not importable as a package here")
    assert skstack_tests.C2_PANA == WSUHA


def test_wsuha_par_start_offers_sha256_algorithms() -> None:
    msg = pana.decode(_wsuha(0))
    assert msg.name == "PAR"
    assert msg.flags == Flag.REQUEST | Flag.START
    assert msg.message_type == MessageType.AUTH
    assert (msg.session_id, msg.sequence) == (0x136F0BFE, 0x2FDA83DC)
    assert msg.u32_list(AvpCode.PRF_ALGORITHM) == [PrfAlgorithm.PRF_HMAC_SHA2_256]
    assert msg.u32_list(AvpCode.INTEGRITY_ALGORITHM) == [IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128]


def test_wsuha_par_with_nonce_and_psk1() -> None:
    msg = pana.decode(_wsuha(1))
    assert msg.flags == Flag.REQUEST
    assert msg.sequence == 0x2FDA83DD
    assert _codes(msg) == [AvpCode.NONCE, AvpCode.EAP_PAYLOAD]
    assert len(msg.bytes_of(AvpCode.NONCE) or b"") == 16
    eap = msg.bytes_of(AvpCode.EAP_PAYLOAD) or b""
    # EAP Request (1), id 0xE3, length 56, type 47 EAP-PSK, flags T=0 (message 1)
    assert eap[:6] == bytes.fromhex("01E300382F00")
    assert len(eap) == 0x38
    id_s = eap[6 + 16 :]  # after RAND_S
    assert id_s.startswith(b"SM")
    assert len(id_s) == 34
    assert id_s[2:].isalnum()


def test_wsuha_par_with_psk3_is_padded() -> None:
    data = _wsuha(2)
    msg = pana.decode(data)
    eap = msg.bytes_of(AvpCode.EAP_PAYLOAD) or b""
    assert eap[:6] == bytes.fromhex("01E4003B2F80")  # EAP-PSK flags T=2: message 3
    assert len(eap) == 59
    assert len(data) == 16 + 8 + 59 + 1
    assert pana.encode(msg) == data


def test_wsuha_par_complete_success() -> None:
    msg = pana.decode(_wsuha(3))
    assert msg.flags == Flag.REQUEST | Flag.COMPLETE
    assert _codes(msg) == [
        AvpCode.RESULT_CODE,
        AvpCode.EAP_PAYLOAD,
        AvpCode.KEY_ID,
        AvpCode.SESSION_LIFETIME,
        AvpCode.AUTH,
    ]
    assert msg.u32(AvpCode.RESULT_CODE) == ResultCode.PANA_SUCCESS
    assert msg.bytes_of(AvpCode.EAP_PAYLOAD) == bytes.fromhex("03E40004")  # EAP-Success
    assert msg.u32(AvpCode.KEY_ID) == 0x1601
    assert msg.u32(AvpCode.SESSION_LIFETIME) == 86400
    assert len(msg.bytes_of(AvpCode.AUTH) or b"") == pana.auth_value_length(
        IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128
    )


@pytest.mark.parametrize(
    ("hexdata", "key_id"),
    [(VKG_PAR_C, 0xFE01), (RSNOM_PAR_C, 0x0701)],
)
def test_other_meters_par_complete(hexdata: str, key_id: int) -> None:
    msg = pana.decode(bytes.fromhex(hexdata))
    assert msg.name == "PAR"
    assert msg.has(Flag.COMPLETE)
    assert msg.u32(AvpCode.RESULT_CODE) == ResultCode.PANA_SUCCESS
    assert (msg.bytes_of(AvpCode.EAP_PAYLOAD) or b"")[0] == 3  # EAP-Success
    assert msg.u32(AvpCode.KEY_ID) == key_id
    assert msg.u32(AvpCode.SESSION_LIFETIME) == 86400
    assert len(msg.bytes_of(AvpCode.AUTH) or b"") == 16


def test_rsnom_session_sequence_numbers() -> None:
    start = pana.decode(bytes.fromhex(RSNOM_PAR_S))
    complete = pana.decode(bytes.fromhex(RSNOM_PAR_C))
    assert start.session_id == complete.session_id == 0x06045307
    # PAR(S), PAR(PSK-1), PAR(PSK-3), PAR(C): the PAA's sequence numbers count up by one
    assert complete.sequence - start.sequence == 3
    assert start.u32_list(AvpCode.PRF_ALGORITHM) == [5]
    assert start.u32_list(AvpCode.INTEGRITY_ALGORITHM) == [12]


def test_gorl_psk3() -> None:
    msg = pana.decode(bytes.fromhex(GORL_PAR_PSK3))
    assert msg.flags == Flag.REQUEST
    assert _codes(msg) == [AvpCode.EAP_PAYLOAD]
    assert (msg.bytes_of(AvpCode.EAP_PAYLOAD) or b"")[4:6] == bytes.fromhex("2F80")


ALL_REAL = [_wsuha(i) for i in range(4)] + [
    bytes.fromhex(h) for h in (VKG_PAR_C, RSNOM_PAR_S, RSNOM_PAR_C, GORL_PAR_PSK3)
]


@pytest.mark.parametrize("data", ALL_REAL)
def test_real_captures_round_trip(data: bytes) -> None:
    assert pana.encode(pana.decode(data)) == data


@pytest.mark.parametrize("data", ALL_REAL)
def test_every_truncation_of_a_real_message_is_a_decode_error(data: bytes) -> None:
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            pana.decode(data[:cut])


def test_malformed_inputs_name_layer_and_offset() -> None:
    good = bytearray(_wsuha(3))
    cases = {
        0: b"\x00\x01",  # reserved header field
        2: b"\x00\x57",  # message length one short of the datagram
    }
    for offset, patch in cases.items():
        bad = bytearray(good)
        bad[offset : offset + len(patch)] = patch
        with pytest.raises(DecodeError) as info:
            pana.decode(bytes(bad))
        assert info.value.layer == "pana"
        assert info.value.offset == offset
    padded = bytearray(_wsuha(2))
    padded[-1] = 1  # non-zero AVP padding
    with pytest.raises(DecodeError, match="padding"):
        pana.decode(bytes(padded))
    short_u32 = PanaMessage(0, 2, 1, 1, (Avp(AvpCode.KEY_ID, b"\x01\x02"),))
    with pytest.raises(DecodeError, match="must be 4 bytes"):
        pana.decode(pana.encode(short_u32))


def test_size_limit() -> None:
    big = PanaMessage(Flag.REQUEST, 2, 1, 1, (Avp(AvpCode.EAP_PAYLOAD, bytes(1300)),))
    data = pana.encode(big)
    with pytest.raises(DecodeError, match="limit"):
        pana.decode(data)
    assert pana.decode(data, max_size=2000) == big


def test_vendor_avp_round_trip() -> None:
    msg = PanaMessage(0, 4, 7, 9, (Avp(1, b"abc", pana.AVP_FLAG_VENDOR, 0x0000A0B1),))
    data = pana.encode(msg)
    assert len(data) == 16 + 12 + 4
    decoded = pana.decode(data)
    assert decoded == msg
    assert decoded.find(1) is None
    with pytest.raises(ValueError, match="vendor_id"):
        Avp(1, b"", pana.AVP_FLAG_VENDOR)


# ------------------------------------------------------------------ Hypothesis
_avps = st.builds(
    lambda code, value, vendor: Avp(
        code,
        value,
        pana.AVP_FLAG_VENDOR if vendor is not None else 0,
        vendor,
    ),
    st.integers(10, 0xFFFF) | st.sampled_from([AvpCode.EAP_PAYLOAD, AvpCode.NONCE, AvpCode.AUTH]),
    st.binary(max_size=40),
    st.none() | st.integers(0, 0xFFFFFFFF),
) | st.builds(
    Avp.u32,
    st.sampled_from(sorted(pana._U32_CODES)),
    st.integers(0, 0xFFFFFFFF),
)
_messages = st.builds(
    PanaMessage,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.integers(0, 0xFFFFFFFF),
    st.lists(_avps, max_size=6).map(tuple),
)


@given(_messages)
def test_message_round_trip(msg: PanaMessage) -> None:
    data = pana.encode(msg)
    assert pana.decode(data) == msg
    assert len(data) % 4 == 0


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_decode_error(data: bytes) -> None:
    try:
        msg = pana.decode(data)
    except DecodeError:
        return
    assert pana.encode(msg) == data


@given(st.sampled_from(ALL_REAL), st.integers(0, 10_000), st.integers(1, 255))
def test_mutated_real_messages_decode_or_decode_error(data: bytes, at: int, xor: int) -> None:
    bad = bytearray(data)
    bad[at % len(bad)] ^= xor
    try:
        msg = pana.decode(bytes(bad))
    except DecodeError:
        return
    assert pana.encode(msg) == bytes(bad)


# ------------------------------------------------------------------ crypto
@pytest.mark.parametrize(
    ("prf", "algorithm"),
    [
        (PrfAlgorithm.PRF_HMAC_SHA1, hashes.SHA1()),
        (PrfAlgorithm.PRF_HMAC_SHA2_256, hashes.SHA256()),
    ],
)
@pytest.mark.parametrize("length", [1, 20, 32, 33, 64, 100])
def test_prf_plus_matches_hkdf_expand(
    prf: PrfAlgorithm, algorithm: hashes.HashAlgorithm, length: int
) -> None:
    # RFC 4306 prf+ (T1 = prf(K, S|0x01), Tn = prf(K, Tn-1|S|n)) has the shape of
    # RFC 5869 HKDF-Expand with PRK = K and info = S: an independent implementation.
    key, seed = b"k" * 64, b"IETF PANA" + bytes(range(50))
    expected = HKDFExpand(algorithm, length, seed).derive(key)
    assert pana.prf_plus(prf, key, seed, length) == expected


def test_derive_auth_key_inputs_and_lengths() -> None:
    msk = bytes(range(64))
    i_par, i_pan = _wsuha(0), b"\x00" * 40
    args = (msk, i_par, i_pan, b"N" * 16, b"M" * 16, 0x1601)
    key = pana.derive_auth_key(5, 12, *args)
    seed = b"IETF PANA" + i_par + i_pan + b"N" * 16 + b"M" * 16 + bytes.fromhex("00001601")
    t1 = hmac.new(msk, seed + b"\x01", hashlib.sha256).digest()
    assert key.reveal() == t1
    assert len(key) == 32
    assert len(pana.derive_auth_key(2, 7, *args)) == 20
    assert pana.derive_auth_key(5, 12, *args[:-1], 0x1602) != key


@pytest.mark.parametrize("integrity", [7, 12])
def test_sign_and_verify(integrity: int) -> None:
    key = MaskedKey(b"K" * pana.auth_key_length(integrity))
    msg = PanaMessage(Flag.REQUEST | Flag.PING, 4, 0x1234, 77)
    data = pana.sign(msg, integrity, key)
    decoded = pana.decode(data)
    assert decoded.avps[-1].code == AvpCode.AUTH
    assert len(decoded.avps[-1].value) == pana.auth_value_length(integrity)
    assert pana.verify(decoded, integrity, key)
    assert not pana.verify(decoded, integrity, MaskedKey(b"L" * len(key)))
    assert not pana.verify(msg, integrity, key)  # no AUTH at all
    blank = bytearray(data)
    blank[-len(decoded.avps[-1].value) :] = bytes(len(decoded.avps[-1].value))
    digest = hashlib.sha1 if integrity == 7 else hashlib.sha256
    expected = hmac.new(key.reveal(), bytes(blank), digest).digest()
    assert decoded.avps[-1].value == expected[: pana.auth_value_length(integrity)]
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            other = pana.decode(bytes(flipped))
        except DecodeError:
            continue
        assert not pana.verify(other, integrity, key)


def test_masked_key_never_shows_bytes() -> None:
    key = MaskedKey(b"\x13\x37" * 16)
    assert "1337" not in repr(key)
    assert "\\x13" not in repr(key)
    assert "32 bytes" in repr(key)
    assert key == MaskedKey(b"\x13\x37" * 16)
    assert key != MaskedKey(bytes(32))
