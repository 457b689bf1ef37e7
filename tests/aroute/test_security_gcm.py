"""AES-GCM of security suite 0 (``security.gcm_seal`` / ``gcm_open``) against the reference.

The reference is the one-shot ``cryptography`` hazmat GCM with a 12-byte tag
(``Cipher(AES(key), GCM(iv, tag, min_tag_length=12))``), the construction the module used
before it moved to cached ``AESGCM`` objects. Vectors: the GCM specification's test cases
2-4 (McGrew and Viega, "The Galois/Counter Mode of Operation", also in NIST's GCM
validation examples), tags cut to 12 bytes; the Green Book vectors go through
``protect``/``unprotect`` in test_security.py. Then >= 10 000 random cases each way,
tampered tags, additional data, ciphertexts and keys included.
"""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute.security import (
    GCM_KEYS_CACHED,
    TAG_LENGTH,
    gcm_open,
    gcm_seal,
    protect,
    unprotect,
)
from smartmeter_proto.errors import AuthError

# GCM specification test cases 2, 3 and 4 (AES-128): key, IV, AAD, plaintext, C, T (16 bytes).
_TC4_KEY = "feffe9928665731c6d6a8f9467308308"
_TC4_P = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
)
_TC4_C = (
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
)
GCM_SPEC = [
    (
        "00000000000000000000000000000000",
        "000000000000000000000000",
        "",
        "00000000000000000000000000000000",
        "0388dace60b6a392f328c2b971b2fe78",
        "ab6e47d42cec13bdf53a67b21257bddf",
    ),
    (
        _TC4_KEY,
        "cafebabefacedbaddecaf888",
        "",
        _TC4_P + "1aafd255",
        _TC4_C + "473f5985",
        "4d5c2af327cd64a62cf35abd2ba6fab4",
    ),
    (
        _TC4_KEY,
        "cafebabefacedbaddecaf888",
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        _TC4_P,
        _TC4_C,
        "5bc94fbc3221a5db94fae95ae7121a47",
    ),
]


def reference_seal(key: bytes, iv: bytes, aad: bytes, plaintext: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.GCM(iv, min_tag_length=TAG_LENGTH)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(plaintext) + enc.finalize()
    return ct + enc.tag[:TAG_LENGTH]


def reference_open(key: bytes, iv: bytes, aad: bytes, sealed: bytes) -> bytes:
    body, tag = sealed[:-TAG_LENGTH], sealed[-TAG_LENGTH:]
    dec = Cipher(algorithms.AES(key), modes.GCM(iv, tag, min_tag_length=TAG_LENGTH)).decryptor()
    dec.authenticate_additional_data(aad)
    out = dec.update(body)
    dec.finalize()  # InvalidTag
    return out


def _ours_refuses(key: bytes, iv: bytes, aad: bytes, sealed: bytes) -> bool:
    try:
        gcm_open(key, iv, aad, sealed)
    except AuthError:
        return True
    return False


def _reference_refuses(key: bytes, iv: bytes, aad: bytes, sealed: bytes) -> bool:
    try:
        reference_open(key, iv, aad, sealed)
    except InvalidTag:
        return True
    return False


@pytest.mark.parametrize(("key", "iv", "aad", "plaintext", "ciphertext", "tag"), GCM_SPEC)
def test_gcm_specification_vectors(
    key: str, iv: str, aad: str, plaintext: str, ciphertext: str, tag: str
) -> None:
    k, n, a, p = bytes.fromhex(key), bytes.fromhex(iv), bytes.fromhex(aad), bytes.fromhex(plaintext)
    sealed = bytes.fromhex(ciphertext) + bytes.fromhex(tag)[:TAG_LENGTH]
    assert gcm_seal(k, n, a, p) == sealed == reference_seal(k, n, a, p)
    assert gcm_open(k, n, a, sealed) == p == reference_open(k, n, a, sealed)
    forged = sealed[:-1] + bytes((sealed[-1] ^ 0x80,))
    assert _ours_refuses(k, n, a, forged)
    assert _reference_refuses(k, n, a, forged)


_TAMPER = st.sampled_from(["tag", "aad", "ciphertext", "key", "truncate"])


def _tampered(
    kind: str, key: bytes, aad: bytes, sealed: bytes, where: int, bit: int
) -> tuple[bytes, bytes, bytes]:
    """(key, aad, sealed) with one thing changed: never equal to the genuine triple."""
    flip = 1 << bit
    if kind == "tag":
        i = len(sealed) - TAG_LENGTH + where % TAG_LENGTH
        return key, aad, sealed[:i] + bytes((sealed[i] ^ flip,)) + sealed[i + 1 :]
    if kind == "aad":
        if not aad:
            return key, b"\x00", sealed
        i = where % len(aad)
        return key, aad[:i] + bytes((aad[i] ^ flip,)) + aad[i + 1 :], sealed
    if kind == "ciphertext" and len(sealed) > TAG_LENGTH:
        i = where % (len(sealed) - TAG_LENGTH)
        return key, aad, sealed[:i] + bytes((sealed[i] ^ flip,)) + sealed[i + 1 :]
    if kind == "key":
        i = where % len(key)
        return key[:i] + bytes((key[i] ^ flip,)) + key[i + 1 :], aad, sealed
    return key, aad, sealed[:-1]  # a tag one byte short (or empty ciphertext: same)


@settings(max_examples=10_000, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    iv=st.binary(min_size=12, max_size=12),
    aad=st.binary(max_size=48),
    plaintext=st.binary(max_size=160),
    kind=_TAMPER,
    where=st.integers(0, 1 << 16),
    bit=st.integers(0, 7),
)
def test_seal_and_open_equal_the_reference_both_ways(
    key: bytes, iv: bytes, aad: bytes, plaintext: bytes, kind: str, where: int, bit: int
) -> None:
    ours = gcm_seal(key, iv, aad, plaintext)
    assert ours == reference_seal(key, iv, aad, plaintext)
    assert gcm_open(key, iv, aad, ours) == plaintext  # ours opens ours
    assert reference_open(key, iv, aad, ours) == plaintext  # the reference opens ours
    bad_key, bad_aad, bad_sealed = _tampered(kind, key, aad, ours, where, bit)
    assert _ours_refuses(bad_key, iv, bad_aad, bad_sealed)
    assert len(bad_sealed) < TAG_LENGTH or _reference_refuses(bad_key, iv, bad_aad, bad_sealed)


@settings(max_examples=2_000, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    iv=st.binary(min_size=12, max_size=12),
    aad=st.binary(max_size=48),
    sealed=st.binary(min_size=TAG_LENGTH, max_size=120),
)
def test_open_agrees_with_the_reference_on_any_bytes(
    key: bytes, iv: bytes, aad: bytes, sealed: bytes
) -> None:
    """Random content: both refuse (almost always) or both give the same plaintext."""
    try:
        expected: bytes | None = reference_open(key, iv, aad, sealed)
    except InvalidTag:
        expected = None
    try:
        got: bytes | None = gcm_open(key, iv, aad, sealed)
    except AuthError:
        got = None
    assert got == expected


@settings(max_examples=2_000, deadline=None)
@given(
    key=st.binary(min_size=16, max_size=16),
    ak=st.binary(min_size=16, max_size=16),
    title=st.binary(min_size=8, max_size=8),
    ic=st.integers(0, 0xFFFFFFFF),
    sc=st.sampled_from([0x10, 0x30]),
    apdu=st.binary(min_size=1, max_size=100),
)
def test_protected_apdus_equal_the_reference_construction(
    key: bytes, ak: bytes, title: bytes, ic: int, sc: int, apdu: bytes
) -> None:
    """Suite 0 over the reference: A = SC || AK (|| APDU when authentication only)."""
    sealed = protect(
        apdu, security_control=sc, system_title=title, invocation_counter=ic, ek=key, ak=ak
    )
    iv = title + ic.to_bytes(4, "big")
    if sc == 0x30:
        expected = reference_seal(key, iv, bytes((sc,)) + ak, apdu)
    else:
        expected = apdu + reference_seal(key, iv, bytes((sc,)) + ak + apdu, b"")
    assert sealed.endswith(bytes((sc,)) + ic.to_bytes(4, "big") + expected)
    assert unprotect(sealed, ek=key, ak=ak).apdu == apdu
    with pytest.raises(AuthError) as refused:
        unprotect(sealed, ek=bytes(b ^ 0x01 for b in key), ak=ak)
    assert key.hex() not in str(refused.value).lower()


def test_more_keys_than_the_cache_holds_still_seal_and_open() -> None:
    """Past GCM_KEYS_CACHED keys the oldest are forgotten and rebuilt, never confused."""
    iv, aad, plaintext = bytes(12), b"\x30", b"push"
    keys = [i.to_bytes(16, "big") for i in range(GCM_KEYS_CACHED + 8)]
    sealed = [gcm_seal(k, iv, aad, plaintext) for k in keys]
    assert len(set(sealed)) == len(keys)
    for k, s in zip(keys[:8] + keys[-8:], sealed[:8] + sealed[-8:], strict=True):
        assert s == reference_seal(k, iv, aad, plaintext)
        assert gcm_open(k, iv, aad, s) == plaintext
    assert _ours_refuses(keys[0], iv, aad, sealed[1])
