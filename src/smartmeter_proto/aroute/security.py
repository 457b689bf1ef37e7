"""DLMS/COSEM security suite 0: AES-GCM-128 protection of xDLMS APDUs.

Green Book (DLMS UA 1000-2), "Cryptographic protection of xDLMS APDUs": the
security header is the security control byte (SC) and the 4-byte invocation counter
(IC); the GCM initialisation vector is system title (8) || IC (4); the tag is the
leftmost 12 bytes of the GCM tag. The three kinds of protection:

* authentication only (SC 0x10): A = SC || AK || APDU, nothing encrypted,
  ciphered content SC || IC || APDU || T;
* encryption only (SC 0x20): no additional data and no tag, content SC || IC || C;
* authenticated encryption (SC 0x30): A = SC || AK, APDU encrypted,
  content SC || IC || C || T.

Wire forms decoded here: general-glo-ciphering (0xDB) and general-ded-ciphering (0xDC)
carry the sender's system title with a length; the service-specific glo-/ded- APDUs
(e.g. glo-get-request 0xC8) carry only the ciphered content, the system title being the
one learnt at association. Ciphered data-notifications travel in general-glo-ciphering:
there is no glo-data-notification tag.

The ciphering tag itself is not in the additional data; for service-specific tags
:func:`unprotect` checks that the deciphered APDU is the matching service (glo-get-request
must hold a get-request), so a changed tag is refused too.

AES-GCM runs through one cached ``AESGCM`` object per key (at most :data:`GCM_KEYS_CACHED`
keys, least recently used forgotten first). ``AESGCM`` gives and takes 16-byte tags only
(NIST SP 800-38D allows the leftmost 12, as suite 0 uses), so a 12-byte tag is verified
the long way round: the plaintext is the GCM keystream (CTR from J0 + 1, SP 800-38D 7.2)
applied to the ciphertext, which is GCM encryption of the ciphertext under the same IV
without additional data; GCM encryption of that plaintext with the additional data then
gives the full tag, whose leftmost 12 bytes are compared in constant time. Nothing is
returned, and no counter moves, before they match.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from hmac import compare_digest
from typing import Final, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .._buffer import AXDR_LENGTH, Writer, read_ber_length
from ..errors import AuthError, DecodeError, EncodeError
from ..security_state import ReplayFloors
from .axdr import push_length

__all__ = [
    "GCM_KEYS_CACHED",
    "CipheredApdu",
    "CipheredFields",
    "CipheringTag",
    "InvocationCounters",
    "SecurityControl",
    "Suite0Opener",
    "Unprotected",
    "decode_ciphered",
    "encode_ciphered",
    "gcm_open",
    "gcm_seal",
    "gmac_auth_value",
    "protect",
    "split_ciphered",
    "unprotect",
    "unprotect_fields",
    "verify_gmac_auth_value",
]

_LAYER = "dlms-security"

#: Green Book, security suites: the only suite implemented (AES-GCM-128, AES-128 key wrap).
SECURITY_SUITE_0 = 0
#: Green Book, AES-GCM: suite 0 uses a 12-byte authentication tag.
TAG_LENGTH = 12
#: Green Book, system title: 8 bytes (3-byte FLAG manufacturer id + 5 bytes).
SYSTEM_TITLE_LENGTH = 8
#: Green Book, initialization vector: the invocation field is 4 bytes.
INVOCATION_COUNTER_MAX = 0xFFFFFFFF
#: AES-128 key length for suite 0 (EK, AK and dedicated keys alike).
KEY_LENGTH = 16
#: Most keys whose ``AESGCM`` object is kept (about 1.3 KB each, 21 MB when full: a head
#: end's fleet of meters); beyond, the least recently used is forgotten (and built again,
#: about the cost of one GCM call, when next needed).
GCM_KEYS_CACHED: Final = 16384
#: NIST SP 800-38D: the full GCM tag, as ``AESGCM`` appends it.
_FULL_TAG_LENGTH = 16
_CUT_TAG = TAG_LENGTH - _FULL_TAG_LENGTH  # slice end that keeps the leftmost 12 tag bytes

# Security control byte, Green Book (security header of ciphered APDUs).
_SC_SUITE_MASK = 0x0F
_SC_AUTHENTICATED = 0x10
_SC_ENCRYPTED = 0x20
_SC_BROADCAST_KEY = 0x40
_SC_COMPRESSED = 0x80
_SC_AUTHENTICATED_ENCRYPTED = _SC_AUTHENTICATED | _SC_ENCRYPTED  # suite 0, A and E


class CipheringTag(IntEnum):
    """xDLMS tags of ciphered APDUs (IEC 62056-5-3 xDLMS ASN.1; same values in gurux Command)."""

    GLO_INITIATE_REQUEST = 0x21
    GLO_READ_REQUEST = 0x25
    GLO_WRITE_REQUEST = 0x26
    GLO_INITIATE_RESPONSE = 0x28
    GLO_READ_RESPONSE = 0x2C
    GLO_WRITE_RESPONSE = 0x2D
    GLO_CONFIRMED_SERVICE_ERROR = 0x2E
    DED_INITIATE_REQUEST = 0x41
    DED_READ_REQUEST = 0x45
    DED_WRITE_REQUEST = 0x46
    DED_INITIATE_RESPONSE = 0x48
    DED_READ_RESPONSE = 0x4C
    DED_WRITE_RESPONSE = 0x4D
    DED_CONFIRMED_SERVICE_ERROR = 0x4E
    GLO_GET_REQUEST = 0xC8
    GLO_SET_REQUEST = 0xC9
    GLO_EVENT_NOTIFICATION_REQUEST = 0xCA
    GLO_ACTION_REQUEST = 0xCB
    GLO_GET_RESPONSE = 0xCC
    GLO_SET_RESPONSE = 0xCD
    GLO_ACTION_RESPONSE = 0xCF
    DED_GET_REQUEST = 0xD0
    DED_SET_REQUEST = 0xD1
    DED_EVENT_NOTIFICATION_REQUEST = 0xD2
    DED_ACTION_REQUEST = 0xD3
    DED_GET_RESPONSE = 0xD4
    DED_SET_RESPONSE = 0xD5
    DED_ACTION_RESPONSE = 0xD7
    GENERAL_GLO_CIPHERING = 0xDB
    GENERAL_DED_CIPHERING = 0xDC


_GENERAL_TAGS = frozenset({CipheringTag.GENERAL_GLO_CIPHERING, CipheringTag.GENERAL_DED_CIPHERING})
_KNOWN_TAGS = frozenset(int(t) for t in CipheringTag)
_TAG_BY_CODE: dict[int, CipheringTag] = {int(t): t for t in CipheringTag}  # no enum call
_GENERAL_CODES = frozenset(int(t) for t in _GENERAL_TAGS)
_SC_IC = struct.Struct(">BI")  # security control byte, invocation counter
# general-glo/ded-ciphering: tag, title length, title, content length (short form), SC, IC
_GENERAL_HEADER = struct.Struct(">BB8sBBI")
_unpack_general_header = _GENERAL_HEADER.unpack_from
_GENERAL_HEADER_SIZE = _GENERAL_HEADER.size
_GENERAL_LENGTH_AT = 10  # the content length octet, after tag, title length and title
_SHORT_FORM_LIMIT = 0x80  # A-XDR/BER: a length octet below it is the length itself
_U32 = struct.Struct(">I")
_from_bytes: Final = int.from_bytes
#: A general-ciphering APDU whose content length fits the short form ends before this.
_USUAL_END_LIMIT = _GENERAL_HEADER_SIZE + _SHORT_FORM_LIMIT - 5
_ONE_BYTE = tuple(bytes((i,)) for i in range(256))  # the SC byte as additional data
#: The usual header (:class:`Suite0Opener`) read as (tag and title length, title, content
#: length and SC, IC): two checks of two octets each instead of four.
_unpack_usual_header = struct.Struct(">H8sHI").unpack_from
_USUAL_HEADS: Final = frozenset(code << 8 | SYSTEM_TITLE_LENGTH for code in _GENERAL_CODES)
#: An APDU of ``end`` octets in the usual form has content length and SC ``end - this``
#: (the content is SC, IC and the sealed payload: ``end`` less the 11 octets before it).
_USUAL_LENGTH_SC: Final = (_GENERAL_HEADER_SIZE - 5) * 256 - _SC_AUTHENTICATED_ENCRYPTED
#: The header and tag around the plaintext: also the shortest usual APDU (no plaintext).
_USUAL_OVERHEAD: Final = _GENERAL_HEADER_SIZE + TAG_LENGTH


def _plain_tag(tag: int) -> int:
    """Tag of the APDU a service-specific ciphered APDU must contain (IEC 62056-5-3 ASN.1).

    glo- tags are the plain tag + 0x20 (initiate, read, write, confirmed-service-error) or
    + 0x08 (get, set, event-notification, action); ded- tags + 0x40 or + 0x10.
    """
    if tag >= 0xD0:
        return tag - 0x10
    if tag >= 0xC8:
        return tag - 0x08
    return tag - 0x40 if tag >= 0x40 else tag - 0x20


@dataclass(frozen=True, slots=True)
class SecurityControl:
    """The security control byte: suite id (bits 0-3), A, E, key set, compression."""

    suite: int = SECURITY_SUITE_0
    authenticated: bool = False
    encrypted: bool = False
    broadcast_key: bool = False
    compressed: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.suite <= _SC_SUITE_MASK:
            raise ValueError(f"security suite id must be 0..15, got {self.suite}")

    @classmethod
    def from_byte(cls, value: int) -> SecurityControl:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"security control must be one byte, got {value}")
        return cls(
            suite=value & _SC_SUITE_MASK,
            authenticated=bool(value & _SC_AUTHENTICATED),
            encrypted=bool(value & _SC_ENCRYPTED),
            broadcast_key=bool(value & _SC_BROADCAST_KEY),
            compressed=bool(value & _SC_COMPRESSED),
        )

    def to_byte(self) -> int:
        return (
            self.suite
            | (_SC_AUTHENTICATED if self.authenticated else 0)
            | (_SC_ENCRYPTED if self.encrypted else 0)
            | (_SC_BROADCAST_KEY if self.broadcast_key else 0)
            | (_SC_COMPRESSED if self.compressed else 0)
        )

    def __int__(self) -> int:
        return self.to_byte()


# Every security control byte, built once: decoding looks its SecurityControl up here.
_SECURITY_CONTROLS = tuple(SecurityControl.from_byte(i) for i in range(256))


def _sc_refusal(sc: SecurityControl) -> str | None:
    """Why received content under ``sc`` is refused whatever the caller allows, or None."""
    if sc.suite != SECURITY_SUITE_0:
        return f"unknown security suite {sc.suite}"
    if sc.compressed:
        return "compressed APDUs are not supported"
    if not (sc.authenticated or sc.encrypted):
        return "security control applies neither authentication nor encryption"
    return None


# The same checks in the same order, decided once per SC byte.
_SC_REFUSALS = tuple(_sc_refusal(sc) for sc in _SECURITY_CONTROLS)


@dataclass(frozen=True, slots=True)
class CipheredApdu:
    """A ciphered APDU before any key is applied (structure only)."""

    tag: CipheringTag | int
    system_title: bytes | None  # None for service-specific glo-/ded- APDUs
    security_control: SecurityControl
    invocation_counter: int
    payload: bytes  # ciphertext and/or APDU, with the 12-byte tag when A is set


class CipheredFields(NamedTuple):
    """A ciphered APDU's parts as plain values: what :func:`split_ciphered` returns and
    :func:`unprotect_fields` takes as it was returned (the header is parsed once per APDU
    on hot paths)."""

    tag: int  # ciphering tag code (CipheringTag value)
    system_title: bytes | None  # None for service-specific glo-/ded- APDUs
    security_control: int  # the SC byte
    invocation_counter: int
    payload: bytes  # ciphertext and/or APDU, with the 12-byte tag when A is set


_new_fields: Final = tuple.__new__  # CipheredFields without the NamedTuple's Python __new__


@dataclass(frozen=True, slots=True)
class Unprotected:
    """Result of :func:`unprotect`: the plain APDU and the security header it came with."""

    apdu: bytes
    system_title: bytes
    invocation_counter: int
    security_control: SecurityControl
    ciphering_tag: CipheringTag | int = CipheringTag.GENERAL_GLO_CIPHERING


# Slot setters of the frozen Unprotected: unprotect builds one per APDU without the
# per-field object.__setattr__ of the dataclass __init__ (it has no __post_init__ to skip).
_new_object = object.__new__
_set_apdu = Unprotected.__dict__["apdu"].__set__
_set_system_title = Unprotected.__dict__["system_title"].__set__
_set_invocation_counter = Unprotected.__dict__["invocation_counter"].__set__
_set_security_control = Unprotected.__dict__["security_control"].__set__
_set_ciphering_tag = Unprotected.__dict__["ciphering_tag"].__set__


def _unprotected(
    apdu: bytes, title: bytes, ic: int, sc: SecurityControl, tag: CipheringTag
) -> Unprotected:
    """``Unprotected(apdu, title, ic, sc, tag)``, built through the slot setters."""
    result: Unprotected = _new_object(Unprotected)
    _set_apdu(result, apdu)
    _set_system_title(result, title)
    _set_invocation_counter(result, ic)
    _set_security_control(result, sc)
    _set_ciphering_tag(result, tag)
    return result


# --------------------------------------------------------------------------- lengths


def _length_at(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    """(length, next position) of the A-XDR/BER definite length at ``pos``."""
    return read_ber_length(buf, pos, end, _LAYER, "length", AXDR_LENGTH)


# --------------------------------------------------------------------------- wire form


def split_ciphered(data: bytes) -> CipheredFields:
    """(ciphering tag code, system title, SC byte, IC, payload) of a ciphered APDU.

    The parse of :func:`decode_ciphered`, by index on the bytes (no cursor, no objects):
    :func:`unprotect` runs it once per received APDU, a caller that needs the header
    first (the sender's keys) runs it and hands the result to :func:`unprotect_fields`.
    """
    buf = data if data.__class__ is bytes else bytes(data)
    end = len(buf)
    content = end - _GENERAL_HEADER_SIZE + 5  # SC, IC and payload when the header is usual
    if (
        5 < content < _SHORT_FORM_LIMIT
        and buf[_GENERAL_LENGTH_AT] == content
        and buf[1] == SYSTEM_TITLE_LENGTH
        and buf[0] in _GENERAL_CODES
    ):
        # The usual general-glo/ded-ciphering with a title and a short-form content length
        # running to the end: the checks below all pass but the tag length one, made here.
        raw_tag, _, title, _, sc, ic = _unpack_general_header(buf)
        if not sc & _SC_AUTHENTICATED or end - _GENERAL_HEADER_SIZE >= TAG_LENGTH:
            fields: CipheredFields = _new_fields(
                CipheredFields, (raw_tag, title, sc, ic, buf[_GENERAL_HEADER_SIZE:])
            )
            return fields
    if not end:
        raise DecodeError(_LAYER, 0, "ciphering tag: need 1 bytes, 0 left")
    raw_tag = buf[0]
    if raw_tag not in _KNOWN_TAGS:
        raise DecodeError(_LAYER, 0, f"not a ciphered APDU tag: 0x{raw_tag:02X}")
    pos = 1
    system_title: bytes | None = None
    if raw_tag in _GENERAL_CODES:
        if end > 1 and buf[1] == SYSTEM_TITLE_LENGTH:  # the usual short form, read in place
            st_len, pos = SYSTEM_TITLE_LENGTH, 2
        else:
            st_len, pos = _length_at(buf, pos, end)
        if st_len not in (0, SYSTEM_TITLE_LENGTH):
            raise DecodeError(_LAYER, pos, f"system title must be 0 or 8 bytes, found {st_len}")
        if pos + st_len > end:
            raise DecodeError(_LAYER, pos, f"system title: need {st_len} bytes, {end - pos} left")
        system_title = buf[pos : pos + st_len]
        pos += st_len
    if pos < end and buf[pos] < 0x80:
        content_len, start = buf[pos], pos + 1
    else:
        content_len, start = _length_at(buf, pos, end)
    if content_len < 5:
        raise DecodeError(
            _LAYER, start, f"ciphered content of {content_len} bytes is shorter than SC + IC"
        )
    stop = start + content_len
    if stop > end:
        raise DecodeError(
            _LAYER, start, f"ciphered content: need {content_len} bytes, {end - start} left"
        )
    if stop != end:
        raise DecodeError(_LAYER, stop, f"{end - stop} trailing bytes after ciphered content")
    sc, ic = _SC_IC.unpack_from(buf, start)
    payload = buf[start + 5 :]
    if sc & _SC_AUTHENTICATED and len(payload) < TAG_LENGTH:
        raise DecodeError(
            _LAYER,
            start + 5,
            f"authenticated content needs a {TAG_LENGTH}-byte tag, found {len(payload)} bytes",
        )
    split: CipheredFields = _new_fields(CipheredFields, (raw_tag, system_title, sc, ic, payload))
    return split


def decode_ciphered(data: bytes) -> CipheredApdu:
    """Split a ciphered APDU into tag, system title, SC, IC and payload (no crypto)."""
    raw_tag, system_title, sc, ic, payload = split_ciphered(data)
    return CipheredApdu(_TAG_BY_CODE[raw_tag], system_title, _SECURITY_CONTROLS[sc], ic, payload)


def encode_ciphered(apdu: CipheredApdu) -> bytes:
    """Inverse of :func:`decode_ciphered`."""
    w = Writer()
    w.push_uint8(int(apdu.tag))
    if int(apdu.tag) in _GENERAL_TAGS:
        st = apdu.system_title or b""
        push_length(w, len(st))
        w.push_bytes(st)
    elif apdu.system_title is not None:
        raise EncodeError("service-specific ciphered APDUs carry no system title")
    push_length(w, 5 + len(apdu.payload))
    w.push_uint8(apdu.security_control.to_byte())
    w.push_uint32(apdu.invocation_counter)
    w.push_bytes(apdu.payload)
    return w.getvalue()


# --------------------------------------------------------------------------- crypto


def _check_key(name: str, key: bytes) -> None:
    if len(key) != KEY_LENGTH:  # length only: the key itself never goes into a message
        raise ValueError(f"{name} must be {KEY_LENGTH} bytes for suite 0, got {len(key)}")


def _check_title(system_title: bytes) -> None:
    if len(system_title) != SYSTEM_TITLE_LENGTH:
        raise ValueError(f"system title must be 8 bytes, got {len(system_title)}")


def _iv(system_title: bytes, invocation_counter: int) -> bytes:
    if not 0 <= invocation_counter <= INVOCATION_COUNTER_MAX:
        raise ValueError(f"invocation counter out of range: {invocation_counter}")
    return system_title + invocation_counter.to_bytes(4, "big")


@lru_cache(maxsize=GCM_KEYS_CACHED)
def _aead_of(key: bytes) -> AESGCM:
    """The ``AESGCM`` object of ``key`` (cached; the cache shows counts, never keys)."""
    return AESGCM(key)


def _aead(key: bytes) -> AESGCM:
    try:
        return _aead_of(key)
    except TypeError:  # an unhashable bytes-like key (bytearray)
        return _aead_of(bytes(key))


def gcm_seal(key: bytes, iv: bytes, aad: bytes, plaintext: bytes) -> bytes:
    """GCM-AES encryption (NIST SP 800-38D 7.1) with the tag cut to its leftmost 12 bytes
    (Green Book, security suite 0): ciphertext || T."""
    return _aead(key).encrypt(iv, plaintext, aad)[:_CUT_TAG]


def gcm_open(key: bytes, iv: bytes, aad: bytes, sealed: bytes) -> bytes:
    """Inverse of :func:`gcm_seal`: the plaintext of ciphertext || T once the 12-byte tag
    verifies (see the module text), AuthError (naming nothing secret) otherwise."""
    size = len(sealed) - TAG_LENGTH
    if size < 0:
        raise AuthError(
            f"dlms security: a sealed content holds a {TAG_LENGTH}-byte tag, "
            f"found {len(sealed)} bytes"
        )
    aead = _aead(key)
    # GCM's CTR part is its own inverse: GCM encryption of the sealed bytes under the same
    # IV starts with the plaintext. Sealing that plaintext again gives ciphertext || T
    # (and 4 more tag bytes): compared in constant time with the sealed bytes as a whole.
    plaintext = aead.encrypt(iv, sealed, None)[:size]
    if not compare_digest(aead.encrypt(iv, plaintext, aad)[:_CUT_TAG], sealed):
        raise AuthError("dlms security: tag does not verify")
    return plaintext


def _ctr(ek: bytes, iv: bytes, data: bytes) -> bytes:
    # GCM without a tag is its CTR part; the first keystream block is J0 + 1 (NIST SP 800-38D).
    return _aead(ek).encrypt(iv, data, None)[:-_FULL_TAG_LENGTH]


def _as_sc(value: int | SecurityControl) -> SecurityControl:
    return value if isinstance(value, SecurityControl) else SecurityControl.from_byte(value)


def _seal(sc: SecurityControl, iv: bytes, ek: bytes, ak: bytes, apdu: bytes) -> bytes:
    sc_byte = bytes([sc.to_byte()])
    if sc.authenticated and sc.encrypted:
        return gcm_seal(ek, iv, sc_byte + ak, apdu)
    if sc.authenticated:
        return apdu + gcm_seal(ek, iv, sc_byte + ak + apdu, b"")
    return _ctr(ek, iv, apdu)


def protect(
    apdu: bytes,
    *,
    security_control: int | SecurityControl,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    dedicated: bool = False,
    service_tag: int | None = None,
) -> bytes:
    """Cipher ``apdu`` into general-glo-ciphering (or general-ded-ciphering if ``dedicated``).

    ``ek`` is the global (or, when dedicated, the dedicated) encryption key; ``service_tag``
    selects a service-specific glo-/ded- APDU (e.g. 0xC8) instead, without system title.
    """
    sc = _as_sc(security_control)
    if sc.suite != SECURITY_SUITE_0:
        raise ValueError(f"only security suite 0 is implemented, got {sc.suite}")
    if sc.compressed:
        raise ValueError("compression is not implemented")
    if not (sc.authenticated or sc.encrypted):
        raise ValueError("security control applies neither authentication nor encryption")
    _check_key("encryption key", ek)
    _check_key("authentication key", ak)
    _check_title(system_title)
    iv = _iv(system_title, invocation_counter)
    payload = _seal(sc, iv, ek, ak, apdu)
    if service_tag is not None:
        if service_tag not in _KNOWN_TAGS or service_tag in _GENERAL_TAGS:
            raise ValueError(f"not a service-specific ciphering tag: 0x{service_tag:02X}")
        return encode_ciphered(
            CipheredApdu(CipheringTag(service_tag), None, sc, invocation_counter, payload)
        )
    tag = CipheringTag.GENERAL_DED_CIPHERING if dedicated else CipheringTag.GENERAL_GLO_CIPHERING
    return encode_ciphered(CipheredApdu(tag, system_title, sc, invocation_counter, payload))


def _fail(reason: str, system_title: bytes, ic: int) -> AuthError:
    return AuthError(
        f"dlms security: {reason} (system title {system_title.hex().upper()}, "
        f"invocation counter 0x{ic:08X})"
    )


def unprotect(
    data: bytes,
    *,
    ek: bytes,
    ak: bytes,
    counters: InvocationCounters | None = None,
    system_title: bytes | None = None,
    allow_unauthenticated: bool = False,
) -> Unprotected:
    """Verify and decipher a ciphered APDU.

    ``system_title`` is the peer's, needed when the APDU does not carry one (service-specific
    tags, or a zero-length title). ``counters``, when given, rejects replayed or old invocation
    counters and records the accepted one after the tag verifies. Encryption-only content has
    no integrity at all: it is refused unless ``allow_unauthenticated``, and even then its
    counter is only checked, never recorded (a forged counter must not move the window).
    Raises DecodeError on malformed bytes and AuthError on any security failure.
    """
    if len(ek) != KEY_LENGTH or len(ak) != KEY_LENGTH:
        _check_key("encryption key", ek)
        _check_key("authentication key", ak)
    fields = split_ciphered(data)
    apdu = unprotect_fields(
        fields,
        ek=ek,
        ak=ak,
        counters=counters,
        system_title=system_title,
        allow_unauthenticated=allow_unauthenticated,
    )
    title = fields.system_title or system_title
    assert title is not None  # unprotect_fields refuses an APDU without one
    return _unprotected(
        apdu,
        title,
        fields.invocation_counter,
        _SECURITY_CONTROLS[fields.security_control],
        _TAG_BY_CODE[fields.tag],
    )


def unprotect_fields(
    fields: CipheredFields,
    *,
    ek: bytes,
    ak: bytes,
    counters: InvocationCounters | None = None,
    system_title: bytes | None = None,
    allow_unauthenticated: bool = False,
) -> bytes:
    """:func:`unprotect` of an APDU already split by :func:`split_ciphered`: the same
    checks in the same order, the counter rules included; returns the plain APDU."""
    raw_tag, carried_title, sc_byte, ic, payload = fields
    if (
        sc_byte == _SC_AUTHENTICATED_ENCRYPTED
        and counters is None
        and carried_title
        and len(carried_title) == SYSTEM_TITLE_LENGTH
        and raw_tag in _GENERAL_CODES
        and len(ek) == KEY_LENGTH
        and len(ak) == KEY_LENGTH
    ):
        # The usual push: suite 0 authenticated encryption under the carried title, no
        # window to check here: every check below passes, the tag's is the one left
        # (gcm_open inline: this runs once per push).
        try:
            aead = _aead_of(ek)
        except TypeError:
            aead = _aead_of(bytes(ek))
        iv = carried_title + _U32.pack(ic)
        plaintext = aead.encrypt(iv, payload, None)[: len(payload) - TAG_LENGTH]
        if compare_digest(aead.encrypt(iv, plaintext, _ONE_BYTE[sc_byte] + ak)[:_CUT_TAG], payload):
            return plaintext
        raise _fail("tag does not verify", carried_title, ic)
    if len(ek) != KEY_LENGTH or len(ak) != KEY_LENGTH:
        _check_key("encryption key", ek)
        _check_key("authentication key", ak)
    title = carried_title or system_title
    if title is None:
        raise AuthError("dlms security: no system title to form the IV (the APDU carries none)")
    if carried_title is None or len(carried_title) != SYSTEM_TITLE_LENGTH:
        _check_title(title)  # the split checked the APDU's own; this checks the caller's
    refused = _SC_REFUSALS[sc_byte]
    if refused is not None:
        raise _fail(refused, title, ic)
    authenticated = sc_byte & _SC_AUTHENTICATED
    if not authenticated and not allow_unauthenticated:
        raise _fail("encryption without authentication refused", title, ic)
    if counters is not None:
        counters.check(title, ic)
    iv = title + _U32.pack(ic)  # ic came from 4 bytes: always in range
    sc_raw = _ONE_BYTE[sc_byte]
    try:
        if authenticated and sc_byte & _SC_ENCRYPTED:
            apdu = gcm_open(ek, iv, sc_raw + ak, payload)
        elif authenticated:
            apdu = payload[:-TAG_LENGTH]
            gcm_open(ek, iv, sc_raw + ak + apdu, payload[-TAG_LENGTH:])
        else:
            apdu = _ctr(ek, iv, payload)
    except AuthError:
        raise _fail("tag does not verify", title, ic) from None
    if raw_tag not in _GENERAL_CODES and apdu[:1] != _ONE_BYTE[_plain_tag(raw_tag)]:
        # The ciphering tag is outside the authenticated data: bind it to the content here.
        raise _fail(f"ciphering tag 0x{raw_tag:02X} does not match the protected APDU", title, ic)
    if counters is not None and authenticated:
        counters.accept(title, ic)  # only a verified tag may move the window
    return apdu


# --------------------------------------------------------------------------- replay


class Suite0Opener:
    """Opens the usual push under one meter's global keys in one step: a general-glo (or
    general-ded) ciphering APDU with its system title, a short-form content length and
    SC 0x30 (suite 0, authenticated and encrypted).

    :meth:`open_usual` makes the checks :func:`split_ciphered` then :func:`unprotect_fields`
    make on such an APDU, in the same order, with the ``AESGCM`` object and the additional
    data (SC || AK) prepared once: a head end keeps one per meter key. Any other form
    gives None and the caller takes the general path, which decides on it. No counter
    window is checked here (the caller checks it once the tag has verified).
    """

    __slots__ = ("_aad", "_aead")

    def __init__(self, ek: bytes, ak: bytes) -> None:
        _check_key("encryption key", ek)
        _check_key("authentication key", ak)
        self._aead = _aead(bytes(ek))
        self._aad = _ONE_BYTE[_SC_AUTHENTICATED_ENCRYPTED] + bytes(ak)

    def __repr__(self) -> str:
        return "Suite0Opener(<hidden>)"

    def open_usual(self, apdu: bytes) -> tuple[bytes, int, bytes] | None:
        """(system title, invocation counter, plain APDU) of ``apdu`` in the usual form once
        its tag verifies; None when ``apdu`` is not in that form; AuthError (naming the
        title and counter, never a key) when its tag does not verify."""
        end = len(apdu)
        if apdu.__class__ is not bytes or not _USUAL_OVERHEAD <= end < _USUAL_END_LIMIT:
            return None
        head, title, length_sc, ic = _unpack_usual_header(apdu)
        # content length end - 11 (short form) and SC 0x30; a general tag and an 8-octet title
        if length_sc != end * 256 - _USUAL_LENGTH_SC or head not in _USUAL_HEADS:
            return None
        iv = title + apdu[12:16]
        aead = self._aead
        sealed = apdu[_GENERAL_HEADER_SIZE:]
        # gcm_open inline: the keystream gives the plaintext, sealing it again the tag.
        plaintext = aead.encrypt(iv, sealed, None)[: end - _USUAL_OVERHEAD]
        if compare_digest(aead.encrypt(iv, plaintext, self._aad)[:_CUT_TAG], sealed):
            return title, ic, plaintext
        raise _fail("tag does not verify", title, ic)


class InvocationCounters:
    """Last accepted invocation counter per system title.

    Green Book: an IC is never reused with the same key.

    With ``window == 0`` (default) a counter must be strictly greater than the last accepted
    one. With ``window = n`` a counter up to ``n - 1`` below the highest accepted is also taken
    if it has not been seen (a sliding bitmap, as IPsec anti-replay, for UDP reordering).
    Only counters of APDUs whose tag verified are recorded, so forged traffic cannot fill it.

    ``floors`` keeps the highest accepted counter per title in a state store: a window opened
    again on the same floors (after a restart) refuses every counter at or below the stored
    one, since which of them were seen is no longer known.
    """

    __slots__ = ("_state", "floors", "window")

    def __init__(self, window: int = 0, *, floors: ReplayFloors | None = None) -> None:
        if window < 0:
            raise ValueError("window must be >= 0")
        self.window = window
        self.floors = floors
        self._state: dict[bytes, tuple[int, int]] = {}  # title -> (highest, seen bitmap)

    def _load(self, title: bytes) -> tuple[int, int] | None:
        state = self._state.get(title)
        if state is None and self.floors is not None:
            floor = self.floors.floor(title)
            if floor is not None:  # everything up to the stored floor counts as seen
                state = self._state[title] = (floor, (1 << max(self.window, 1)) - 1)
        return state

    def last(self, system_title: bytes) -> int | None:
        state = self._load(bytes(system_title))
        return None if state is None else state[0]

    def check(self, system_title: bytes, invocation_counter: int) -> None:
        """Raise AuthError if ``invocation_counter`` may not be accepted now."""
        title = bytes(system_title)
        state = self._load(title)
        if state is None:
            return
        top, seen = state
        ic = invocation_counter
        if ic > top:
            return
        behind = top - ic
        if behind == 0 or (behind < self.window and seen >> behind & 1):
            raise _fail("replayed invocation counter", title, ic)
        if behind >= self.window:
            limit = "the last accepted" if self.window == 0 else f"the window of {self.window}"
            raise _fail(f"invocation counter older than {limit} (0x{top:08X})", title, ic)

    def accept(self, system_title: bytes, invocation_counter: int) -> None:
        """Check and record ``invocation_counter``; call it only after the tag verified."""
        title = bytes(system_title)
        ic = invocation_counter
        state = self._state.get(title)
        if state is None or ic <= state[0]:
            self.check(title, ic)  # loads the floors of a new title; refuses what it must
            state = self._state.get(title)
        if state is None:
            self._state[title] = (ic, 1)
        else:
            top, seen = state
            if ic <= top:
                self._state[title] = (top, seen | (1 << (top - ic)))
                return
            mask = (1 << max(self.window, 1)) - 1
            self._state[title] = (ic, ((seen << (ic - top)) | 1) & mask)
        if self.floors is not None:
            self.floors.record(title, ic)


# --------------------------------------------------------------------------- HLS-GMAC


def gmac_auth_value(
    challenge: bytes,
    *,
    system_title: bytes,
    invocation_counter: int,
    ek: bytes,
    ak: bytes,
    security_control: int | SecurityControl = _SC_AUTHENTICATED,
) -> bytes:
    """HLS mechanism 5 (GMAC) f(challenge) = SC || IC || GMAC(SC || AK || challenge).

    Green Book, HLS authentication mechanism 5 (GMAC) and its worked example: the client
    computes f(StoC) with its own system title and IC, the server f(CtoS) with its own.
    """
    sc = _as_sc(security_control)
    if sc.encrypted or not sc.authenticated:
        raise ValueError("GMAC needs authentication only (SC 0x10)")
    _check_key("encryption key", ek)
    _check_key("authentication key", ak)
    _check_title(system_title)
    iv = _iv(system_title, invocation_counter)
    sc_byte = bytes([sc.to_byte()])
    tag = gcm_seal(ek, iv, sc_byte + ak + challenge, b"")
    return sc_byte + invocation_counter.to_bytes(4, "big") + tag


def verify_gmac_auth_value(
    value: bytes, challenge: bytes, *, system_title: bytes, ek: bytes, ak: bytes
) -> int:
    """Check the peer's f(challenge); return its invocation counter or raise AuthError."""
    _check_title(system_title)
    if len(value) != 1 + 4 + TAG_LENGTH:
        raise AuthError(
            f"dlms security: GMAC authentication value must be 17 bytes, got {len(value)}"
        )
    sc = SecurityControl.from_byte(value[0])
    ic = int.from_bytes(value[1:5], "big")
    if sc.suite != SECURITY_SUITE_0:
        raise _fail(f"unknown security suite {sc.suite}", system_title, ic)
    if sc.encrypted or not sc.authenticated:
        raise _fail("GMAC authentication value must have SC authentication only", system_title, ic)
    try:
        gcm_open(ek, _iv(system_title, ic), value[:1] + ak + challenge, value[5:])
    except AuthError:
        raise _fail("tag does not verify", system_title, ic) from None
    return ic
