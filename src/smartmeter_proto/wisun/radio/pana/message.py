"""PANA (RFC 5191) message and AVP codec, AUTH computation and PANA_AUTH_KEY derivation.

The B-route's network access authentication: EAP-PSK carried by PANA over UDP
port 716 between the HEMS controller (PaC) and the meter (PAA). Pure functions
and frozen wire objects; the state machines live in :mod:`.session`.
Sources: RFC 5191 sections 5.3, 6, 8 (wire format, key derivation, AVPs),
RFC 5872 / IANA "PANA Parameters" registry (codes), RFC 4306 section 2.13 (prf+),
RFC 4868 / RFC 2404 (HMAC-SHA-256-128, HMAC-SHA1 integrity).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field, replace
from enum import IntEnum, IntFlag
from typing import Final

from ...._buffer import Cursor, Writer
from ....errors import DecodeError, EncodeError

__all__ = [
    "AVP_FLAG_VENDOR",
    "HEADER_LEN",
    "LAYER",
    "MAX_MESSAGE_SIZE",
    "PANA_UDP_PORT",
    "Avp",
    "AvpCode",
    "Flag",
    "IntegrityAlgorithm",
    "MaskedKey",
    "MessageType",
    "PanaMessage",
    "PrfAlgorithm",
    "ResultCode",
    "TerminationCause",
    "compute_auth",
    "decode",
    "derive_auth_key",
    "encode",
    "prf_plus",
    "sign",
    "verify",
]

LAYER: Final = "pana"
PANA_UDP_PORT: Final = 716  # RFC 5191 section 10 (IANA "pana-agent" port)
HEADER_LEN: Final = 16  # RFC 5191 section 6.2
AVP_HEADER_LEN: Final = 8  # RFC 5191 section 6.3, without the optional Vendor-Id
AVP_FLAG_VENDOR: Final = 0x8000  # RFC 5191 section 6.3, 'V' bit
# Our bound on one PANA message: the IPv6 minimum MTU (RFC 8200 section 5); an
# EAP-PSK exchange never comes near it (the largest capture is 104 bytes).
MAX_MESSAGE_SIZE: Final = 1280
_U32_AVPS_LEN: Final = 4  # Unsigned32 AVPs, RFC 5191 sections 8.3-8.9


class MessageType(IntEnum):
    """RFC 5191 section 7 / IANA PANA "Message Types"."""

    CLIENT_INITIATION = 1  # PCI
    AUTH = 2  # PAR / PAN
    TERMINATION = 3  # PTR / PTA
    NOTIFICATION = 4  # PNR / PNA


class Flag(IntFlag):
    """RFC 5191 section 6.2 message flags (bit 0 is the most significant)."""

    REQUEST = 0x8000  # R
    START = 0x4000  # S
    COMPLETE = 0x2000  # C
    REAUTH = 0x1000  # A
    PING = 0x0800  # P
    IP_RECONFIG = 0x0400  # I


class AvpCode(IntEnum):
    """RFC 5191 section 8 AVP codes."""

    AUTH = 1
    EAP_PAYLOAD = 2
    INTEGRITY_ALGORITHM = 3
    KEY_ID = 4
    NONCE = 5
    PRF_ALGORITHM = 6
    RESULT_CODE = 7
    SESSION_LIFETIME = 8
    TERMINATION_CAUSE = 9


class ResultCode(IntEnum):
    """RFC 5191 section 8.7 Result-Code values."""

    PANA_SUCCESS = 0
    PANA_AUTHENTICATION_REJECTED = 1
    PANA_AUTHORIZATION_REJECTED = 2


class TerminationCause(IntEnum):
    """RFC 5191 section 8.9: the Diameter Termination-Cause values PANA uses (RFC 6733 8.15)."""

    LOGOUT = 1  # PaC -> PAA
    ADMINISTRATIVE = 4  # PAA -> PaC
    SESSION_TIMEOUT = 8  # PAA -> PaC


class PrfAlgorithm(IntEnum):
    """IKEv2 transform type 2 values (RFC 5191 section 8.6 points to the IKEv2 registry)."""

    PRF_HMAC_SHA1 = 2  # mandatory to implement, RFC 5191 section 5.3
    PRF_HMAC_SHA2_256 = 5  # RFC 4868; what B-route meters offer (captures in the tests)


class IntegrityAlgorithm(IntEnum):
    """IKEv2 transform type 3 values (RFC 5191 section 8.3)."""

    AUTH_HMAC_SHA1_160 = 7  # mandatory to implement, RFC 5191 section 5.4 (RFC 4595)
    AUTH_HMAC_SHA2_256_128 = 12  # RFC 4868


# hash, key length (bytes of PANA_AUTH_KEY), AUTH value length
_INTEGRITY: Final[dict[int, tuple[str, int, int]]] = {
    IntegrityAlgorithm.AUTH_HMAC_SHA1_160: ("sha1", 20, 20),
    IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128: ("sha256", 32, 16),
}
_PRF: Final[dict[int, str]] = {
    PrfAlgorithm.PRF_HMAC_SHA1: "sha1",
    PrfAlgorithm.PRF_HMAC_SHA2_256: "sha256",
}


@dataclass(frozen=True, slots=True, eq=False)
class MaskedKey:
    """Key bytes that never show in ``repr``; equality is constant-time."""

    _value: bytes = field(repr=False)

    def reveal(self) -> bytes:
        """The raw key, for the caller that must hand it to a cipher."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MaskedKey):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(hashlib.sha256(self._value).digest())

    def __repr__(self) -> str:
        return f"MaskedKey(<{len(self._value)} bytes>)"


@dataclass(frozen=True, slots=True)
class Avp:
    """One AVP (RFC 5191 section 6.3): ``flags`` raw, ``vendor_id`` present iff the V bit is."""

    code: int
    value: bytes
    flags: int = 0
    vendor_id: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0xFFFF or not 0 <= self.flags <= 0xFFFF:
            raise ValueError("AVP code and flags are 16-bit")
        if (self.vendor_id is not None) != bool(self.flags & AVP_FLAG_VENDOR):
            raise ValueError("vendor_id must be given exactly when the V flag is set")
        if self.vendor_id is not None and not 0 <= self.vendor_id <= 0xFFFFFFFF:
            raise ValueError("vendor_id is 32-bit")
        if len(self.value) > 0xFFFF:
            raise ValueError("AVP value longer than 65535 bytes")

    @classmethod
    def u32(cls, code: int, value: int) -> Avp:
        """An Unsigned32 AVP (Integrity/PRF-Algorithm, Key-Id, Result-Code, ...)."""
        return cls(code, value.to_bytes(4, "big"))

    def as_u32(self) -> int:
        if len(self.value) != _U32_AVPS_LEN:
            raise DecodeError(LAYER, 0, f"AVP {self.code} is not 4 bytes")
        return int.from_bytes(self.value, "big")


@dataclass(frozen=True, slots=True)
class PanaMessage:
    """A PANA message (RFC 5191 section 6.2); ``flags`` and ``message_type`` keep raw ints."""

    flags: int
    message_type: int
    session_id: int
    sequence: int
    avps: tuple[Avp, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.flags <= 0xFFFF or not 0 <= self.message_type <= 0xFFFF:
            raise ValueError("flags and message type are 16-bit")
        if not 0 <= self.session_id <= 0xFFFFFFFF or not 0 <= self.sequence <= 0xFFFFFFFF:
            raise ValueError("session id and sequence number are 32-bit")

    @property
    def is_request(self) -> bool:
        return bool(self.flags & Flag.REQUEST)

    def has(self, flag: Flag) -> bool:
        return bool(self.flags & flag)

    @property
    def name(self) -> str:
        """The RFC 5191 abbreviation (PCI, PAR, PAN, PTR, PTA, PNR, PNA) or ``type N``."""
        names = {1: ("PCI", "PCI"), 2: ("PAN", "PAR"), 3: ("PTA", "PTR"), 4: ("PNA", "PNR")}
        pair = names.get(self.message_type)
        return pair[self.is_request] if pair else f"type {self.message_type}"

    def find(self, code: int) -> Avp | None:
        """The first non-vendor AVP with ``code``, or None."""
        for avp in self.avps:
            if avp.code == code and avp.vendor_id is None:
                return avp
        return None

    def find_all(self, code: int) -> list[Avp]:
        return [a for a in self.avps if a.code == code and a.vendor_id is None]

    def u32(self, code: int) -> int | None:
        avp = self.find(code)
        return None if avp is None else avp.as_u32()

    def bytes_of(self, code: int) -> bytes | None:
        avp = self.find(code)
        return None if avp is None else avp.value

    def u32_list(self, code: int) -> list[int]:
        return [a.as_u32() for a in self.find_all(code)]


def encode(message: PanaMessage) -> bytes:
    """The wire bytes of ``message`` (length filled in, AVPs padded to 4 bytes)."""
    w = Writer()
    w.push_uint16(0)  # Reserved
    body = Writer()
    for avp in message.avps:
        body.push_uint16(avp.code)
        body.push_uint16(avp.flags)
        body.push_uint16(len(avp.value))
        body.push_uint16(0)  # Reserved
        if avp.vendor_id is not None:
            body.push_uint32(avp.vendor_id)
        body.push_bytes(avp.value)
        body.push_bytes(bytes(-len(avp.value) % 4))
    length = HEADER_LEN + len(body)
    if length > 0xFFFF:
        raise EncodeError(f"PANA message of {length} bytes exceeds the 16-bit length")
    w.push_uint16(length)
    w.push_uint16(message.flags)
    w.push_uint16(message.message_type)
    w.push_uint32(message.session_id)
    w.push_uint32(message.sequence)
    w.push_bytes(body.getvalue())
    return w.getvalue()


def decode(data: bytes, *, max_size: int = MAX_MESSAGE_SIZE) -> PanaMessage:
    """Parse one PANA message; :class:`DecodeError` on anything malformed or over ``max_size``.

    Strict so that ``encode(decode(b)) == b``: reserved fields and AVP padding must be zero.
    Unsigned32 AVPs of RFC 5191 (codes 3, 4, 6, 7, 8, 9) must be 4 bytes long.
    """
    if len(data) > max_size:
        raise DecodeError(LAYER, 0, f"message of {len(data)} bytes exceeds the {max_size} limit")
    c = Cursor(data, LAYER)
    if c.pull_uint16("reserved") != 0:
        raise c.error("reserved header field is not zero", 0)
    length = c.pull_uint16("message length")
    if length != len(data):
        raise c.error(f"message length field says {length}, datagram has {len(data)}", 2)
    flags = c.pull_uint16("flags")
    message_type = c.pull_uint16("message type")
    session_id = c.pull_uint32("session identifier")
    sequence = c.pull_uint32("sequence number")
    avps: list[Avp] = []
    while not c.at_end():
        start = c.offset
        code = c.pull_uint16("AVP code")
        avp_flags = c.pull_uint16("AVP flags")
        value_len = c.pull_uint16("AVP length")
        if c.pull_uint16("AVP reserved") != 0:
            raise c.error("AVP reserved field is not zero", c.offset - 2)
        vendor = c.pull_uint32("vendor id") if avp_flags & AVP_FLAG_VENDOR else None
        value = c.pull_bytes(value_len, f"AVP {code} value")
        pad_at = c.offset
        if c.pull_bytes(-value_len % 4, f"AVP {code} padding").strip(b"\x00"):
            raise c.error("AVP padding is not zero", pad_at)
        if vendor is None and code in _U32_CODES and value_len != _U32_AVPS_LEN:
            raise c.error(f"AVP {code} must be 4 bytes, has {value_len}", start)
        avps.append(Avp(code, value, avp_flags, vendor))
    return PanaMessage(flags, message_type, session_id, sequence, tuple(avps))


_U32_CODES: Final = frozenset(
    {
        AvpCode.INTEGRITY_ALGORITHM,
        AvpCode.KEY_ID,
        AvpCode.PRF_ALGORITHM,
        AvpCode.RESULT_CODE,
        AvpCode.SESSION_LIFETIME,
        AvpCode.TERMINATION_CAUSE,
    }
)


def prf_plus(prf: int, key: bytes, seed: bytes, length: int) -> bytes:
    """IKEv2 prf+ (RFC 4306 section 2.13): T1 | T2 | ... truncated to ``length`` bytes."""
    name = _PRF.get(prf)
    if name is None:
        raise ValueError(f"unsupported PRF algorithm {prf}")
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        if counter > 255:
            raise ValueError("prf+ output longer than 255 blocks")
        block = hmac.new(key, block + seed + bytes([counter]), name).digest()
        out += block
        counter += 1
    return out[:length]


def auth_key_length(integrity: int) -> int:
    """Bytes of PANA_AUTH_KEY for ``integrity`` (the HMAC key length of the algorithm)."""
    try:
        return _INTEGRITY[integrity][1]
    except KeyError:
        raise ValueError(f"unsupported integrity algorithm {integrity}") from None


def auth_value_length(integrity: int) -> int:
    """Bytes of the AUTH AVP value for ``integrity`` (20 for SHA1-160, 16 for SHA2-256-128)."""
    try:
        return _INTEGRITY[integrity][2]
    except KeyError:
        raise ValueError(f"unsupported integrity algorithm {integrity}") from None


def derive_auth_key(
    prf: int,
    integrity: int,
    msk: bytes,
    i_par: bytes,
    i_pan: bytes,
    pac_nonce: bytes,
    paa_nonce: bytes,
    key_id: int,
) -> MaskedKey:
    """PANA_AUTH_KEY = prf+(MSK, "IETF PANA" | I_PAR | I_PAN | PaC_nonce | PAA_nonce | Key_ID).

    RFC 5191 section 5.3: I_PAR / I_PAN are the initial PAR and PAN (the 'S' ones),
    the nonces those of the current (re-)authentication phase, Key_ID the Key-Id AVP value.
    """
    seed = b"IETF PANA" + i_par + i_pan + pac_nonce + paa_nonce + key_id.to_bytes(4, "big")
    return MaskedKey(prf_plus(prf, msk, seed, auth_key_length(integrity)))


def compute_auth(integrity: int, key: MaskedKey, pdu: bytes) -> bytes:
    """PANA_AUTH_HASH(PANA_AUTH_KEY, PANA_PDU), truncated per algorithm (RFC 5191 section 5.4)."""
    try:
        name, _, size = _INTEGRITY[integrity]
    except KeyError:
        raise ValueError(f"unsupported integrity algorithm {integrity}") from None
    return hmac.new(key.reveal(), pdu, name).digest()[:size]


def sign(message: PanaMessage, integrity: int, key: MaskedKey) -> bytes:
    """Encode ``message`` with an AUTH AVP appended last, its value the HMAC of the zeroed PDU."""
    size = auth_value_length(integrity)
    others = tuple(a for a in message.avps if not (a.code == AvpCode.AUTH and a.vendor_id is None))
    blank = PanaMessage(
        message.flags,
        message.message_type,
        message.session_id,
        message.sequence,
        (*others, Avp(AvpCode.AUTH, bytes(size))),
    )
    pdu = encode(blank)
    return pdu[:-size] + compute_auth(integrity, key, pdu)


def verify(message: PanaMessage, integrity: int, key: MaskedKey) -> bool:
    """Whether ``message`` carries exactly one AUTH AVP whose value checks out.

    Relies on the strict codec: re-encoding with the AUTH value zeroed gives the PDU
    the peer hashed.
    """
    auths = [
        i for i, a in enumerate(message.avps) if a.code == AvpCode.AUTH and a.vendor_id is None
    ]
    if len(auths) != 1:
        return False
    index = auths[0]
    received = message.avps[index].value
    if len(received) != auth_value_length(integrity):
        return False
    avps = list(message.avps)
    avps[index] = replace(avps[index], value=bytes(len(received)))  # flags stay as sent
    blank = PanaMessage(
        message.flags, message.message_type, message.session_id, message.sequence, tuple(avps)
    )
    return hmac.compare_digest(received, compute_auth(integrity, key, encode(blank)))
