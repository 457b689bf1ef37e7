"""xDLMS service APDUs (IEC 62056-5-3 / DLMS UA Green Book 9.5): one decoder, tag decides.

The APDU classes live in ``apdu_get``, ``apdu_set``, ``apdu_action`` and
``apdu_notify``; this module re-exports them and dispatches on the first byte.
ACSE APDUs (AARQ/AARE/RLRQ/RLRE) are in :mod:`..acse`, ciphered APDUs in :mod:`..security`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..._buffer import Cursor
from ...errors import DecodeError
from .action import (
    ACTION_REQUEST_TAG,
    ACTION_RESPONSE_TAG,
    ActionRequest,
    ActionResponse,
    pull_action_request,
    pull_action_response,
)
from .common import (
    LAYER,
    wrap_error,
)
from .get import (
    GET_REQUEST_TAG,
    GET_RESPONSE_TAG,
    GetRequest,
    GetResponse,
    pull_get_request,
    pull_get_response,
)
from .notify import (
    DATA_NOTIFICATION_TAG,
    EVENT_NOTIFICATION_TAG,
    EXCEPTION_RESPONSE_TAG,
    GENERAL_BLOCK_TRANSFER_TAG,
    DataNotification,
    EventNotificationRequest,
    ExceptionResponse,
    GeneralBlockTransfer,
    pull_data_notification,
    pull_event_notification,
    pull_exception_response,
    pull_general_block_transfer,
)
from .set import (
    SET_REQUEST_TAG,
    SET_RESPONSE_TAG,
    SetRequest,
    SetResponse,
    pull_set_request,
    pull_set_response,
)

__all__ = ["UNDECODED_TAGS", "Apdu", "UnknownApdu", "decode_apdu"]


@dataclass(frozen=True, slots=True)
class UnknownApdu:
    """An APDU whose tag this module does not decode (ciphered, SN, ACSE...): kept raw."""

    tag: int
    body: bytes

    def encode(self) -> bytes:
        return bytes((self.tag,)) + self.body


Apdu = (
    GetRequest
    | GetResponse
    | SetRequest
    | SetResponse
    | ActionRequest
    | ActionResponse
    | DataNotification
    | EventNotificationRequest
    | ExceptionResponse
    | GeneralBlockTransfer
    | UnknownApdu
)

_DECODERS: dict[int, Callable[[Cursor], Apdu]] = {
    GET_REQUEST_TAG: pull_get_request,
    GET_RESPONSE_TAG: pull_get_response,
    SET_REQUEST_TAG: pull_set_request,
    SET_RESPONSE_TAG: pull_set_response,
    ACTION_REQUEST_TAG: pull_action_request,
    ACTION_RESPONSE_TAG: pull_action_response,
    DATA_NOTIFICATION_TAG: pull_data_notification,
    EVENT_NOTIFICATION_TAG: pull_event_notification,
    EXCEPTION_RESPONSE_TAG: pull_exception_response,
    GENERAL_BLOCK_TRANSFER_TAG: pull_general_block_transfer,
}


#: XDLMS-APDU tags of the Green Book 9.5 ASN.1 (IEC 62056-5-3 8.5) this module does not
#: decode: short-name services, the InitiateRequest/Response that travel inside AARQ/AARE
#: user-information, and the access/general-ciphering/signing APDUs. Ciphered tags are in
#: :mod:`..security`, the ACSE tags 0x60-0x63 in :mod:`..acse`.
UNDECODED_TAGS: dict[int, str] = {
    0x01: "initiateRequest",
    0x05: "readRequest",
    0x06: "writeRequest",
    0x08: "initiateResponse",
    0x0C: "readResponse",
    0x0D: "writeResponse",
    0x0E: "confirmedServiceError",
    0x16: "unconfirmedWriteRequest",
    0x18: "informationReportRequest",
    0xD9: "access-request",
    0xDA: "access-response",
    0xDD: "general-ciphering",
    0xDF: "general-signing",
}


def _unknown_tag(cur: Cursor, tag: int) -> DecodeError:
    name = UNDECODED_TAGS.get(tag)
    if name is not None:
        return cur.error(f"APDU tag 0x{tag:02X} ({name}) is not decoded here", 0)
    return cur.error(f"unknown APDU tag 0x{tag:02X}: not an xDLMS APDU of Green Book 9.5", 0)


def decode_apdu(data: bytes, *, strict: bool = False) -> Apdu:
    """Decode one whole xDLMS APDU; unknown tags give :class:`UnknownApdu` unless ``strict``.

    With ``strict`` a tag outside the decoders here is refused, naming it when the
    Green Book lists it (:data:`UNDECODED_TAGS`). Raises only
    :class:`~smartmeter_proto.errors.DecodeError` (layer ``"xdlms"``).
    """
    cur = Cursor(data, LAYER)
    try:
        tag = cur.pull_uint8("APDU tag")
        decoder = _DECODERS.get(tag)
        if decoder is None:
            if strict:
                raise _unknown_tag(cur, tag)
            return UnknownApdu(tag, cur.pull_rest())
        apdu = decoder(cur)
        cur.expect_end(type(apdu).__name__)
    except DecodeError as exc:
        raise wrap_error(exc) from None
    return apdu
