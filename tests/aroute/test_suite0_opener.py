"""``Suite0Opener.open_usual`` is the split + unprotect path, made in one step.

For any APDU it opens, the general path (``split_ciphered`` then ``unprotect_fields``)
gives the same title, counter and plaintext; for any it refuses as forged, the general
path refuses it too; anything it leaves (None) is left to that general path. Checked on
Green Book-style pushes, on every single-bit change of one, and on random bytes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute import security
from smartmeter_proto.aroute.security import Suite0Opener, split_ciphered, unprotect_fields
from smartmeter_proto.errors import AuthError, DecodeError

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLE = bytes.fromhex("4D4D4D0000BC614E")
OPENER = Suite0Opener(EK, AK)


def _general(apdu: bytes) -> tuple[bytes, int, bytes] | str:
    try:
        fields = split_ciphered(apdu)
        plain = unprotect_fields(fields, ek=EK, ak=AK)
    except AuthError:
        return "forged"
    except (DecodeError, ValueError):
        return "other"
    assert fields.system_title is not None
    return fields.system_title, fields.invocation_counter, plain


def _usual(apdu: bytes) -> tuple[bytes, int, bytes] | str | None:
    try:
        return OPENER.open_usual(apdu)
    except AuthError:
        return "forged"


def _push(plain: bytes, ic: int, *, sc: int = 0x30, dedicated: bool = False) -> bytes:
    return security.protect(
        plain,
        security_control=sc,
        system_title=TITLE,
        invocation_counter=ic,
        ek=EK,
        ak=AK,
        dedicated=dedicated,
    )


def _agree(apdu: bytes) -> None:
    usual = _usual(apdu)
    if usual is not None:
        assert usual == _general(apdu)


def test_a_push_opens_to_its_plaintext_and_counter() -> None:
    plain = bytes.fromhex("0F0000003000") + bytes(40)
    apdu = _push(plain, 0x01234567)
    assert OPENER.open_usual(apdu) == (TITLE, 0x01234567, plain)
    assert OPENER.open_usual(_push(plain, 7, dedicated=True)) == (TITLE, 7, plain)


def test_other_forms_are_left_to_the_general_path() -> None:
    plain = bytes(40)
    assert OPENER.open_usual(_push(plain, 1, sc=0x10)) is None  # authenticated only
    assert OPENER.open_usual(_push(plain, 1, sc=0x20)) is None  # encrypted only
    assert OPENER.open_usual(_push(bytes(200), 1)) is None  # long-form content length
    assert OPENER.open_usual(bytearray(_push(plain, 1))) is None  # type: ignore[arg-type]
    assert OPENER.open_usual(b"") is None


def test_the_opener_shows_no_key() -> None:
    assert EK.hex() not in repr(OPENER).lower()
    assert AK.hex() not in repr(OPENER).lower()


@settings(max_examples=2000, deadline=None)
@given(
    plain=st.binary(min_size=0, max_size=110),
    ic=st.integers(min_value=0, max_value=0xFFFFFFFF),
    flip=st.integers(min_value=-1, max_value=8 * 140),
)
def test_every_single_bit_change_is_judged_as_the_general_path_judges_it(
    plain: bytes, ic: int, flip: int
) -> None:
    apdu = bytearray(_push(plain, ic))
    if 0 <= flip < 8 * len(apdu):
        apdu[flip // 8] ^= 1 << (flip % 8)
    changed = bytes(apdu)
    _agree(changed)
    if flip < 0 or flip >= 8 * len(apdu):
        assert _usual(changed) == (TITLE, ic, plain) or len(changed) >= 139
    elif flip // 8 >= 16:  # a changed ciphertext or tag never opens
        assert _usual(changed) in ("forged", None)


@settings(max_examples=2000, deadline=None)
@given(st.binary(min_size=0, max_size=160))
def test_random_bytes_agree_with_the_general_path(apdu: bytes) -> None:
    _agree(apdu)
