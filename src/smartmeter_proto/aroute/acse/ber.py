"""BER (X.690) building blocks for the ACSE APDUs: lengths, TLVs, tagged fields.

Only what IEC 62056-5-3 / DLMS UA Green Book 9.4 ACSE needs: definite lengths up to two
octets in their shortest form (so that ``encode(decode(b)) == b``), context-specific tagged
fields in tag order, OCTET STRING / one-octet INTEGER / OBJECT IDENTIFIER / BIT STRING contents.
Decoders read through :class:`~smartmeter_proto._buffer.Cursor` and raise only
``DecodeError("acse")``; encoders raise ``EncodeError`` for values BER cannot carry here.
"""

from __future__ import annotations

from ..._buffer import ACSE_LENGTH, Cursor, Writer
from ...errors import EncodeError

__all__ = [
    "CONSTRUCTED",
    "CONTEXT",
    "INTEGER",
    "LAYER",
    "OCTET_STRING",
    "OID_TAG",
    "context_field",
    "expect_tlv",
    "pull_auth_value",
    "pull_ber_length",
    "pull_bits_flag",
    "pull_fields",
    "pull_octets_in",
    "pull_oid_arc",
    "pull_small_int_in",
    "pull_tlv",
    "push_auth_value",
    "push_ber_length",
    "push_bits_flag",
    "push_octets_in",
    "push_oid",
    "push_small_int_in",
    "push_tlv",
    "wrap",
]

LAYER = "acse"

# X.690 universal tags and identifier-octet bits used by the Green Book 9.4 ACSE ASN.1.
INTEGER = 0x02
OCTET_STRING = 0x04
OID_TAG = 0x06
CONTEXT = 0x80  # class bits 10: context-specific
CONSTRUCTED = 0x20
_BIT_STRING_AUTH = b"\x07\x80"  # BIT STRING, 7 unused bits, bit 0 set (authentication / version1)
_BIT_STRING_NONE = b"\x07\x00"


def push_ber_length(w: Writer, n: int) -> None:
    if n < 0x80:
        w.push_uint8(n)
        return
    k = (n.bit_length() + 7) // 8
    if k > 2:
        raise EncodeError(f"BER length {n} too large")
    w.push_uint8(0x80 | k)
    w.push_bytes(n.to_bytes(k, "big"))


def push_tlv(w: Writer, tag: int, content: bytes) -> None:
    w.push_uint8(tag)
    push_ber_length(w, len(content))
    w.push_bytes(content)


def pull_ber_length(cur: Cursor) -> int:
    """A BER definite length under :data:`~smartmeter_proto._buffer.ACSE_LENGTH`."""
    return cur.pull_ber_length("BER length", ACSE_LENGTH)


def pull_tlv(cur: Cursor, what: str) -> tuple[int, int, Cursor]:
    """(tag, offset of tag, sub-cursor over the content); the content is skipped in ``cur``.

    The sub-cursor keeps offsets relative to the whole APDU, so errors point at real bytes.
    """
    at = cur.offset
    tag = cur.pull_uint8(f"{what} tag")
    n = pull_ber_length(cur)
    start = cur.offset
    cur.pull_bytes(n, what)
    return tag, at, Cursor(cur._data[: start + n], LAYER, start)


def expect_tlv(cur: Cursor, tag: int, what: str) -> Cursor:
    got, at, sub = pull_tlv(cur, what)
    if got != tag:
        raise cur.error(f"{what}: expected tag 0x{tag:02X}, got 0x{got:02X}", at)
    return sub


def pull_oid_arc(sub: Cursor, prefix: bytes, what: str) -> int:
    inner = expect_tlv(sub, OID_TAG, what)
    at = inner.offset
    raw = inner.pull_rest()
    if len(raw) != len(prefix) + 1 or not raw.startswith(prefix) or raw[-1] >= 0x80:
        raise inner.error(f"{what}: not a DLMS UA OID 2.16.756.5.8.x.y: {raw.hex()}", at)
    sub.expect_end(what)
    return raw[-1]


def push_oid(w: Writer, tag: int, prefix: bytes, arc: int) -> None:
    if not 0 <= arc < 0x80:
        raise EncodeError(f"OID arc out of range: {arc}")
    oid = Writer()
    push_tlv(oid, OID_TAG, prefix + bytes((arc,)))
    push_tlv(w, tag, oid.getvalue())


def pull_octets_in(sub: Cursor, what: str) -> bytes:
    inner = expect_tlv(sub, OCTET_STRING, what)
    sub.expect_end(what)
    return inner.pull_rest()


def push_octets_in(w: Writer, tag: int, value: bytes) -> None:
    inner = Writer()
    push_tlv(inner, OCTET_STRING, value)
    push_tlv(w, tag, inner.getvalue())


def pull_small_int_in(sub: Cursor, what: str) -> int:
    inner = expect_tlv(sub, INTEGER, what)
    at = inner.offset
    raw = inner.pull_rest()
    if len(raw) != 1 or raw[0] >= 0x80:
        raise inner.error(f"{what}: expected a one-octet non-negative INTEGER", at)
    sub.expect_end(what)
    return raw[0]


def push_small_int_in(w: Writer, tag: int, value: int) -> None:
    if not 0 <= value < 0x80:
        raise EncodeError(f"INTEGER out of range 0..127: {value}")
    inner = Writer()
    push_tlv(inner, INTEGER, bytes((value,)))
    push_tlv(w, tag, inner.getvalue())


def pull_bits_flag(sub: Cursor, what: str) -> bool:
    at = sub.offset
    raw = sub.pull_rest()
    if raw == _BIT_STRING_AUTH:
        return True
    if raw == _BIT_STRING_NONE:
        return False
    raise sub.error(f"{what}: expected BIT STRING 07 80 or 07 00, got {raw.hex()}", at)


def pull_fields(cur: Cursor, allowed: dict[int, int], what: str) -> dict[int, Cursor]:
    """Split a SEQUENCE body into {field number: content cursor}, checking tags and order."""
    out: dict[int, Cursor] = {}
    last = -1
    while not cur.at_end():
        tag, at, sub = pull_tlv(cur, what)
        number = tag & 0x1F
        if tag & 0xC0 != CONTEXT or allowed.get(number) != tag:
            raise cur.error(f"{what}: unexpected tag 0x{tag:02X}", at)
        if number <= last:
            raise cur.error(f"{what}: field [{number}] out of order", at)
        last = number
        out[number] = sub
    return out


def context_field(number: int, constructed: bool) -> tuple[int, int]:
    """(field number, identifier octet) of a context-specific field [number]."""
    return number, CONTEXT | (CONSTRUCTED if constructed else 0) | number


def pull_auth_value(sub: Cursor, what: str) -> bytes:
    # Authentication-value ::= CHOICE { charstring [0] IMPLICIT GraphicString, ... }
    inner = expect_tlv(sub, CONTEXT | 0, what)
    sub.expect_end(what)
    return inner.pull_rest()


def push_auth_value(w: Writer, tag: int, value: bytes) -> None:
    inner = Writer()
    push_tlv(inner, CONTEXT | 0, value)
    push_tlv(w, tag, inner.getvalue())


def push_bits_flag(w: Writer, tag: int, value: bool) -> None:
    push_tlv(w, tag, _BIT_STRING_AUTH if value else _BIT_STRING_NONE)


def wrap(tag: int, body: Writer) -> bytes:
    w = Writer()
    push_tlv(w, tag, body.getvalue())
    return w.getvalue()
