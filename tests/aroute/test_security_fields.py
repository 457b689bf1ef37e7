"""security.split_ciphered: the usual general-ciphering header read in one unpack is read
exactly as the general parse reads it (the same content under a long-form length)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute.security import (
    CipheredApdu,
    CipheredFields,
    CipheringTag,
    SecurityControl,
    decode_ciphered,
    encode_ciphered,
    split_ciphered,
)
from smartmeter_proto.errors import DecodeError


def _split(data: bytes) -> CipheredFields | str:
    try:
        return split_ciphered(data)
    except DecodeError as exc:
        return f"DecodeError {exc.reason}"


@settings(max_examples=3000, deadline=None)
@given(
    tag=st.sampled_from([0xDB, 0xDC]),
    title=st.binary(min_size=8, max_size=8),
    sc=st.integers(0, 255),
    ic=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=140),
)
def test_short_and_long_form_headers_split_alike(
    tag: int, title: bytes, sc: int, ic: int, payload: bytes
) -> None:
    content = bytes((sc,)) + ic.to_bytes(4, "big") + payload
    long_form = bytes((tag, 8)) + title + b"\x82" + len(content).to_bytes(2, "big") + content
    expected = _split(long_form)  # never the one-unpack path
    if len(content) < 0x80:
        short_form = bytes((tag, 8)) + title + bytes((len(content),)) + content
        got = _split(short_form)
        if isinstance(expected, str):
            assert isinstance(got, str)  # refused both ways (offsets differ by the length)
        else:
            assert got == expected
            assert encode_ciphered(decode_ciphered(short_form)) == short_form
    if not isinstance(expected, str):
        assert expected == (tag, title, sc, ic, payload)


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_mutated_usual_headers_are_refused_or_re_encode(data: st.DataObject) -> None:
    payload = data.draw(st.binary(min_size=12, max_size=100))
    apdu = encode_ciphered(
        CipheredApdu(
            CipheringTag.GENERAL_GLO_CIPHERING,
            b"MMM\x00\x00\xbcaN",
            SecurityControl(authenticated=True, encrypted=True),
            1,
            payload,
        )
    )
    raw = bytearray(apdu)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, 16))
        raw[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        del raw[data.draw(st.integers(0, len(raw) - 1)) :]
    got = _split(bytes(raw))
    if not isinstance(got, str):  # accepted: exactly these bytes, minimal or not
        tag, title, sc, ic, rest = got
        assert bytes(raw).endswith(bytes((sc,)) + ic.to_bytes(4, "big") + rest)
        assert raw[0] == tag
        assert title is None or bytes(raw[2 : 2 + len(title)]) == title
