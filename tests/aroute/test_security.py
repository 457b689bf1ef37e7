"""DLMS security suite 0 (``smartmeter_proto.aroute.security``).

Vectors: the DLMS UA Green Book worked example (EK, AK, system title 4D4D4D0000BC614E,
IC 0x01234567, get-request of the clock's time). The same bytes are in
u9n/dlms-cosem tests/test_security.py (authenticated encryption and GMAC), the Elster
jDLMS test DlmsSecurityProviderGcmTest ("Examples from GB ed.7 p.133-134": all three
kinds, the glo-initiate-request of GB ed.7 p.265 and the HLS-GMAC challenge replies of
GB ed.7 Amendment 2 Table 18), and the OpenMUC jDLMS GcmModule test (the whole
glo-get-request C8 1E ...). Cross-checked under Hypothesis against dlms-cosem's
``dlms_cosem.security`` and gurux-dlms's ``GXDLMSChippering`` (test-time tools only).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import SuiteZeroKeys
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute.security import (
    CipheredApdu,
    CipheringTag,
    InvocationCounters,
    SecurityControl,
    decode_ciphered,
    encode_ciphered,
    gmac_auth_value,
    protect,
    unprotect,
    verify_gmac_auth_value,
)
from smartmeter_proto.errors import AuthError, DecodeError
from smartmeter_proto.security_state import FileStateStore, MemoryStateStore, ReplayFloors

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SERVER_TITLE = bytes.fromhex("4D4D4D0000BC614E")
CLIENT_TITLE = bytes.fromhex("4D4D4D0000000001")
IC = 0x01234567
# get-request-normal (C0 01), invoke-id-and-priority 0x00, class 8 (clock),
# 0.0.1.0.0.255, attribute 2 (time), no selective access.
GET_REQUEST = bytes.fromhex("C0010000080000010000FF0200")
# Green Book glo-get-request for each security control (Elster / OpenMUC jDLMS tests).
GLO_GET = {
    0x10: bytes.fromhex("C81E1001234567C0010000080000010000FF020006725D910F9221D263877516"),
    0x20: bytes.fromhex("C8122001234567411312FF935A47566827C467BC"),
    0x30: bytes.fromhex("C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B"),
}
# Green Book xDLMS InitiateRequest and its glo-initiate-request (tag 0x21); also in
# u9n/dlms-cosem tests/test_xdlms/test_initiate.py and tests/test_asce/test_aarq.py.
INITIATE_REQUEST = bytes.fromhex("01011000112233445566778899AABBCCDDEEFF0000065F1F0400007E1F04B0")
GLO_INITIATE = bytes.fromhex(
    "21303001234567801302FF8A7874133D414CED25B42534D28DB0047720606B175BD52211BE6841DB204D39"
    "EE6FDB8E356855"
)
# A pushed general-glo-ciphering data-notification captured by dlms-cosem's author
# (u9n/dlms-cosem tests/test_general_global_cipher.py); keys unknown: structure only.
PUSH = bytes.fromhex(
    "DB082F192291991641033B30000001E5025CE9D2271FD78BE8C204211A916A9D7F587E0A7A814CADEA89"
    "E9593F01F92EA8C087B5BDFDEFEAB6BECF282DFE49C08F5BE6DC8400"
)


def _protect(apdu: bytes, sc: int = 0x30, ic: int = IC, **kw: object) -> bytes:
    return protect(
        apdu,
        security_control=sc,
        system_title=SERVER_TITLE,
        invocation_counter=ic,
        ek=EK,
        ak=AK,
        **kw,  # type: ignore[arg-type]
    )


# ----------------------------------------------------------------- security control


def test_security_control_bits() -> None:
    sc = SecurityControl.from_byte(0x30)
    assert (sc.suite, sc.authenticated, sc.encrypted, sc.broadcast_key, sc.compressed) == (
        0,
        True,
        True,
        False,
        False,
    )
    assert SecurityControl.from_byte(0xF1) == SecurityControl(1, True, True, True, True)
    assert int(SecurityControl(0, authenticated=True)) == 0x10


@given(st.integers(0, 255))
def test_security_control_round_trip(value: int) -> None:
    assert SecurityControl.from_byte(value).to_byte() == value


# ----------------------------------------------------------------- Green Book vectors


@pytest.mark.parametrize("sc", sorted(GLO_GET))
def test_green_book_glo_get_request(sc: int) -> None:
    assert _protect(GET_REQUEST, sc, service_tag=CipheringTag.GLO_GET_REQUEST) == GLO_GET[sc]
    out = unprotect(
        GLO_GET[sc], ek=EK, ak=AK, system_title=SERVER_TITLE, allow_unauthenticated=True
    )
    assert out.apdu == GET_REQUEST
    assert out.invocation_counter == IC
    assert out.security_control.to_byte() == sc
    assert out.ciphering_tag is CipheringTag.GLO_GET_REQUEST


def test_green_book_glo_initiate_request(green_book_keys: SuiteZeroKeys) -> None:
    assert _protect(INITIATE_REQUEST, service_tag=0x21) == GLO_INITIATE
    # The shared test keys (tests/conftest.py) are the Green Book's: they open its vector.
    keys = green_book_keys
    opened = unprotect(GLO_INITIATE, ek=keys.ek, ak=keys.ak, system_title=keys.system_title)
    assert opened.apdu == INITIATE_REQUEST


def test_general_glo_ciphering_carries_the_system_title() -> None:
    wire = _protect(GET_REQUEST)
    # DB | 08 | system title | 1E | SC IC C T: same ciphered content as the glo-get-request.
    assert wire == bytes.fromhex("DB08") + SERVER_TITLE + GLO_GET[0x30][1:]
    out = unprotect(wire, ek=EK, ak=AK)
    assert (out.apdu, out.system_title, out.ciphering_tag) == (
        GET_REQUEST,
        SERVER_TITLE,
        CipheringTag.GENERAL_GLO_CIPHERING,
    )
    ded = _protect(GET_REQUEST, dedicated=True)
    assert ded[0] == 0xDC
    assert ded[1:] == wire[1:]


def test_green_book_hls_gmac_replies() -> None:
    # Client answers the server's challenge StoC "P6wRJ21F" with its own title and IC 1,
    # the server answers CtoS "K56iVagY" with its title and IC 0x01234567.
    f_stoc = gmac_auth_value(
        b"P6wRJ21F", system_title=CLIENT_TITLE, invocation_counter=1, ek=EK, ak=AK
    )
    assert f_stoc == bytes.fromhex("10000000011A52FE7DD3E72748973C1E28")
    f_ctos = gmac_auth_value(
        b"K56iVagY", system_title=SERVER_TITLE, invocation_counter=IC, ek=EK, ak=AK
    )
    assert f_ctos == bytes.fromhex("1001234567FE1466AFB3DBCD4F9389E2B7")
    assert (
        verify_gmac_auth_value(f_ctos, b"K56iVagY", system_title=SERVER_TITLE, ek=EK, ak=AK) == IC
    )
    # The Elster test's negative case: one byte of the tag changed.
    forged = bytes.fromhex("1001234567FE1466AFB3ABCD4F9389E2B7")
    with pytest.raises(AuthError, match="tag does not verify"):
        verify_gmac_auth_value(forged, b"K56iVagY", system_title=SERVER_TITLE, ek=EK, ak=AK)


def test_captured_push_structure() -> None:
    c = decode_ciphered(PUSH)
    assert c.tag is CipheringTag.GENERAL_GLO_CIPHERING
    assert c.system_title == bytes.fromhex("2F19229199164103")
    assert c.security_control == SecurityControl(0, True, True)
    assert c.invocation_counter == 0x1E5
    assert len(c.payload) == 0x3B - 5
    assert encode_ciphered(c) == PUSH
    with pytest.raises(AuthError, match="tag does not verify"):
        unprotect(PUSH, ek=EK, ak=AK)


# ----------------------------------------------------------------- rejections


@given(st.data())
@settings(max_examples=60)
def test_any_flipped_bit_is_rejected(data: st.DataObject) -> None:
    wire = GLO_GET[0x30]
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    bad = bytearray(wire)
    bad[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises((AuthError, DecodeError)):
        unprotect(bytes(bad), ek=EK, ak=AK, system_title=SERVER_TITLE)


@pytest.mark.parametrize("sc", [0x10, 0x30])
def test_flipped_bit_in_content_says_tag(sc: int) -> None:
    for i in range(7, len(GLO_GET[sc])):  # after tag, length, SC, IC: payload and tag bytes
        bad = bytearray(GLO_GET[sc])
        bad[i] ^= 0x01
        with pytest.raises(AuthError, match="tag does not verify"):
            unprotect(bytes(bad), ek=EK, ak=AK, system_title=SERVER_TITLE)


def test_flipped_invocation_counter_says_tag() -> None:
    bad = bytearray(GLO_GET[0x30])
    bad[6] ^= 0x80
    with pytest.raises(AuthError, match="tag does not verify"):
        unprotect(bytes(bad), ek=EK, ak=AK, system_title=SERVER_TITLE)


def test_wrong_keys_are_rejected_and_never_shown() -> None:
    wrong = bytes(range(0xA0, 0xB0))
    for ek, ak in ((wrong, AK), (EK, wrong)):
        with pytest.raises(AuthError, match="tag does not verify") as info:
            unprotect(GLO_GET[0x30], ek=ek, ak=ak, system_title=SERVER_TITLE)
        text = str(info.value) + repr(info.value)
        for key in (EK, AK, wrong):
            assert key.hex() not in text.lower()
            assert key.hex().upper() not in text


def test_unknown_suite_and_unprotected_content() -> None:
    suite1 = bytearray(GLO_GET[0x30])
    suite1[2] = 0x31
    with pytest.raises(AuthError, match="unknown security suite 1"):
        unprotect(bytes(suite1), ek=EK, ak=AK, system_title=SERVER_TITLE)
    with pytest.raises(AuthError, match="encryption without authentication refused"):
        unprotect(GLO_GET[0x20], ek=EK, ak=AK, system_title=SERVER_TITLE)
    nothing = encode_ciphered(
        CipheredApdu(CipheringTag.GLO_GET_REQUEST, None, SecurityControl(), IC, GET_REQUEST)
    )
    with pytest.raises(AuthError, match="neither authentication nor encryption"):
        unprotect(nothing, ek=EK, ak=AK, system_title=SERVER_TITLE)


def test_service_specific_apdu_needs_the_peer_title() -> None:
    # Input bytes alone never raise ValueError: a title the APDU lacks is an AuthError.
    with pytest.raises(AuthError, match="no system title"):
        unprotect(GLO_GET[0x30], ek=EK, ak=AK)


# ----------------------------------------------------------------- invocation counters


def test_replayed_and_older_counters_are_rejected() -> None:
    counters = InvocationCounters()
    first = _protect(GET_REQUEST, ic=10)
    assert unprotect(first, ek=EK, ak=AK, counters=counters).invocation_counter == 10
    with pytest.raises(AuthError, match="replayed invocation counter"):
        unprotect(first, ek=EK, ak=AK, counters=counters)
    with pytest.raises(AuthError, match="invocation counter older than the last accepted"):
        unprotect(_protect(GET_REQUEST, ic=9), ek=EK, ak=AK, counters=counters)
    assert unprotect(_protect(GET_REQUEST, ic=11), ek=EK, ak=AK, counters=counters).apdu
    assert counters.last(SERVER_TITLE) == 11


def test_forged_apdu_does_not_advance_the_counter() -> None:
    counters = InvocationCounters()
    forged = bytearray(_protect(GET_REQUEST, ic=50))
    forged[-1] ^= 1
    with pytest.raises(AuthError, match="tag does not verify"):
        unprotect(bytes(forged), ek=EK, ak=AK, counters=counters)
    assert counters.last(SERVER_TITLE) is None
    unprotect(_protect(GET_REQUEST, ic=5), ek=EK, ak=AK, counters=counters)


def test_counters_are_per_system_title() -> None:
    counters = InvocationCounters()
    counters.accept(SERVER_TITLE, 100)
    counters.accept(CLIENT_TITLE, 1)
    with pytest.raises(AuthError, match="replayed"):
        counters.accept(CLIENT_TITLE, 1)


def test_window_accepts_reordering_once() -> None:
    counters = InvocationCounters(window=4)
    for ic in (10, 8, 9, 12, 11):
        counters.accept(SERVER_TITLE, ic)
    with pytest.raises(AuthError, match="replayed"):
        counters.accept(SERVER_TITLE, 9)
    with pytest.raises(AuthError, match="older than the window of 4"):
        counters.accept(SERVER_TITLE, 8)  # 12 - 8 = 4: outside the window
    counters.accept(SERVER_TITLE, 100)
    with pytest.raises(AuthError, match="older than the window"):
        counters.accept(SERVER_TITLE, 12)


@given(st.lists(st.integers(0, 60), max_size=40), st.integers(0, 8))
def test_window_never_accepts_twice(ics: list[int], window: int) -> None:
    counters = InvocationCounters(window=window)
    accepted: list[int] = []
    for ic in ics:
        try:
            counters.accept(SERVER_TITLE, ic)
        except AuthError:
            continue
        accepted.append(ic)
    assert len(accepted) == len(set(accepted))
    if window == 0:
        assert accepted == sorted(accepted)


def test_a_spoofed_unauthenticated_counter_is_never_recorded() -> None:
    """23 bytes of general-glo-ciphering, encryption only (no tag), IC 0xFFFFFFFF: even a
    receiver that allows unauthenticated data must not move its window, or that system
    title would be locked out for good."""
    spoof = bytes.fromhex("DB08") + SERVER_TITLE + bytes.fromhex("0C20FFFFFFFF") + bytes(7)
    assert len(spoof) == 23
    floors = ReplayFloors(MemoryStateStore(), "rx")
    counters = InvocationCounters(floors=floors)
    opened = unprotect(spoof, ek=EK, ak=AK, counters=counters, allow_unauthenticated=True)
    assert opened.invocation_counter == 0xFFFF_FFFF
    assert not opened.security_control.authenticated
    with pytest.raises(AuthError, match="encryption without authentication"):
        unprotect(spoof, ek=EK, ak=AK, counters=counters)
    assert counters.last(SERVER_TITLE) is None
    assert floors.floor(SERVER_TITLE) is None
    genuine = _protect(GET_REQUEST, ic=2, dedicated=False)
    assert unprotect(genuine, ek=EK, ak=AK, counters=counters).apdu == GET_REQUEST
    assert counters.last(SERVER_TITLE) == 2 == floors.floor(SERVER_TITLE)


def test_unauthenticated_data_is_still_checked_against_the_window() -> None:
    counters = InvocationCounters()
    counters.accept(SERVER_TITLE, 10)
    old = _protect(GET_REQUEST, sc=0x20, ic=10)
    with pytest.raises(AuthError, match="replayed"):
        unprotect(old, ek=EK, ak=AK, counters=counters, allow_unauthenticated=True)


@pytest.mark.parametrize("window", [0, 4])
def test_floors_refuse_everything_up_to_them_after_a_restart(tmp_path: Path, window: int) -> None:
    path = tmp_path / "rx.json"
    counters = InvocationCounters(window, floors=ReplayFloors(FileStateStore(path), "rx"))
    for ic in (10, 12):
        unprotect(_protect(GET_REQUEST, ic=ic), ek=EK, ak=AK, counters=counters)
    captured = _protect(GET_REQUEST, ic=12)

    restarted = InvocationCounters(window, floors=ReplayFloors(FileStateStore(path), "rx"))
    assert restarted.last(SERVER_TITLE) == 12
    with pytest.raises(AuthError, match="replayed"):
        unprotect(captured, ek=EK, ak=AK, counters=restarted)
    with pytest.raises(AuthError):  # 11 was never seen, but the restart forgot which were
        unprotect(_protect(GET_REQUEST, ic=11), ek=EK, ak=AK, counters=restarted)
    assert unprotect(_protect(GET_REQUEST, ic=13), ek=EK, ak=AK, counters=restarted).apdu
    assert ReplayFloors(FileStateStore(path), "rx").floor(SERVER_TITLE) == 13


def test_floors_take_only_a_new_highest_counter() -> None:
    store = MemoryStateStore()
    counters = InvocationCounters(8, floors=ReplayFloors(store, "rx"))
    for ic in (5, 3, 4, 9, 6):
        counters.accept(SERVER_TITLE, ic)
    assert store.read("rx:" + SERVER_TITLE.hex()) == 9


# ----------------------------------------------------------------- properties


_titles = st.binary(min_size=8, max_size=8)
_keys = st.binary(min_size=16, max_size=16)
_ics = st.integers(0, 0xFFFFFFFF)


@given(
    st.binary(max_size=300), _titles, _ics, st.sampled_from([0x10, 0x30, 0x50, 0x70]), st.booleans()
)
def test_protect_unprotect_round_trip(
    apdu: bytes, title: bytes, ic: int, sc: int, dedicated: bool
) -> None:
    wire = protect(
        apdu,
        security_control=sc,
        system_title=title,
        invocation_counter=ic,
        ek=EK,
        ak=AK,
        dedicated=dedicated,
    )
    out = unprotect(wire, ek=EK, ak=AK)
    assert (out.apdu, out.system_title, out.invocation_counter) == (apdu, title, ic)
    assert out.security_control.to_byte() == sc
    assert encode_ciphered(decode_ciphered(wire)) == wire


@given(st.binary(max_size=200))
def test_any_bytes_give_value_or_decode_or_auth_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError, AuthError):
        unprotect(data, ek=EK, ak=AK, system_title=SERVER_TITLE, allow_unauthenticated=True)


@given(st.binary(max_size=200))
def test_decode_ciphered_round_trips_or_raises(data: bytes) -> None:
    try:
        c = decode_ciphered(data)
    except DecodeError:
        return
    again = encode_ciphered(c)
    # Long-form lengths written in more bytes than needed are normalised; otherwise equal.
    assert decode_ciphered(again) == c


@given(st.binary(min_size=1, max_size=200), _titles, _ics, _keys, _keys)
@settings(max_examples=50, deadline=None)
def test_agrees_with_dlms_cosem(apdu: bytes, title: bytes, ic: int, ek: bytes, ak: bytes) -> None:
    dlms_security = pytest.importorskip("dlms_cosem.security")
    sc = dlms_security.SecurityControlField(security_suite=0, authenticated=True, encrypted=True)
    theirs = dlms_security.encrypt(
        security_control=sc,
        system_title=title,
        invocation_counter=ic,
        key=ek,
        plain_text=apdu,
        auth_key=ak,
    )
    ours = protect(
        apdu, security_control=0x30, system_title=title, invocation_counter=ic, ek=ek, ak=ak
    )
    assert decode_ciphered(ours).payload == theirs
    assert (
        dlms_security.decrypt(
            security_control=sc,
            system_title=title,
            invocation_counter=ic,
            key=ek,
            cipher_text=theirs,
            auth_key=ak,
        )
        == apdu
    )
    challenge = apdu[:64]
    gsc = dlms_security.SecurityControlField(security_suite=0, authenticated=True)
    their_gmac = dlms_security.gmac(
        security_control=gsc,
        system_title=title,
        invocation_counter=ic,
        key=ek,
        auth_key=ak,
        challenge=challenge,
    )
    ours_gmac = gmac_auth_value(challenge, system_title=title, invocation_counter=ic, ek=ek, ak=ak)
    assert ours_gmac[5:] == their_gmac


@given(st.binary(min_size=1, max_size=120), _titles, _ics, st.sampled_from([0x10, 0x20, 0x30]))
@settings(max_examples=40, deadline=None)
def test_agrees_with_gurux(apdu: bytes, title: bytes, ic: int, sc: int) -> None:
    pytest.importorskip("gurux_dlms")
    from gurux_dlms.AesGcmParameter import AesGcmParameter  # type: ignore[import-untyped]
    from gurux_dlms.enums import Security  # type: ignore[import-untyped]
    from gurux_dlms.GXDLMSChippering import GXDLMSChippering  # type: ignore[import-untyped]

    security = {
        0x10: Security.AUTHENTICATION,
        0x20: Security.ENCRYPTION,
        0x30: Security.AUTHENTICATION_ENCRYPTION,
    }[sc]
    p = AesGcmParameter(0xC8, title, EK, AK)
    p.security = security
    p.invocationCounter = ic
    theirs = bytes(GXDLMSChippering.encryptAesGcm(p, apdu))
    assert theirs == _protect_with(apdu, sc, title, ic)


def _protect_with(apdu: bytes, sc: int, title: bytes, ic: int) -> bytes:
    return protect(
        apdu,
        security_control=sc,
        system_title=title,
        invocation_counter=ic,
        ek=EK,
        ak=AK,
        service_tag=0xC8,
    )


def test_changed_ciphering_tag_is_rejected() -> None:
    # C8 (glo-get-request) -> C9 (glo-set-request): the tag is not in the GCM additional
    # data, so the check is that the deciphered APDU is a set-request (C1), which it is not.
    bad = b"\xc9" + GLO_GET[0x30][1:]
    with pytest.raises(AuthError, match="does not match the protected APDU"):
        unprotect(bad, ek=EK, ak=AK, system_title=SERVER_TITLE)
    for tag, plain in ((0x21, 0x01), (0x28, 0x08), (0x41, 0x01), (0xCC, 0xC4), (0xD7, 0xC7)):
        wire = _protect(bytes([plain]) + b"\x00", service_tag=tag)
        assert unprotect(wire, ek=EK, ak=AK, system_title=SERVER_TITLE).apdu[0] == plain
