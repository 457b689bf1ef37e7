"""EAP packet codec (RFC 3748 §4): Code, Identifier, Length, then Type and Type-Data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from .._buffer import Cursor, Writer
from ..errors import EncodeError

__all__ = [
    "EAP_HEADER_LEN",
    "EAP_TYPE_IDENTITY",
    "EAP_TYPE_NAK",
    "EAP_TYPE_NOTIFICATION",
    "EAP_TYPE_PSK",
    "EapCode",
    "EapPacket",
]

LAYER: Final = "eap"

EAP_HEADER_LEN: Final = 4
"""Code (1) + Identifier (1) + Length (2), RFC 3748 §4."""
EAP_TYPE_IDENTITY: Final = 1  # RFC 3748 §5.1
EAP_TYPE_NOTIFICATION: Final = 2  # RFC 3748 §5.2
EAP_TYPE_NAK: Final = 3  # RFC 3748 §5.3.1 (Legacy Nak, Response only)
EAP_TYPE_PSK: Final = 47  # RFC 4764 §7 (IANA EAP method type)

_MAX_LENGTH: Final = 0xFFFF  # the Length field is 16 bits (RFC 3748 §4)


class EapCode(IntEnum):
    """EAP Code field (RFC 3748 §4, §4.1, §4.2)."""

    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


def _has_type(code: int) -> bool:
    # Request and Response carry a Type octet; Success, Failure and codes we do not know do not
    # (their bytes after the header stay opaque in ``data``).
    return code in (EapCode.REQUEST, EapCode.RESPONSE)


def _code(value: int) -> int:
    try:
        return EapCode(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class EapPacket:
    """One EAP packet.  ``type`` is None for Success/Failure (no Type octet)."""

    code: int
    identifier: int
    type: int | None
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.code <= 0xFF:
            raise ValueError(f"EAP code out of range: {self.code}")
        if not 0 <= self.identifier <= 0xFF:
            raise ValueError(f"EAP identifier out of range: {self.identifier}")
        if _has_type(self.code):
            if self.type is None or not 0 <= self.type <= 0xFF:
                raise ValueError(f"EAP code {self.code} needs a Type 0..255, got {self.type}")
        elif self.type is not None:
            raise ValueError(f"EAP code {self.code} has no Type octet, got {self.type}")
        if self.code in (EapCode.SUCCESS, EapCode.FAILURE) and self.data:
            raise ValueError("EAP Success/Failure carry no data (RFC 3748 §4.2)")

    def encode(self) -> bytes:
        """The packet on the wire, Length filled in."""
        body_len = len(self.data) + (1 if self.type is not None else 0)
        if EAP_HEADER_LEN + body_len > _MAX_LENGTH:
            raise EncodeError(f"EAP packet of {EAP_HEADER_LEN + body_len} bytes exceeds 65535")
        w = Writer()
        w.push_uint8(self.code)
        w.push_uint8(self.identifier)
        w.push_uint16(EAP_HEADER_LEN + body_len)
        if self.type is not None:
            w.push_uint8(self.type)
        w.push_bytes(self.data)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> EapPacket:
        """Parse one packet; octets beyond Length are link padding and ignored (RFC 3748 §4)."""
        cur = Cursor(data, LAYER)
        code = cur.pull_uint8("code")
        identifier = cur.pull_uint8("identifier")
        length = cur.pull_uint16("length")
        if length < EAP_HEADER_LEN:
            raise cur.error(f"length {length} is shorter than the 4-byte header", 2)
        if length > len(data):
            raise cur.error(f"length {length} exceeds the {len(data)} bytes received", 2)
        body = Cursor(data[:length], LAYER, EAP_HEADER_LEN)
        if code in (EapCode.SUCCESS, EapCode.FAILURE):
            body.expect_end("EAP Success/Failure header (RFC 3748 §4.2: length 4)")
            return cls(_code(code), identifier, None, b"")
        if _has_type(code):
            type_ = body.pull_uint8("type")
            return cls(_code(code), identifier, type_, body.pull_rest())
        return cls(_code(code), identifier, None, body.pull_rest())
