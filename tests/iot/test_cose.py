"""COSE_Encrypt0 / COSE_Mac0 protection of the IoT route (``smartmeter_proto.iot.cose``).

Published vectors, each checked byte-exact both ways (open them, then produce them again):

* cose-wg/Examples ``aes-ccm-examples/aes-ccm-enc-01.json`` (Encrypt0, alg 10, full IV) and
  ``hmac-examples/HMac-enc-05.json`` (Mac0, alg 4), with their ``intermediates`` (AAD_hex,
  ToMac_hex) for the Enc_structure / MAC_structure.
* RFC 9052 Appendix C.4.1 (Encrypt0, alg 10, full IV) and C.4.2 (Encrypt0, alg 10, Partial IV
  with Base IV h'89f52f65a1c58093' -> nonce h'89f52f65a1c5809300000061a7'), key
  h'849b5786457c1491be3a76dcea6c4271'.
* RFC 8392 Appendix A.4 (MACed CWT: a Mac0 with alg 4 inside CWT tag 61) and A.5 (encrypted
  CWT: an Encrypt0 with alg 10), keys from RFC 8392 A.2.1 / A.2.2.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, Final

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.errors import AuthError, DecodeError
from smartmeter_proto.iot.cose import (
    CCM_NONCE_LENGTH,
    MAX_SEQ,
    Algorithm,
    HeaderLabel,
    Opened,
    ReplayWindow,
    build_external_aad,
    decode_encrypt0,
    decode_mac0,
    decrypt_encrypt0,
    enc_structure,
    encrypt0,
    mac0,
    mac_structure,
    nonce_from_partial_iv,
    open_encrypt0,
    open_mac0,
    partial_iv_from_seq,
    protect_encrypt0,
    protect_mac0,
    seq_from_partial_iv,
    verify_mac0,
)

CONTENT: Final = b"This is the content."

# cose-wg/Examples aes-ccm-examples/aes-ccm-enc-01.json: "Encrypt w/ AES-CCM 16-128/64".
# The current (RFC) version ends in tag h'E7C51BDBC1B320EA', as quoted by the hotplace (C++) and
# a Go COSE test suite; an older draft-era revision of the file, authenticated under the
# context "Encrypt1", ends in h'CBE82C6D0DC0033B' and must fail.
EX_CCM_KEY: Final = bytes.fromhex("849B57219DAE48DE646D07DBB533566E")
EX_CCM_IV: Final = bytes.fromhex("89F52F65A1C580933B5261A72F")
EX_CCM: Final = bytes.fromhex(
    "D08343A1010AA1054D89F52F65A1C580933B5261A72F581C6899DA0A132BD2D2"
    "B9B10915743EE1F7B92A4680E7C51BDBC1B320EA"
)
EX_CCM_DRAFT: Final = bytes.fromhex(
    "D08343A1010AA1054D89F52F65A1C580933B5261A72F581C6899DA0A132BD2D2"
    "B9B10915743EE1F7B92A4680CBE82C6D0DC0033B"
)
# RFC 9052 Appendix C.4.1 and C.4.2 (same content and key, "our-secret2" of C.7).
RFC_C4_KEY: Final = bytes.fromhex("849b5786457c1491be3a76dcea6c4271")
RFC_C41_IV: Final = bytes.fromhex("89f52f65a1c580933b5261a78c")
RFC_C41: Final = bytes.fromhex(
    "d08343a1010aa1054d89f52f65a1c580933b5261a78c581c5974e1b99a3a4cc0"
    "9a659aa2e9e7fff161d38ce71cb45ce460ffb569"
)
RFC_C42_BASE_IV: Final = bytes.fromhex("89f52f65a1c58093")
RFC_C42_NONCE: Final = bytes.fromhex("89f52f65a1c5809300000061a7")
RFC_C42: Final = bytes.fromhex(
    "d08343a1010aa1064261a7581c252a8911d465c125b6764739700f0141ed09192de139e053bd09abca"
)
# RFC 8392 Appendix A.5 (encrypted CWT) with the A.2.1 key "Symmetric128".
RFC8392_KEY128: Final = bytes.fromhex("231f4c4d4d3051fdc2ec0a3851d5b383")
RFC8392_A5: Final = bytes.fromhex(
    "d08343a1010aa2044c53796d6d6574726963313238054d99a0d7846e762c49ff"
    "e8a63e0b5858b918a11fd81e438b7f973d9e2e119bcb22424ba0f38a80f27562"
    "f400ee1d0d6c0fdb559c02421fd384fc2ebe22d7071378b0ea7428fff157444d"
    "45f7e6afcda1aae5f6495830c58627087fc5b4974f319a8707a635dd643b"
)
# The CWT claims set of RFC 8392 A.1 (iss, sub, aud, exp, nbf, iat, cti).
RFC8392_CLAIMS: Final = bytes.fromhex(
    "a70175636f61703a2f2f61732e6578616d706c652e636f6d02656572696b7703"
    "7818636f61703a2f2f6c696768742e6578616d706c652e636f6d041a5612aeb0"
    "051a5610d9f0061a5610d9f007420b71"
)
# cose-wg/Examples hmac-examples/HMac-enc-05.json: "Direct key + HMAC-SHA256/64".
EX_HMAC_KEY: Final = bytes.fromhex(
    "849B57219DAE48DE646D07DBB533566E976686457C1491BE3A76DCEA6C427188"
)
EX_HMAC_TO_MAC: Final = bytes.fromhex(
    "84644D41433043A101044054546869732069732074686520636F6E74656E742E"
)
EX_HMAC: Final = bytes.fromhex(
    "D18443A10104A054546869732069732074686520636F6E74656E742E4811F9E357975FB849"
)
# RFC 8392 Appendix A.4 (MACed CWT, CWT tag 61 around a Mac0) with the A.2.2 key.
RFC8392_KEY256: Final = bytes.fromhex(
    "403697de87af64611c1d32a05dab0fe1fcb715a86ab435f1ec99192d79569388"
)
RFC8392_A4: Final = bytes.fromhex(
    "d83dd18443a10104a1044c53796d6d65747269633235365850a70175636f6170"
    "3a2f2f61732e6578616d706c652e636f6d02656572696b77037818636f61703a"
    "2f2f6c696768742e6578616d706c652e636f6d041a5612aeb0051a5610d9f006"
    "1a5610d9f007420b7148093101ef6d789200"
)
# cose-wg/Examples hmac-examples/HMac-enc-01.json (alg 5, HMAC 256/256) and
# aes-ccm-examples/aes-ccm-enc-05.json (alg 11): valid COSE, wrong algorithm for us.
EX_HMAC_256_256: Final = bytes.fromhex(
    "D18443A10105A054546869732069732074686520636F6E74656E742E5820A1A848D3471F9D61EE49018D24"
    "4C824772F223AD4F935293F1789FC3A08D8C58"
)
EX_CCM_ALG11: Final = bytes.fromhex(
    "D08343A1010BA1054D89F52F65A1C580933B5261A72F581C28B3BDDFF844A736C5F0EE0F8C691FD0B7ADF9"
    "177F13D284E84FFB70"
)

# Profile fixtures (our own, not a published vector).
KEY: Final = bytes(range(0x10, 0x20))
MAC_KEY: Final = bytes(range(0x40, 0x60))
KID: Final = b"gas-0001"
COMMON_IV: Final = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d")
METER: Final = "JP-GAS-000123"
ROUTE: Final = "iot"


def aad_for(kid: bytes, seq: int) -> bytes:
    assert kid == KID
    return build_external_aad(METER, ROUTE, seq)


def sealed(seq: int = 7, payload: bytes = b"\xa1\x00\x18\x2a") -> bytes:
    return protect_encrypt0(
        payload, key=KEY, kid=KID, common_iv=COMMON_IV, seq=seq, external_aad=aad_for(KID, seq)
    )


def maced(seq: int = 7, payload: bytes = b"\xa1\x00\x18\x2a") -> bytes:
    return protect_mac0(payload, key=MAC_KEY, kid=KID, seq=seq, external_aad=aad_for(KID, seq))


def open_sealed(data: bytes, keys: dict[bytes, bytes] | None = None) -> Opened:
    return open_encrypt0(
        data, keys_by_kid=keys or {KID: KEY}, common_iv=COMMON_IV, external_aad_for=aad_for
    )


def open_maced(data: bytes, keys: dict[bytes, bytes] | None = None) -> Opened:
    return open_mac0(data, keys_by_kid=keys or {KID: MAC_KEY}, external_aad_for=aad_for)


# --------------------------------------------------------------------------- published vectors


def test_enc_structure_context_is_encrypt0() -> None:
    assert enc_structure(b"\xa1\x01\x0a", b"\x01") == b"\x83\x68Encrypt0\x43\xa1\x01\x0a\x41\x01"


def test_mac_structure_matches_examples_intermediate() -> None:
    assert mac_structure(bytes.fromhex("a10104"), b"", CONTENT) == EX_HMAC_TO_MAC


@pytest.mark.parametrize(
    ("data", "key", "iv", "unprotected", "plaintext"),
    [
        pytest.param(EX_CCM, EX_CCM_KEY, EX_CCM_IV, {5: EX_CCM_IV}, CONTENT, id="aes-ccm-enc-01"),
        pytest.param(RFC_C41, RFC_C4_KEY, RFC_C41_IV, {5: RFC_C41_IV}, CONTENT, id="rfc9052-c41"),
        pytest.param(
            RFC8392_A5,
            RFC8392_KEY128,
            bytes.fromhex("99a0d7846e762c49ffe8a63e0b"),
            {4: b"Symmetric128", 5: bytes.fromhex("99a0d7846e762c49ffe8a63e0b")},
            RFC8392_CLAIMS,
            id="rfc8392-a5",
        ),
    ],
)
def test_encrypt0_vectors_open_and_reproduce(
    data: bytes, key: bytes, iv: bytes, unprotected: dict[int, bytes], plaintext: bytes
) -> None:
    message = decode_encrypt0(data)
    assert message.alg == Algorithm.AES_CCM_16_64_128
    assert message.iv == iv
    assert message.partial_iv is None
    assert message.kid == unprotected.get(4)
    assert decrypt_encrypt0(message, key=key, nonce=iv) == plaintext
    assert encrypt0(plaintext, key=key, nonce=iv, unprotected=unprotected) == data


def test_rfc9052_c42_partial_iv_nonce_construction() -> None:
    message = decode_encrypt0(RFC_C42)
    assert message.partial_iv == b"\x61\xa7"
    assert seq_from_partial_iv(message.partial_iv) == 0x61A7
    assert partial_iv_from_seq(0x61A7) == b"\x61\xa7"
    common_iv = RFC_C42_BASE_IV.ljust(CCM_NONCE_LENGTH, b"\x00")
    nonce = nonce_from_partial_iv(common_iv, message.partial_iv)
    assert nonce == RFC_C42_NONCE
    assert decrypt_encrypt0(message, key=RFC_C4_KEY, nonce=nonce) == CONTENT
    reproduced = encrypt0(CONTENT, key=RFC_C4_KEY, nonce=nonce, unprotected={6: b"\x61\xa7"})
    assert reproduced == RFC_C42


@pytest.mark.parametrize(
    ("data", "key", "kid", "payload"),
    [
        pytest.param(EX_HMAC, EX_HMAC_KEY, None, CONTENT, id="HMac-enc-05"),
        pytest.param(RFC8392_A4[2:], RFC8392_KEY256, b"Symmetric256", RFC8392_CLAIMS, id="a4"),
    ],
)
def test_mac0_vectors_verify_and_reproduce(
    data: bytes, key: bytes, kid: bytes | None, payload: bytes
) -> None:
    message = decode_mac0(data)
    assert message.alg == Algorithm.HMAC_256_64
    assert message.kid == kid
    assert message.payload == payload
    verify_mac0(message, key=key)
    unprotected = {} if kid is None else {4: kid}
    assert mac0(payload, key=key, unprotected=unprotected) == data


def test_rfc8392_a4_is_wrapped_in_cwt_tag_61() -> None:
    # RFC 8392 §6: the CWT tag (61) precedes the COSE tag; we take the Mac0 inside.
    assert RFC8392_A4[:2] == b"\xd8\x3d"
    with pytest.raises(DecodeError, match="expected CBOR tag 17"):
        decode_mac0(RFC8392_A4)


def test_vectors_fail_with_wrong_key_or_tampered_tag() -> None:
    with pytest.raises(AuthError):  # draft-era "Encrypt1" revision of aes-ccm-enc-01
        decrypt_encrypt0(decode_encrypt0(EX_CCM_DRAFT), key=EX_CCM_KEY, nonce=EX_CCM_IV)
    with pytest.raises(AuthError):
        decrypt_encrypt0(decode_encrypt0(RFC_C41), key=EX_CCM_KEY, nonce=RFC_C41_IV)
    tampered = EX_HMAC[:-1] + bytes([EX_HMAC[-1] ^ 1])
    with pytest.raises(AuthError):
        verify_mac0(decode_mac0(tampered), key=EX_HMAC_KEY)
    with pytest.raises(AuthError):
        verify_mac0(decode_mac0(EX_HMAC), key=EX_HMAC_KEY, external_aad=b"\x00")


@pytest.mark.parametrize(
    ("data", "decoder", "reason"),
    [
        (EX_HMAC_256_256, decode_mac0, "algorithm 5, expected 4"),
        (EX_CCM_ALG11, decode_encrypt0, "algorithm 11, expected 10"),
        (EX_HMAC, decode_encrypt0, "expected CBOR tag 16"),
        (EX_CCM, decode_mac0, "expected CBOR tag 17"),
    ],
)
def test_published_messages_with_wrong_alg_or_tag(
    data: bytes, decoder: Callable[[bytes], object], reason: str
) -> None:
    with pytest.raises(DecodeError, match=reason) as info:
        decoder(data)
    assert info.value.layer == "cose"


# --------------------------------------------------------------------------- profile


def test_protect_encrypt0_layout() -> None:
    data = sealed(seq=0x1234)
    item = cbor2.loads(data)
    assert item.tag == 16
    protected, unprotected, ciphertext = item.value
    assert protected == b"\xa1\x01\x0a"
    assert unprotected == {HeaderLabel.KID: KID, HeaderLabel.PARTIAL_IV: b"\x12\x34"}
    assert len(ciphertext) == 4 + 8
    assert open_sealed(data) == Opened(KID, 0x1234, b"\xa1\x00\x18\x2a")


def test_protect_mac0_layout() -> None:
    data = maced(seq=0)
    item = cbor2.loads(data)
    assert item.tag == 17
    protected, unprotected, payload, tag = item.value
    assert protected == b"\xa1\x01\x04"
    assert unprotected == {4: KID, 6: b"\x00"}
    assert payload == b"\xa1\x00\x18\x2a"
    assert len(tag) == 8
    assert open_maced(data) == (KID, 0, b"\xa1\x00\x18\x2a")


def test_external_aad_is_cbor_of_meter_route_seq() -> None:
    assert cbor2.loads(build_external_aad(METER, ROUTE, 9)) == [METER, ROUTE, 9]


@pytest.mark.parametrize(
    ("seq", "piv"),
    [(0, b"\x00"), (1, b"\x01"), (255, b"\xff"), (256, b"\x01\x00"), (MAX_SEQ, b"\xff" * 5)],
)
def test_partial_iv_encoding(seq: int, piv: bytes) -> None:
    assert partial_iv_from_seq(seq) == piv
    assert seq_from_partial_iv(piv) == seq


@pytest.mark.parametrize("piv", [b"", b"\x00\x01", b"\x01" * 6])
def test_non_minimal_or_oversized_partial_iv_rejected(piv: bytes) -> None:
    with pytest.raises(DecodeError):
        seq_from_partial_iv(piv)
    data = encrypt0(b"x", key=KEY, nonce=COMMON_IV, unprotected={4: KID, 6: piv}, external_aad=b"")
    with pytest.raises(DecodeError, match="Partial IV"):
        open_sealed(data)


@pytest.mark.parametrize("seq", [-1, MAX_SEQ + 1])
def test_sequence_number_out_of_range_is_caller_error(seq: int) -> None:
    with pytest.raises(ValueError, match="sequence number"):
        partial_iv_from_seq(seq)


def test_caller_misuse_raises_value_error_without_key_material() -> None:
    with pytest.raises(ValueError, match="key must be 16 bytes") as info:
        protect_encrypt0(b"", key=KEY[:15], kid=KID, common_iv=COMMON_IV, seq=1, external_aad=b"")
    assert KEY[:15].hex() not in str(info.value)
    with pytest.raises(ValueError, match="Common IV"):
        protect_encrypt0(b"", key=KEY, kid=KID, common_iv=COMMON_IV[:12], seq=1, external_aad=b"")
    with pytest.raises(ValueError, match="at least 32"):
        protect_mac0(b"", key=MAC_KEY[:16], kid=KID, seq=1, external_aad=b"")
    with pytest.raises(ValueError, match="kid"):
        protect_mac0(b"", key=MAC_KEY, kid=b"", seq=1, external_aad=b"")


def test_wrong_key_unknown_kid_and_wrong_aad_are_auth_errors() -> None:
    other = bytes(16)
    with pytest.raises(AuthError, match="tag mismatch") as info:
        open_sealed(sealed(), keys={KID: other})
    assert other.hex() not in str(info.value)
    assert KEY.hex() not in str(info.value)
    with pytest.raises(AuthError, match="unknown key id"):
        open_sealed(sealed(), keys={b"other": KEY})
    with pytest.raises(AuthError, match="unknown key id"):
        open_maced(maced(), keys={b"other": MAC_KEY})
    with pytest.raises(AuthError, match="tag mismatch"):
        open_maced(maced(), keys={KID: bytes(32)})
    with pytest.raises(AuthError):
        open_encrypt0(
            sealed(),
            keys_by_kid={KID: KEY},
            common_iv=COMMON_IV,
            external_aad_for=lambda kid, seq: build_external_aad("JP-GAS-999999", ROUTE, seq),
        )
    with pytest.raises(AuthError):
        open_mac0(
            maced(),
            keys_by_kid={KID: MAC_KEY},
            external_aad_for=lambda kid, seq: build_external_aad(METER, "b-route", seq),
        )


def test_sequence_number_is_bound_by_nonce_and_external_aad() -> None:
    # Swap the Partial IV of a sealed message: both nonce and external AAD change.
    protected, _, ciphertext = cbor2.loads(sealed(seq=7)).value
    swapped = cbor2.CBORTag(16, [protected, {4: KID, 6: b"\x08"}, ciphertext])
    with pytest.raises(AuthError):
        open_sealed(cbor2.dumps(swapped))
    # Mac0 has no nonce: the external AAD alone must catch the swap.
    protected, _, payload, tag = cbor2.loads(maced(seq=7)).value
    swapped = cbor2.CBORTag(17, [protected, {4: KID, 6: b"\x08"}, payload, tag])
    with pytest.raises(AuthError):
        open_maced(cbor2.dumps(swapped))


def test_profile_header_requirements() -> None:
    piv = b"\x01"
    no_kid = encrypt0(
        b"x", key=KEY, nonce=nonce_from_partial_iv(COMMON_IV, piv), unprotected={6: piv}
    )
    with pytest.raises(DecodeError, match="kid header missing"):
        open_sealed(no_kid)
    no_piv = mac0(b"x", key=MAC_KEY, unprotected={4: KID})
    with pytest.raises(DecodeError, match="Partial IV header missing"):
        open_maced(no_piv)
    full_iv = encrypt0(b"x", key=KEY, nonce=COMMON_IV, unprotected={4: KID, 5: COMMON_IV})
    with pytest.raises(DecodeError, match="full IV"):
        open_sealed(full_iv)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([b"\xa1\x01\x0a", {5: b"a", 6: b"b"}, bytes(9)], "both IV and Partial IV"),
        ([b"\xa2\x01\x0a\x02\x81\x01", {}, bytes(9)], "crit"),
        ([b"", {1: 10}, bytes(9)], "alg must be in the protected header"),
        ([b"\xa1\x01\x0a", {1: 10}, bytes(9)], "both buckets"),
        ([b"\xa1\x01\x0a", {4: "text-kid"}, bytes(9)], "kid is not a byte string"),
        ([b"\xa1\x01\x0a", {}, bytes(7)], "shorter than the 8-byte"),
        ([b"\xa1\x01\x0a\x00", {}, bytes(9)], "trailing"),
        ([b"\xa1\x01\x0a", {}], "array of 3 items"),
        ([b"\xa1\x01\x0a", [], bytes(9)], "expected a map"),
    ],
)
def test_malformed_encrypt0_structures(body: list[object], reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_encrypt0(cbor2.dumps(cbor2.CBORTag(16, body)))


def test_duplicate_map_key_and_indefinite_lengths_rejected() -> None:
    dup = b"\xd0\x83\x43\xa1\x01\x0a\xa2\x04\x41\x61\x04\x41\x62\x49" + bytes(9)
    with pytest.raises(DecodeError, match="duplicate map key 4") as info:
        decode_encrypt0(dup)
    assert info.value.offset == 10
    indefinite = b"\xd0\x83\x43\xa1\x01\x0a\xbf\xff\x49" + bytes(9)
    with pytest.raises(DecodeError, match="indefinite"):
        decode_encrypt0(indefinite)


def test_deep_nesting_rejected_quickly() -> None:
    data = b"\xd0\x83\x43\xa1\x01\x0a\xa1\x20" + b"\x81" * 100_000 + b"\x00\x49" + bytes(9)
    with pytest.raises(DecodeError, match="nesting"):
        decode_encrypt0(data)


def test_protected_header_error_offset_points_into_the_message() -> None:
    # The protected bstr h'a101' is a truncated map: its contents start at byte 3.
    with pytest.raises(DecodeError) as info:
        decode_encrypt0(b"\xd0\x83\x42\xa1\x01\xa0\x49" + bytes(9))
    assert info.value.offset == 5


@pytest.mark.parametrize(
    ("make", "opener"), [(sealed, open_sealed), (maced, open_maced)], ids=["encrypt0", "mac0"]
)
def test_every_flipped_bit_is_rejected(
    make: Callable[[], bytes], opener: Callable[[bytes], Opened]
) -> None:
    data = make()
    assert opener(data).seq == 7
    for index in range(len(data)):
        for bit in range(8):
            tampered = bytearray(data)
            tampered[index] ^= 1 << bit
            with pytest.raises((DecodeError, AuthError)):
                opener(bytes(tampered))


def test_encrypt0_and_mac0_not_interchangeable() -> None:
    with pytest.raises(DecodeError, match="expected CBOR tag 17"):
        open_maced(sealed())
    with pytest.raises(DecodeError, match="expected CBOR tag 16"):
        open_sealed(maced())


@settings(max_examples=300)
@given(st.binary(max_size=80))
def test_random_bytes_only_raise_decode_or_auth_errors(data: bytes) -> None:
    for opener in (open_sealed, open_maced):
        with pytest.raises((DecodeError, AuthError)):
            opener(data)


@settings(max_examples=300)
@given(st.data())
def test_mutated_messages_only_raise_decode_or_auth_errors(data: st.DataObject) -> None:
    original = data.draw(st.sampled_from([sealed(), maced()]))
    index = data.draw(st.integers(0, len(original) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != original[index]))
    cut = data.draw(st.integers(index + 1, len(original)))
    mutated = original[:index] + bytes([value]) + original[index + 1 : cut]
    for opener in (open_sealed, open_maced):
        with pytest.raises((DecodeError, AuthError)):
            opener(mutated)


@settings(max_examples=100)
@given(st.binary(max_size=64), st.integers(0, MAX_SEQ))
def test_round_trip_any_payload_and_seq(payload: bytes, seq: int) -> None:
    assert open_sealed(sealed(seq, payload)) == (KID, seq, payload)
    assert open_maced(maced(seq, payload)) == (KID, seq, payload)


# --------------------------------------------------------------------------- replay window


def test_replay_window_accepts_once_and_rejects_replays() -> None:
    window = ReplayWindow()
    window.check_and_update(METER, 10)
    with pytest.raises(AuthError, match="replayed sequence number 10"):
        window.check_and_update(METER, 10)
    window.check_and_update(METER, 8)  # late but inside the window: accepted once
    with pytest.raises(AuthError, match="replayed"):
        window.check_and_update(METER, 8)
    window.check_and_update(METER, 11)
    assert window.highest(METER) == 11
    window.check_and_update("another-meter", 10)  # windows are per meter


def test_replay_window_rejects_stale_numbers() -> None:
    window = ReplayWindow()
    assert window.size == 64
    window.check_and_update(METER, 100)
    window.check_and_update(METER, 37)  # 63 below: last slot of the window
    with pytest.raises(AuthError, match="replayed or stale sequence number 36"):
        window.check_and_update(METER, 36)
    window.check_and_update(METER, 1000)  # jump beyond the window forgets the bitmap
    with pytest.raises(AuthError, match="stale"):
        window.check_and_update(METER, 100)
    window.check_and_update(METER, 999)


def test_replay_window_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="size"):
        ReplayWindow(0)
    with pytest.raises(ValueError, match="sequence number"):
        ReplayWindow().check_and_update(METER, -1)


@settings(max_examples=200)
@given(st.integers(1, 70), st.lists(st.integers(0, 300), max_size=120))
def test_replay_window_matches_reference_model(size: int, seqs: list[int]) -> None:
    window = ReplayWindow(size)
    accepted: set[int] = set()
    for seq in seqs:
        fresh = seq not in accepted and (not accepted or seq > max(accepted) - size)
        if fresh:
            window.check_and_update(METER, seq)
            accepted.add(seq)
        else:
            with pytest.raises(AuthError, match=r"^replayed"):
                window.check_and_update(METER, seq)


def test_opened_message_then_replay_window() -> None:
    window = ReplayWindow()
    data = sealed(seq=5)
    kid, seq, _ = open_sealed(data)
    window.check_and_update(METER, seq)
    kid, seq, _ = open_sealed(data)  # an attacker resends the same bytes
    with pytest.raises(AuthError, match="replayed"):
        window.check_and_update(METER, seq)
    assert kid == KID


# --------------------------------------------------------------------------- pycose interop


def _pycose_decode(cose_message: Any, data: bytes) -> Any:
    # pycose 1.1 expects cbor2 to return lists; cbor2 6 returns tuples inside tags, which
    # pycose's own decode() rejects. Hand it the same array as a list, the map as a dict.
    item = cbor2.loads(data)
    fields = list(item.value)
    fields[1] = dict(fields[1])
    return cose_message._COSE_MSG_ID[item.tag].from_cose_obj(fields, True)


def _pycose() -> SimpleNamespace:
    pytest.importorskip("pycose", reason="pycose (interop reference) not installed")
    algorithms = importlib.import_module("pycose.algorithms")
    headers = importlib.import_module("pycose.headers")
    keys = importlib.import_module("pycose.keys")
    messages = importlib.import_module("pycose.messages")
    return SimpleNamespace(
        ccm=algorithms.AESCCM1664128,
        hmac=algorithms.HMAC25664,
        alg=headers.Algorithm,
        kid=headers.KID,
        piv=headers.PartialIV,
        key=keys.SymmetricKey,
        decode=lambda data: _pycose_decode(messages.CoseMessage, data),
        enc0=messages.Enc0Message,
        mac0=messages.Mac0Message,
    )


def test_pycose_opens_what_we_protect() -> None:
    pc = _pycose()
    seq = 0x0102
    aad = aad_for(KID, seq)
    message = pc.decode(sealed(seq))
    key = pc.key(k=KEY)
    # pycose derives the nonce as Partial IV XOR Base IV (RFC 9052 §3.1), like us.
    key.base_iv = COMMON_IV
    message.key = key
    message.external_aad = aad
    assert message.decrypt() == b"\xa1\x00\x18\x2a"

    message = pc.decode(maced(seq))
    message.key = pc.key(k=MAC_KEY)
    message.external_aad = aad
    assert message.verify_tag()
    message.external_aad = build_external_aad(METER, ROUTE, seq + 1)
    assert not message.verify_tag()


def test_we_open_what_pycose_protects() -> None:
    pc = _pycose()
    seq = 0x01020304
    piv = partial_iv_from_seq(seq)
    key = pc.key(k=KEY)
    key.base_iv = COMMON_IV
    message = pc.enc0(
        phdr={pc.alg: pc.ccm},
        uhdr={pc.kid: KID, pc.piv: piv},
        payload=b"gas reading",
        external_aad=aad_for(KID, seq),
    )
    message.key = key
    assert open_sealed(message.encode()) == (KID, seq, b"gas reading")

    message = pc.mac0(
        phdr={pc.alg: pc.hmac},
        uhdr={pc.kid: KID, pc.piv: piv},
        payload=b"water reading",
        external_aad=aad_for(KID, seq),
    )
    message.key = pc.key(k=MAC_KEY)
    assert open_maced(message.encode()) == (KID, seq, b"water reading")
