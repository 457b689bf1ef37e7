"""ACSE APDUs in BER (AARQ 0x60, AARE 0x61, RLRQ 0x62, RLRE 0x63) with the xDLMS initiate.

IEC 62056-5-3 / DLMS UA Green Book 9.4 (ACSE ASN.1 after ISO/IEC 8650) and 9.5
(InitiateRequest/InitiateResponse, Conformance). Lengths must be minimal (DER-like),
fields in tag order, so that ``encode(decode(b)) == b``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from ..._buffer import Cursor, Writer
from ...errors import EncodeError
from ..apdu.common import enum_or_int
from .ber import (
    CONSTRUCTED,
    CONTEXT,
    LAYER,
    OCTET_STRING,
    context_field,
    expect_tlv,
    pull_auth_value,
    pull_bits_flag,
    pull_fields,
    pull_octets_in,
    pull_oid_arc,
    pull_small_int_in,
    pull_tlv,
    push_auth_value,
    push_bits_flag,
    push_octets_in,
    push_oid,
    push_small_int_in,
    push_tlv,
    wrap,
)
from .initiate import (
    CONFIRMED_SERVICE_ERROR_TAG,
    INITIATE_REQUEST_TAG,
    INITIATE_RESPONSE_TAG,
    ConfirmedServiceError,
    InitiateRequest,
    InitiateResponse,
    pull_initiate_request,
    pull_initiate_response,
)

__all__ = [
    "AARE",
    "AARQ",
    "RLRE",
    "RLRQ",
    "AcseServiceProviderDiagnostic",
    "AcseServiceUserDiagnostic",
    "ApplicationContextName",
    "AssociationResult",
    "MechanismName",
    "ReleaseRequestReason",
    "ReleaseResponseReason",
    "ResultSource",
    "decode_acse",
]

AARQ_TAG = 0x60  # [APPLICATION 0]
AARE_TAG = 0x61  # [APPLICATION 1]
RLRQ_TAG = 0x62  # [APPLICATION 2]
RLRE_TAG = 0x63  # [APPLICATION 3]

# Green Book 9.4: {joint-iso-ccitt(2) country(16) country-name(756) identified-organization(5)
# DLMS-UA(8) application-context(1) | authentication-mechanism-name(2)}, BER-encoded arcs.
_APP_CONTEXT_PREFIX = bytes.fromhex("608574050801")
_MECHANISM_PREFIX = bytes.fromhex("608574050802")


class ApplicationContextName(IntEnum):
    """Last arc of the application context name OID 2.16.756.5.8.1.x."""

    LOGICAL_NAME = 1
    SHORT_NAME = 2
    LOGICAL_NAME_CIPHERED = 3
    SHORT_NAME_CIPHERED = 4


class MechanismName(IntEnum):
    """Last arc of the authentication mechanism OID 2.16.756.5.8.2.x."""

    LOWEST = 0
    LOW = 1
    HIGH = 2
    HIGH_MD5 = 3
    HIGH_SHA1 = 4
    HIGH_GMAC = 5
    HIGH_SHA256 = 6
    HIGH_ECDSA = 7


class AssociationResult(IntEnum):
    ACCEPTED = 0
    REJECTED_PERMANENT = 1
    REJECTED_TRANSIENT = 2


class ResultSource(IntEnum):
    """Associate-source-diagnostic CHOICE: which side produced the diagnostic."""

    SERVICE_USER = 1
    SERVICE_PROVIDER = 2


class AcseServiceUserDiagnostic(IntEnum):
    NULL = 0
    NO_REASON_GIVEN = 1
    APPLICATION_CONTEXT_NAME_NOT_SUPPORTED = 2
    CALLING_AP_TITLE_NOT_RECOGNIZED = 3
    CALLING_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 4
    CALLING_AE_QUALIFIER_NOT_RECOGNIZED = 5
    CALLING_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 6
    CALLED_AP_TITLE_NOT_RECOGNIZED = 7
    CALLED_AP_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 8
    CALLED_AE_QUALIFIER_NOT_RECOGNIZED = 9
    CALLED_AE_INVOCATION_IDENTIFIER_NOT_RECOGNIZED = 10
    AUTHENTICATION_MECHANISM_NAME_NOT_RECOGNISED = 11
    AUTHENTICATION_MECHANISM_NAME_REQUIRED = 12
    AUTHENTICATION_FAILURE = 13
    AUTHENTICATION_REQUIRED = 14


class AcseServiceProviderDiagnostic(IntEnum):
    NULL = 0
    NO_REASON_GIVEN = 1
    NO_COMMON_ACSE_VERSION = 2


class ReleaseRequestReason(IntEnum):
    NORMAL = 0
    URGENT = 1
    USER_DEFINED = 30


class ReleaseResponseReason(IntEnum):
    NORMAL = 0
    NOT_FINISHED = 1
    USER_DEFINED = 30


def _mask(value: bytes | None) -> str:
    return "None" if value is None else f"<{len(value)} bytes>"


UserInformation = InitiateRequest | InitiateResponse | ConfirmedServiceError | bytes


def _encode_user_info(w: Writer, tag: int, info: UserInformation) -> None:
    raw = info if isinstance(info, bytes) else info.encode()
    push_octets_in(w, tag, raw)


def _decode_user_info(sub: Cursor) -> UserInformation:
    inner = expect_tlv(sub, OCTET_STRING, "user-information")
    sub.expect_end("user-information")
    if inner.at_end():
        return b""
    start = inner.offset
    tag = inner.pull_uint8("xDLMS tag")
    info: UserInformation
    if tag == INITIATE_REQUEST_TAG:
        info = pull_initiate_request(inner)
    elif tag == INITIATE_RESPONSE_TAG:
        info = pull_initiate_response(inner)
    elif tag == CONFIRMED_SERVICE_ERROR_TAG:
        info = ConfirmedServiceError(
            inner.pull_uint8("service"), inner.pull_uint8("error type"), inner.pull_uint8("value")
        )
    else:  # ciphered initiate (glo/ded) and others stay raw for the security layer
        inner.offset = start
        return inner.pull_rest()
    inner.expect_end(type(info).__name__)
    return info


# --- ACSE APDUs ------------------------------------------------------------------------------


def _mechanism(sub: Cursor) -> MechanismName | int:
    # mechanism-name [n] IMPLICIT OBJECT IDENTIFIER: the content is the OID itself
    at = sub.offset
    raw = sub.pull_rest()
    if len(raw) != len(_MECHANISM_PREFIX) + 1 or not raw.startswith(_MECHANISM_PREFIX):
        raise sub.error(f"mechanism-name: not 2.16.756.5.8.2.x: {raw.hex()}", at)
    if raw[-1] >= 0x80:
        raise sub.error("mechanism-name: arc out of range", at)
    return enum_or_int(MechanismName, raw[-1])


def _push_mechanism(w: Writer, tag: int, mechanism: MechanismName | int) -> None:
    if not 0 <= mechanism < 0x80:
        raise EncodeError(f"mechanism arc out of range: {mechanism}")
    push_tlv(w, tag, _MECHANISM_PREFIX + bytes((int(mechanism),)))


# (field number, constructed?) per Green Book 9.4 AARQ / AARE ASN.1
_AARQ_FIELDS = dict(
    context_field(n, n not in (0, 10, 11, 29))
    for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 29, 30)
)
_AARE_FIELDS = dict(
    context_field(n, n not in (0, 8, 9, 29)) for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 29, 30)
)
_RELEASE_FIELDS = dict((context_field(0, False), context_field(30, True)))


@dataclass(frozen=True, slots=True)
class AARQ:
    """A-ASSOCIATE request (AARQ, 0x60). ``calling_authentication_value`` is masked in repr."""

    application_context: ApplicationContextName | int = ApplicationContextName.LOGICAL_NAME
    user_information: UserInformation | None = None
    calling_ap_title: bytes | None = None  # the client system title
    mechanism_name: MechanismName | int | None = None
    calling_authentication_value: bytes | None = field(default=None, repr=False)
    sender_acse_requirements: bool | None = None  # True: authentication functional unit
    called_ap_title: bytes | None = None
    called_ae_qualifier: bytes | None = None
    called_ap_invocation_id: int | None = None
    called_ae_invocation_id: int | None = None
    calling_ae_qualifier: bytes | None = None
    calling_ap_invocation_id: int | None = None
    calling_ae_invocation_id: int | None = None
    protocol_version: bool | None = None  # True: version1 bit set
    implementation_information: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"AARQ(application_context={self.application_context!r}, "
            f"calling_ap_title={self.calling_ap_title!r}, "
            f"mechanism_name={self.mechanism_name!r}, "
            f"calling_authentication_value={_mask(self.calling_authentication_value)}, "
            f"user_information={self.user_information!r})"
        )

    def encode(self) -> bytes:
        w = Writer()
        if self.protocol_version is not None:
            push_bits_flag(w, 0x80, self.protocol_version)
        push_oid(w, 0xA1, _APP_CONTEXT_PREFIX, int(self.application_context))
        for tag, octets in ((0xA2, self.called_ap_title), (0xA3, self.called_ae_qualifier)):
            if octets is not None:
                push_octets_in(w, tag, octets)
        for tag, num in (
            (0xA4, self.called_ap_invocation_id),
            (0xA5, self.called_ae_invocation_id),
        ):
            if num is not None:
                push_small_int_in(w, tag, num)
        for tag, octets in ((0xA6, self.calling_ap_title), (0xA7, self.calling_ae_qualifier)):
            if octets is not None:
                push_octets_in(w, tag, octets)
        for tag, num in (
            (0xA8, self.calling_ap_invocation_id),
            (0xA9, self.calling_ae_invocation_id),
        ):
            if num is not None:
                push_small_int_in(w, tag, num)
        if self.sender_acse_requirements is not None:
            push_bits_flag(w, 0x8A, self.sender_acse_requirements)
        if self.mechanism_name is not None:
            _push_mechanism(w, 0x8B, self.mechanism_name)
        if self.calling_authentication_value is not None:
            push_auth_value(w, 0xAC, self.calling_authentication_value)
        if self.implementation_information is not None:
            push_tlv(w, 0x9D, self.implementation_information)
        if self.user_information is not None:
            _encode_user_info(w, 0xBE, self.user_information)
        return wrap(AARQ_TAG, w)


def _pull_aarq(cur: Cursor, at: int) -> AARQ:
    f = pull_fields(cur, _AARQ_FIELDS, "AARQ")
    if 1 not in f:
        raise cur.error("AARQ: application-context-name missing", at)
    octets = {n: pull_octets_in(f[n], "AP title/AE qualifier") for n in (2, 3, 6, 7) if n in f}
    ints = {n: pull_small_int_in(f[n], "invocation identifier") for n in (4, 5, 8, 9) if n in f}
    return AARQ(
        application_context=enum_or_int(
            ApplicationContextName,
            pull_oid_arc(f[1], _APP_CONTEXT_PREFIX, "application-context-name"),
        ),
        user_information=_decode_user_info(f[30]) if 30 in f else None,
        calling_ap_title=octets.get(6),
        mechanism_name=_mechanism(f[11]) if 11 in f else None,
        calling_authentication_value=pull_auth_value(f[12], "calling-authentication-value")
        if 12 in f
        else None,
        sender_acse_requirements=pull_bits_flag(f[10], "sender-acse-requirements")
        if 10 in f
        else None,
        called_ap_title=octets.get(2),
        called_ae_qualifier=octets.get(3),
        called_ap_invocation_id=ints.get(4),
        called_ae_invocation_id=ints.get(5),
        calling_ae_qualifier=octets.get(7),
        calling_ap_invocation_id=ints.get(8),
        calling_ae_invocation_id=ints.get(9),
        protocol_version=pull_bits_flag(f[0], "protocol-version") if 0 in f else None,
        implementation_information=f[29].pull_rest() if 29 in f else None,
    )


@dataclass(frozen=True, slots=True)
class AARE:
    """A-ASSOCIATE response (AARE, 0x61). ``responding_authentication_value`` is masked."""

    result: AssociationResult | int = AssociationResult.ACCEPTED
    result_source: ResultSource | int = ResultSource.SERVICE_USER
    diagnostic: AcseServiceUserDiagnostic | AcseServiceProviderDiagnostic | int = 0
    application_context: ApplicationContextName | int = ApplicationContextName.LOGICAL_NAME
    user_information: UserInformation | None = None
    responding_ap_title: bytes | None = None  # the server system title
    mechanism_name: MechanismName | int | None = None
    responding_authentication_value: bytes | None = field(default=None, repr=False)
    responder_acse_requirements: bool | None = None
    responding_ae_qualifier: bytes | None = None
    responding_ap_invocation_id: int | None = None
    responding_ae_invocation_id: int | None = None
    protocol_version: bool | None = None
    implementation_information: bytes | None = None

    def __repr__(self) -> str:
        return (
            f"AARE(result={self.result!r}, result_source={self.result_source!r}, "
            f"diagnostic={self.diagnostic!r}, application_context={self.application_context!r}, "
            f"responding_ap_title={self.responding_ap_title!r}, "
            f"mechanism_name={self.mechanism_name!r}, responding_authentication_value="
            f"{_mask(self.responding_authentication_value)}, "
            f"user_information={self.user_information!r})"
        )

    def encode(self) -> bytes:
        w = Writer()
        if self.protocol_version is not None:
            push_bits_flag(w, 0x80, self.protocol_version)
        push_oid(w, 0xA1, _APP_CONTEXT_PREFIX, int(self.application_context))
        push_small_int_in(w, 0xA2, int(self.result))
        source = int(self.result_source)
        if source not in (ResultSource.SERVICE_USER, ResultSource.SERVICE_PROVIDER):
            raise EncodeError(f"result_source must be 1 or 2, got {source}")
        diag = Writer()
        push_small_int_in(diag, CONTEXT | CONSTRUCTED | source, int(self.diagnostic))
        push_tlv(w, 0xA3, diag.getvalue())
        if self.responding_ap_title is not None:
            push_octets_in(w, 0xA4, self.responding_ap_title)
        if self.responding_ae_qualifier is not None:
            push_octets_in(w, 0xA5, self.responding_ae_qualifier)
        if self.responding_ap_invocation_id is not None:
            push_small_int_in(w, 0xA6, self.responding_ap_invocation_id)
        if self.responding_ae_invocation_id is not None:
            push_small_int_in(w, 0xA7, self.responding_ae_invocation_id)
        if self.responder_acse_requirements is not None:
            push_bits_flag(w, 0x88, self.responder_acse_requirements)
        if self.mechanism_name is not None:
            _push_mechanism(w, 0x89, self.mechanism_name)
        if self.responding_authentication_value is not None:
            push_auth_value(w, 0xAA, self.responding_authentication_value)
        if self.implementation_information is not None:
            push_tlv(w, 0x9D, self.implementation_information)
        if self.user_information is not None:
            _encode_user_info(w, 0xBE, self.user_information)
        return wrap(AARE_TAG, w)


def _pull_aare(cur: Cursor, at: int) -> AARE:
    f = pull_fields(cur, _AARE_FIELDS, "AARE")
    for n, name in ((1, "application-context-name"), (2, "result"), (3, "diagnostic")):
        if n not in f:
            raise cur.error(f"AARE: {name} missing", at)
    d_tag, d_at, d_sub = pull_tlv(f[3], "result-source-diagnostic")
    f[3].expect_end("result-source-diagnostic")
    source = d_tag & 0x1F
    if d_tag & 0xE0 != CONTEXT | CONSTRUCTED or source not in (1, 2):
        raise f[3].error(f"result-source-diagnostic: unexpected tag 0x{d_tag:02X}", d_at)
    raw_diag = pull_small_int_in(d_sub, "diagnostic")
    diagnostic: AcseServiceUserDiagnostic | AcseServiceProviderDiagnostic | int
    if source == ResultSource.SERVICE_USER:
        diagnostic = enum_or_int(AcseServiceUserDiagnostic, raw_diag)
    else:
        diagnostic = enum_or_int(AcseServiceProviderDiagnostic, raw_diag)
    return AARE(
        result=enum_or_int(AssociationResult, pull_small_int_in(f[2], "result")),
        result_source=ResultSource(source),
        diagnostic=diagnostic,
        application_context=enum_or_int(
            ApplicationContextName,
            pull_oid_arc(f[1], _APP_CONTEXT_PREFIX, "application-context-name"),
        ),
        user_information=_decode_user_info(f[30]) if 30 in f else None,
        responding_ap_title=pull_octets_in(f[4], "responding-AP-title") if 4 in f else None,
        mechanism_name=_mechanism(f[9]) if 9 in f else None,
        responding_authentication_value=pull_auth_value(f[10], "responding-authentication-value")
        if 10 in f
        else None,
        responder_acse_requirements=pull_bits_flag(f[8], "responder-acse-requirements")
        if 8 in f
        else None,
        responding_ae_qualifier=pull_octets_in(f[5], "responding-AE-qualifier") if 5 in f else None,
        responding_ap_invocation_id=pull_small_int_in(f[6], "invocation id") if 6 in f else None,
        responding_ae_invocation_id=pull_small_int_in(f[7], "invocation id") if 7 in f else None,
        protocol_version=pull_bits_flag(f[0], "protocol-version") if 0 in f else None,
        implementation_information=f[29].pull_rest() if 29 in f else None,
    )


def _release_reason(sub: Cursor) -> int:
    at = sub.offset
    raw = sub.pull_rest()
    if len(raw) != 1 or raw[0] >= 0x80:
        raise sub.error("release reason: expected a one-octet INTEGER", at)
    return raw[0]


@dataclass(frozen=True, slots=True)
class RLRQ:
    """A-RELEASE request (RLRQ, 0x62): reason and optional user-information."""

    reason: ReleaseRequestReason | int | None = ReleaseRequestReason.NORMAL
    user_information: UserInformation | None = None

    def encode(self) -> bytes:
        w = Writer()
        if self.reason is not None:
            push_tlv(w, 0x80, bytes((int(self.reason),)))
        if self.user_information is not None:
            _encode_user_info(w, 0xBE, self.user_information)
        return wrap(RLRQ_TAG, w)


@dataclass(frozen=True, slots=True)
class RLRE:
    """A-RELEASE response (RLRE, 0x63): reason and optional user-information."""

    reason: ReleaseResponseReason | int | None = ReleaseResponseReason.NORMAL
    user_information: UserInformation | None = None

    def encode(self) -> bytes:
        w = Writer()
        if self.reason is not None:
            push_tlv(w, 0x80, bytes((int(self.reason),)))
        if self.user_information is not None:
            _encode_user_info(w, 0xBE, self.user_information)
        return wrap(RLRE_TAG, w)


def _pull_rlrq(cur: Cursor, at: int) -> RLRQ:
    f = pull_fields(cur, _RELEASE_FIELDS, "RLRQ")
    return RLRQ(
        enum_or_int(ReleaseRequestReason, _release_reason(f[0])) if 0 in f else None,
        _decode_user_info(f[30]) if 30 in f else None,
    )


def _pull_rlre(cur: Cursor, at: int) -> RLRE:
    f = pull_fields(cur, _RELEASE_FIELDS, "RLRE")
    return RLRE(
        enum_or_int(ReleaseResponseReason, _release_reason(f[0])) if 0 in f else None,
        _decode_user_info(f[30]) if 30 in f else None,
    )


AcseApdu = AARQ | AARE | RLRQ | RLRE
_DECODERS: dict[int, Callable[[Cursor, int], AcseApdu]] = {
    AARQ_TAG: _pull_aarq,
    AARE_TAG: _pull_aare,
    RLRQ_TAG: _pull_rlrq,
    RLRE_TAG: _pull_rlre,
}


def decode_acse(data: bytes) -> AcseApdu:
    """Decode one whole ACSE APDU (AARQ/AARE/RLRQ/RLRE); raises only DecodeError("acse")."""
    cur = Cursor(data, LAYER)
    tag, at, body = pull_tlv(cur, "ACSE APDU")
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise cur.error(f"not an ACSE APDU tag: 0x{tag:02X}", at)
    cur.expect_end("ACSE APDU")
    apdu: AcseApdu = decoder(body, at)
    return apdu
