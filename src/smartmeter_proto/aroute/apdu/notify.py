"""Unconfirmed and support APDUs, IEC 62056-5-3 / Green Book 9.5.

DataNotification (0x0F), EventNotificationRequest (0xC2), ExceptionResponse (0xD8)
and general-block-transfer (0xE0).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from ..._buffer import Cursor, Writer
from ...errors import EncodeError
from ..axdr import Data, push_data
from .common import (
    CosemAttributeDescriptor,
    LongInvokeIdAndPriority,
    check_uint,
    enum_or_int,
    pull_data_field,
    pull_flag,
    pull_octets,
    push_octets,
)

__all__ = [
    "DATA_NOTIFICATION_TAG",
    "EVENT_NOTIFICATION_TAG",
    "EXCEPTION_RESPONSE_TAG",
    "GENERAL_BLOCK_TRANSFER_TAG",
    "DataNotification",
    "EventNotificationRequest",
    "ExceptionResponse",
    "ExceptionServiceError",
    "ExceptionStateError",
    "GeneralBlockTransfer",
]

# IEC 62056-5-3 XDLMS-APDU tags (gurux-dlms Command enum agrees).
DATA_NOTIFICATION_TAG = 0x0F
EVENT_NOTIFICATION_TAG = 0xC2
EXCEPTION_RESPONSE_TAG = 0xD8
GENERAL_BLOCK_TRANSFER_TAG = 0xE0

# Green Book 9.5 general-block-transfer block-control: bit 7 last block, bit 6 streaming,
# bits 0-5 window size.
_GBT_LAST = 0x80
_GBT_STREAMING = 0x40
_GBT_WINDOW = 0x3F


class ExceptionStateError(IntEnum):
    """ExceptionResponse state-error."""

    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ExceptionServiceError(IntEnum):
    """ExceptionResponse service-error CHOICE index."""

    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6  # carries the expected invocation counter (Unsigned32)


@dataclass(frozen=True, slots=True)
class DataNotification:
    """Data-Notification: pushed data (unconfirmed), optional date-time octet string.

    ``date_time`` is the raw octet string (normally the 12-byte COSEM date-time,
    see :class:`~smartmeter_proto.aroute.axdr.CosemDateTime`); ``None`` is
    the empty string (length 0).
    """

    body: Data
    date_time: bytes | None = None
    long_invoke: LongInvokeIdAndPriority = field(default=LongInvokeIdAndPriority())

    def encode(self) -> bytes:
        if self.date_time == b"":
            raise EncodeError("date_time: use None for an absent date-time, not b''")
        w = Writer()
        w.push_uint8(DATA_NOTIFICATION_TAG)
        w.push_uint32(self.long_invoke.to_int())
        push_octets(w, self.date_time or b"")
        push_data(w, self.body)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class EventNotificationRequest:
    """Event-Notification-Request: optional time, the attribute and its value."""

    attribute: CosemAttributeDescriptor
    value: Data
    time: bytes | None = None

    def encode(self) -> bytes:
        w = Writer()
        w.push_uint8(EVENT_NOTIFICATION_TAG)
        if self.time is None:
            w.push_uint8(0)
        else:
            w.push_uint8(1)
            push_octets(w, self.time)
        self.attribute.push(w)
        push_data(w, self.value)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    """ExceptionResponse: state-error and service-error (Green Book 9.5)."""

    state_error: ExceptionStateError | int
    service_error: ExceptionServiceError | int
    invocation_counter: int | None = None  # only with INVOCATION_COUNTER_ERROR

    def encode(self) -> bytes:
        w = Writer()
        w.push_uint8(EXCEPTION_RESPONSE_TAG)
        w.push_uint8(int(self.state_error))
        w.push_uint8(int(self.service_error))
        if self.invocation_counter is not None:
            if self.service_error != ExceptionServiceError.INVOCATION_COUNTER_ERROR:
                raise EncodeError("invocation_counter is only sent with invocation-counter-error")
            w.push_uint32(self.invocation_counter)
        return w.getvalue()


@dataclass(frozen=True, slots=True)
class GeneralBlockTransfer:
    """General-Block-Transfer: block control, block number, acknowledged number, block data."""

    last_block: bool
    block_number: int
    block_number_ack: int
    block_data: bytes
    streaming: bool = False
    window: int = 1

    def encode(self) -> bytes:
        check_uint("window", self.window, _GBT_WINDOW)
        w = Writer()
        w.push_uint8(GENERAL_BLOCK_TRANSFER_TAG)
        w.push_uint8(
            (_GBT_LAST if self.last_block else 0)
            | (_GBT_STREAMING if self.streaming else 0)
            | self.window
        )
        w.push_uint16(self.block_number)
        w.push_uint16(self.block_number_ack)
        push_octets(w, self.block_data)
        return w.getvalue()


# Long-Invoke-Id-And-Priority and a short-form date-time length.
_INVOKE_AND_LENGTH = struct.Struct(">IB")
# Slot setters of the frozen DataNotification: pull_data_notification builds one per push
# without the per-field object.__setattr__ of the dataclass __init__ (no checks to skip).
_new_object = object.__new__
_set_body: Callable[[DataNotification, Data], None] = DataNotification.__dict__["body"].__set__
_set_date_time: Callable[[DataNotification, bytes | None], None] = DataNotification.__dict__[
    "date_time"
].__set__
_set_long_invoke: Callable[[DataNotification, LongInvokeIdAndPriority], None] = (
    DataNotification.__dict__["long_invoke"].__set__
)


def pull_data_notification(cur: Cursor) -> DataNotification:
    """Decode a Data-Notification body (after the 0x0F tag)."""
    buf, at = cur._data, cur.offset  # this package's own cursor: the usual header in place
    if at + 5 <= cur._end and buf[at + 4] < 0x80 and at + 5 + buf[at + 4] <= cur._end:
        raw_invoke, n = _INVOKE_AND_LENGTH.unpack_from(buf, at)
        long_invoke = LongInvokeIdAndPriority.from_int(raw_invoke)
        date_time = buf[at + 5 : at + 5 + n] or None
        cur.offset = at + 5 + n
    else:
        raw_invoke = cur.pull_uint32("long-invoke-id-and-priority")
        long_invoke = LongInvokeIdAndPriority.from_int(raw_invoke)
        date_time = pull_octets(cur, "date-time") or None
    notification: DataNotification = _new_object(DataNotification)
    _set_body(notification, pull_data_field(cur))
    _set_date_time(notification, date_time)
    _set_long_invoke(notification, long_invoke)
    return notification


def pull_event_notification(cur: Cursor) -> EventNotificationRequest:
    """Decode an Event-Notification-Request body (after the 0xC2 tag)."""
    time = pull_octets(cur, "time") if pull_flag(cur, "time flag") else None
    attribute = CosemAttributeDescriptor.pull(cur)
    return EventNotificationRequest(attribute, pull_data_field(cur), time)


def pull_exception_response(cur: Cursor) -> ExceptionResponse:
    """Decode an ExceptionResponse body (after the 0xD8 tag).

    The invocation counter after invocation-counter-error is read when present
    (older encodings, as gurux-dlms also accepts, omit it).
    """
    state = enum_or_int(ExceptionStateError, cur.pull_uint8("state-error"))
    service = enum_or_int(ExceptionServiceError, cur.pull_uint8("service-error"))
    counter = None
    if service == ExceptionServiceError.INVOCATION_COUNTER_ERROR and not cur.at_end():
        counter = cur.pull_uint32("invocation counter")
    return ExceptionResponse(state, service, counter)


def pull_general_block_transfer(cur: Cursor) -> GeneralBlockTransfer:
    """Decode a general-block-transfer body (after the 0xE0 tag)."""
    control = cur.pull_uint8("block-control")
    number = cur.pull_uint16("block number")
    ack = cur.pull_uint16("block number ack")
    data = pull_octets(cur, "block data")
    return GeneralBlockTransfer(
        last_block=bool(control & _GBT_LAST),
        block_number=number,
        block_number_ack=ack,
        block_data=data,
        streaming=bool(control & _GBT_STREAMING),
        window=control & _GBT_WINDOW,
    )
