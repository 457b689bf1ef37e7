"""xDLMS InitiateRequest (0x01) / InitiateResponse (0x08), ConfirmedServiceError (0x0E) and
the Conformance block, carried in the ACSE user-information (IEC 62056-5-3 / Green Book 9.5).

These are A-XDR encoded, except the conformance block: BER [APPLICATION 31] BIT STRING (24).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag

from ..._buffer import Cursor, Writer

__all__ = [
    "CONFIRMED_SERVICE_ERROR_TAG",
    "INITIATE_REQUEST_TAG",
    "INITIATE_RESPONSE_TAG",
    "ConfirmedServiceError",
    "Conformance",
    "InitiateRequest",
    "InitiateResponse",
]

# xDLMS (Green Book 9.5): InitiateRequest/Response tags, Conformance [APPLICATION 31].
INITIATE_REQUEST_TAG = 0x01
INITIATE_RESPONSE_TAG = 0x08
CONFIRMED_SERVICE_ERROR_TAG = 0x0E
_CONFORMANCE_TAG = b"\x5f\x1f"
_CONFORMANCE_LEN = 4  # unused-bits octet + 24 bits
DLMS_VERSION = 6
VAA_NAME_LN = 0x0007  # Green Book 9.5: vaa-name of the LN current association


class Conformance(IntFlag):
    """Conformance block (Green Book 9.5), 24-bit BIT STRING as an integer in wire order.

    Spec bit *n* (bit 0 = first, most significant, bit on the wire) is ``1 << (23 - n)``,
    so ``Conformance(int.from_bytes(three_octets, "big"))`` reads the block directly.
    """

    RESERVED_ZERO = 1 << 23
    GENERAL_PROTECTION = 1 << 22
    GENERAL_BLOCK_TRANSFER = 1 << 21
    READ = 1 << 20
    WRITE = 1 << 19
    UNCONFIRMED_WRITE = 1 << 18
    DELTA_VALUE_ENCODING = 1 << 17
    RESERVED_SEVEN = 1 << 16
    ATTRIBUTE0_SUPPORTED_WITH_SET = 1 << 15
    PRIORITY_MGMT_SUPPORTED = 1 << 14
    ATTRIBUTE0_SUPPORTED_WITH_GET = 1 << 13
    BLOCK_TRANSFER_WITH_GET_OR_READ = 1 << 12
    BLOCK_TRANSFER_WITH_SET_OR_WRITE = 1 << 11
    BLOCK_TRANSFER_WITH_ACTION = 1 << 10
    MULTIPLE_REFERENCES = 1 << 9
    INFORMATION_REPORT = 1 << 8
    DATA_NOTIFICATION = 1 << 7
    ACCESS = 1 << 6
    PARAMETERIZED_ACCESS = 1 << 5
    GET = 1 << 4
    SET = 1 << 3
    SELECTIVE_ACCESS = 1 << 2
    EVENT_NOTIFICATION = 1 << 1
    ACTION = 1 << 0


def _mask(value: bytes | None) -> str:
    return "None" if value is None else f"<{len(value)} bytes>"


def _push_len(w: Writer, n: int) -> None:
    # A-XDR length of the dedicated key (16 bytes for AES-128: always the short form)
    if n >= 0x80:
        w.push_uint8(0x81)
    w.push_uint8(n)


def _pull_len(cur: Cursor) -> int:
    at = cur.offset
    n = cur.pull_uint8("length")
    if n >= 0x80:
        if n != 0x81:
            raise cur.error(f"unsupported length octet 0x{n:02X}", at)
        n = cur.pull_uint8("length")
        if n < 0x80:
            raise cur.error("length not in its shortest form", at)
    return n


def _push_conformance(w: Writer, conformance: Conformance | int) -> None:
    w.push_bytes(_CONFORMANCE_TAG)
    w.push_uint8(_CONFORMANCE_LEN)
    w.push_uint8(0)  # no unused bits
    w.push_bytes(int(conformance).to_bytes(3, "big"))


def _pull_conformance(cur: Cursor) -> Conformance:
    at = cur.offset
    if cur.pull_bytes(2, "conformance tag") != _CONFORMANCE_TAG:
        raise cur.error("expected conformance tag 5F 1F", at)
    if cur.pull_uint8("conformance length") != _CONFORMANCE_LEN:
        raise cur.error("conformance length must be 4", at + 2)
    if cur.pull_uint8("conformance unused bits") != 0:
        raise cur.error("conformance bit string must have 0 unused bits", at + 3)
    return Conformance(int.from_bytes(cur.pull_bytes(3, "conformance bits"), "big"))


@dataclass(frozen=True, slots=True)
class InitiateRequest:
    """xDLMS InitiateRequest (0x01), the AARQ user-information. ``dedicated_key`` is masked."""

    conformance: Conformance
    client_max_receive_pdu_size: int = 0xFFFF
    dlms_version: int = DLMS_VERSION
    dedicated_key: bytes | None = field(default=None, repr=False)
    response_allowed: bool | None = None  # None: default (TRUE) conveyed by usage flag 0
    quality_of_service: int | None = None

    def __repr__(self) -> str:
        return (
            f"InitiateRequest(conformance={self.conformance!r}, client_max_receive_pdu_size="
            f"{self.client_max_receive_pdu_size}, dlms_version={self.dlms_version}, "
            f"dedicated_key={_mask(self.dedicated_key)}, response_allowed={self.response_allowed}"
            f", quality_of_service={self.quality_of_service})"
        )

    def encode(self) -> bytes:
        w = Writer()
        w.push_uint8(INITIATE_REQUEST_TAG)
        if self.dedicated_key is None:
            w.push_uint8(0)
        else:
            w.push_uint8(1)
            _push_len(w, len(self.dedicated_key))
            w.push_bytes(self.dedicated_key)
        if self.response_allowed is None:
            w.push_uint8(0)
        else:
            w.push_bytes(bytes((1, 1 if self.response_allowed else 0)))
        if self.quality_of_service is None:
            w.push_uint8(0)
        else:
            w.push_uint8(1)
            w.push_uint8(self.quality_of_service & 0xFF)
        w.push_uint8(self.dlms_version)
        _push_conformance(w, self.conformance)
        w.push_uint16(self.client_max_receive_pdu_size)
        return w.getvalue()


def pull_initiate_request(cur: Cursor) -> InitiateRequest:
    key = None
    if _flag(cur, "dedicated-key flag"):
        key = cur.pull_bytes(_pull_len(cur), "dedicated key")
    allowed = None
    if _flag(cur, "response-allowed flag"):
        allowed = _flag(cur, "response-allowed")
    qos = None
    if _flag(cur, "quality-of-service flag"):
        raw = cur.pull_uint8("quality of service")
        qos = raw - 0x100 if raw >= 0x80 else raw  # Integer8
    version = cur.pull_uint8("dlms version")
    conformance = _pull_conformance(cur)
    size = cur.pull_uint16("client max receive pdu size")
    return InitiateRequest(conformance, size, version, key, allowed, qos)


@dataclass(frozen=True, slots=True)
class InitiateResponse:
    """xDLMS InitiateResponse (0x08), the AARE user-information."""

    conformance: Conformance
    server_max_receive_pdu_size: int
    dlms_version: int = DLMS_VERSION
    quality_of_service: int | None = None
    vaa_name: int = VAA_NAME_LN

    def encode(self) -> bytes:
        w = Writer()
        w.push_uint8(INITIATE_RESPONSE_TAG)
        if self.quality_of_service is None:
            w.push_uint8(0)
        else:
            w.push_uint8(1)
            w.push_uint8(self.quality_of_service & 0xFF)
        w.push_uint8(self.dlms_version)
        _push_conformance(w, self.conformance)
        w.push_uint16(self.server_max_receive_pdu_size)
        w.push_uint16(self.vaa_name)
        return w.getvalue()


def pull_initiate_response(cur: Cursor) -> InitiateResponse:
    qos = None
    if _flag(cur, "quality-of-service flag"):
        raw = cur.pull_uint8("quality of service")
        qos = raw - 0x100 if raw >= 0x80 else raw
    version = cur.pull_uint8("dlms version")
    conformance = _pull_conformance(cur)
    size = cur.pull_uint16("server max receive pdu size")
    return InitiateResponse(conformance, size, version, qos, cur.pull_uint16("vaa-name"))


@dataclass(frozen=True, slots=True)
class ConfirmedServiceError:
    """xDLMS ConfirmedServiceError (0x0E): service CHOICE, ServiceError CHOICE, its value."""

    service: int  # 1 = initiateError
    error_type: int  # ServiceError CHOICE, 6 = initiate
    value: int  # e.g. 1 = dlms-version-too-low

    def encode(self) -> bytes:
        return bytes((CONFIRMED_SERVICE_ERROR_TAG, self.service, self.error_type, self.value))


def _flag(cur: Cursor, what: str) -> bool:
    at = cur.offset
    v = cur.pull_uint8(what)
    if v > 1:
        raise cur.error(f"{what}: expected 0 or 1, got {v}", at)
    return v == 1
