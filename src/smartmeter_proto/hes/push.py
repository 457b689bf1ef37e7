"""From an A-route push datagram to typed readings: the head end's one decoding path.

A simulated or real A-route meter pushes DataNotifications (Green Book push mechanism)
ciphered in general-glo-ciphering under its system title (security suite 0, SC 0x30).
The push setup's first object is the push setup's own logical name (attribute 1), which
tells the head end what the rest of the structure is:

* a value push (``0-3:25.9.0.255`` 30-minute, ``0-4:25.9.0.255`` 5-minute, see
  :mod:`smartmeter_proto.sim.ameter`): push setup name, the security setup's server system
  title, then the profile row (capture time, then registers);
* the power event push (``0-0:25.9.0.255``, ``specs/cosem/events.yaml``): push setup name,
  the clock, the power event code (1 failure = Last Gasp, 2 restoration).

Profile rows read back by range (Profile generic attribute 2 with a range descriptor)
yield the same :class:`ValueReading` records through :func:`readings_from_rows`.

One pass per push (:func:`open_push_fields`, the collector's path): the ciphered header
is split once, the tag verified under the sender's keys, and the deciphered notification
read through its compiled layout (:mod:`smartmeter_proto.aroute.notification_layout`)
straight into a :class:`PushRecord` of plain values. A notification no layout matches, or
whose values are anything but a well-formed push, takes the general path
(:func:`~smartmeter_proto.aroute.apdu.decode_apdu`, :func:`classify_push`), which gives
the same record or raises the same error; its layout is learnt once it succeeded.

Everything here raises only :class:`~smartmeter_proto.errors.DecodeError` on malformed
content and :class:`~smartmeter_proto.errors.AuthError` on a security failure (unknown
meter, tag, replay); neither text carries a key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from enum import IntEnum
from functools import lru_cache
from typing import Final, NamedTuple

from ..aroute import wrapper
from ..aroute.apdu import DataNotification, decode_apdu
from ..aroute.axdr import CosemDateTime, Data, DataType, posix_seconds
from ..aroute.notification_layout import NotificationLayout, NotificationLayouts
from ..aroute.obis import Obis
from ..aroute.profile import load_catalogue
from ..aroute.security import (
    CipheredFields,
    InvocationCounters,
    split_ciphered,
    unprotect_fields,
)
from ..errors import AuthError, DecodeError

__all__ = [
    "JST",
    "PERIOD_5MIN",
    "PERIOD_30MIN",
    "POWER_EVENT",
    "MeterKeys",
    "OpenedPush",
    "PowerEvent",
    "PowerEventKind",
    "PushRecord",
    "ValueReading",
    "classify_push",
    "open_push",
    "open_push_datagram",
    "open_push_fields",
    "open_push_from",
    "posix_of",
    "read_notification",
    "readings_from_rows",
]

_LAYER: Final = "hes-push"
PERIOD_30MIN: Final = 1800
PERIOD_5MIN: Final = 300
#: :attr:`PushRecord.period` of a power event push (no capture period).
POWER_EVENT: Final = 0
_CATALOGUE = load_catalogue()
#: Value push setups of the simulated A-route meter (sim/ameter.py VALUE_PUSH_30MIN/5MIN).
_VALUE_PUSHES: Final[dict[bytes, int]] = {
    bytes(Obis(0, 3, 25, 9, 0, 255)): PERIOD_30MIN,
    bytes(Obis(0, 4, 25, 9, 0, 255)): PERIOD_5MIN,
}
_POWER_PUSH: Final = bytes(_CATALOGUE.by_name("power_event_push").obis)
_TITLE_LENGTH: Final = 8
#: Japan Standard Time, the meters' local time (no daylight saving).
JST: Final = timezone(timedelta(hours=9), "JST")


class PowerEventKind(IntEnum):
    """Power event codes of ``specs/cosem/events.yaml`` (event code object #2)."""

    LAST_GASP = _CATALOGUE.event_codes["power_failure"]
    RESTORED = _CATALOGUE.event_codes["power_restored"]


@dataclass(frozen=True, slots=True)
class ValueReading:
    """One profile entry: capture period (s), capture time (POSIX s), register raw values."""

    system_title: bytes
    period: int
    period_end: int
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PowerEvent:
    system_title: bytes
    kind: PowerEventKind
    at: int


@dataclass(frozen=True, slots=True)
class MeterKeys:
    """A meter's global keys (never shown): encryption and authentication keys, and the
    master key (KEK) that wraps new keys in a key transfer (Green Book, key transfer), when
    the head end may re-key the meter."""

    ek: bytes
    ak: bytes
    kek: bytes | None = None

    def __repr__(self) -> str:
        return "MeterKeys(<hidden>)"


class PushRecord(NamedTuple):
    """What one verified push says, as plain values: what the collector stores.

    A value push: its capture ``period`` (s), capture time ``at`` (POSIX s) and register
    raw ``values``; a power event: ``period`` :data:`POWER_EVENT`, the event time ``at``
    and ``values`` ``(event code,)``. ``sent_at`` is the notification's own date-time."""

    sent_at: int | None
    period: int
    at: int
    values: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OpenedPush:
    """A verified, deciphered push: the sender, its invocation counter, what it said."""

    system_title: bytes
    invocation_counter: int
    sent_at: int | None  # the notification's own date-time, if given
    record: ValueReading | PowerEvent


def posix_of(d: Data, where: int = 0) -> int:
    """POSIX seconds of a date_time value (octet-string(12) or date-time), fully specified."""
    raw = d.value
    if d.type == DataType.DATE_TIME and isinstance(raw, CosemDateTime):
        raw = raw.encode()
    elif d.type != DataType.OCTET_STRING or not isinstance(raw, bytes) or len(raw) != 12:
        raise DecodeError(_LAYER, where, f"expected a date_time, found {d.type!r}")
    try:
        return posix_seconds(raw)
    except ValueError as exc:
        raise DecodeError(_LAYER, where, f"date_time not usable: {exc}") from None


#: Register values are stored as signed 64-bit integers (SQLite INTEGER, Parquet int64):
#: a long64-unsigned register at 2^63 or above cannot be stored as what it is.
_REGISTER_MIN: Final = -(1 << 63)
_REGISTER_MAX: Final = (1 << 63) - 1


def _integers(fields: tuple[Data, ...], where: int) -> tuple[int, ...]:
    out: list[int] = []
    for d in fields:
        value = d.value
        if not isinstance(value, int) or isinstance(value, bool):
            raise DecodeError(_LAYER, where, f"register value must be an integer, {d.type!r}")
        if not _REGISTER_MIN <= value <= _REGISTER_MAX:
            # Refused here, one push dropped as malformed: stored, it would make every
            # later commit of the head end's store fail.
            raise DecodeError(_LAYER, where, f"register value {value} exceeds signed 64 bits")
        out.append(value)
    return tuple(out)


def _fields(body: Data) -> tuple[Data, ...]:
    if body.type != DataType.STRUCTURE or not isinstance(body.value, tuple) or not body.value:
        raise DecodeError(_LAYER, 0, "a push body is a non-empty structure")
    return body.value


def classify_push(body: Data, system_title: bytes) -> ValueReading | PowerEvent:
    """What a deciphered DataNotification body says (see the module text)."""
    fields = _fields(body)
    name = fields[0].value
    if fields[0].type != DataType.OCTET_STRING or not isinstance(name, bytes):
        raise DecodeError(_LAYER, 0, "a push starts with the push setup's logical name")
    period = _VALUE_PUSHES.get(name)
    if period is not None:
        if len(fields) < 4:
            raise DecodeError(_LAYER, 0, f"value push of {len(fields)} fields")
        if fields[1].value != system_title:
            raise AuthError("hes push: the pushed server system title is not the sender's")
        return ValueReading(system_title, period, posix_of(fields[2], 2), _integers(fields[3:], 3))
    if name == _POWER_PUSH:
        code = fields[2].value if len(fields) == 3 else None
        if not isinstance(code, int) or fields[2].type != DataType.UNSIGNED:
            raise DecodeError(_LAYER, 0, "power event push: name, clock, unsigned code")
        try:
            kind = PowerEventKind(code)
        except ValueError:
            raise DecodeError(_LAYER, 2, f"unknown power event code {fields[2].value}") from None
        return PowerEvent(system_title, kind, posix_of(fields[1], 1))
    raise DecodeError(_LAYER, 0, f"unknown push setup {name.hex()}")


def readings_from_rows(rows: Data, system_title: bytes, period: int) -> list[ValueReading]:
    """Profile generic buffer rows (clock first, then registers) as readings."""
    if rows.type != DataType.ARRAY or not isinstance(rows.value, tuple):
        raise DecodeError(_LAYER, 0, "a profile buffer is an array")
    out: list[ValueReading] = []
    for i, row in enumerate(rows.value):
        if row.type != DataType.STRUCTURE or not isinstance(row.value, tuple) or not row.value:
            raise DecodeError(_LAYER, i, "a profile row is a non-empty structure")
        out.append(
            ValueReading(
                system_title, period, posix_of(row.value[0], i), _integers(row.value[1:], i)
            )
        )
    return out


KeyLookup = Callable[[bytes], MeterKeys | None]

_new_record: Final = tuple.__new__  # PushRecord without the NamedTuple's Python __new__
# What a compiled notification layout's body is, decided once per layout (_shape).
_OTHER_SHAPE: Final = 0
_VALUE_SHAPE: Final = 1
_POWER_SHAPE: Final = 2
_CLOCK_FIELD: Final = (DataType.OCTET_STRING, 12)
#: Register types a compiled value push reads as they are: every one fits the store's
#: signed 64 bits. A long64-unsigned register takes the general path, which refuses a
#: value at 2^63 or above (:func:`_integers`).
_INTEGER_TYPES: Final = frozenset(
    {
        DataType.DOUBLE_LONG,
        DataType.DOUBLE_LONG_UNSIGNED,
        DataType.BCD,
        DataType.INTEGER,
        DataType.LONG,
        DataType.UNSIGNED,
        DataType.LONG_UNSIGNED,
        DataType.LONG64,
        DataType.ENUM,
    }
)
_POWER_CODES: Final = frozenset(int(k) for k in PowerEventKind)
#: Capture times converted and kept (every meter pushes the same period ends).
_CAPTURE_TIMES_CACHED: Final = 4096


def _shape(layout: NotificationLayout) -> int:
    """Which push a layout's body can be (the value checks are made per push): a value
    push is name, title, clock, registers; a power event push name, clock, unsigned code."""
    fields = layout.fields
    if fields is None:
        return _OTHER_SHAPE
    if (
        len(fields) >= 4
        and fields[2] == _CLOCK_FIELD
        and all(t in _INTEGER_TYPES for t, _ in fields[3:])
    ):
        return _VALUE_SHAPE
    if len(fields) == 3 and fields[1] == _CLOCK_FIELD and fields[2][0] is DataType.UNSIGNED:
        return _POWER_SHAPE
    return _OTHER_SHAPE


_LAYOUTS: Final = NotificationLayouts(annotate=_shape)


@lru_cache(maxsize=_CAPTURE_TIMES_CACHED)
def _capture_time(raw: bytes) -> int | None:
    """POSIX seconds of a 12-octet date-time, None where :func:`posix_of` would refuse it."""
    try:
        return posix_seconds(raw)
    except ValueError:
        return None


# Blue Book 4.1.6.1 date-time octets: year (2), month, day, day of week, hour, minute,
# second, hundredths, deviation (2), clock status.
_HOUR, _MINUTE, _SECOND = 5, 6, 7
_MIDNIGHT: Final = b"\x00\x00\x00"


@lru_cache(maxsize=_CAPTURE_TIMES_CACHED)
def _day_start(date_and_deviation: bytes) -> int | None:
    """POSIX seconds at 00:00:00 of a date-time's date and deviation (its octets 0-4 and
    8-11 joined), None if :func:`posix_seconds` refuses them."""
    return _capture_time(date_and_deviation[:5] + _MIDNIGHT + date_and_deviation[5:])


def _sent_at(raw: bytes | None) -> int | None:
    """The notification's own date-time in POSIX seconds, if given in full (a notification
    may carry a partial or no date-time): :func:`posix_seconds` through the start of its
    day, which every push of a day shares."""
    if raw is None or len(raw) != 12:
        return None
    day = _day_start(raw[:5] + raw[8:])
    hour, minute, second = raw[_HOUR], raw[_MINUTE], raw[_SECOND]
    if day is None or hour > 23 or minute > 59 or second > 59:  # as posix_seconds refuses
        return None
    return day + hour * 3_600 + minute * 60 + second


def read_notification(apdu: bytes, title: bytes, *, compiled: bool = True) -> PushRecord:
    """The record of a deciphered push APDU from ``title`` (a DataNotification): through
    its compiled layout when one matches, else the general decoder and :func:`classify_push`
    (DecodeError, or AuthError for a pushed title that is not the sender's).
    ``compiled=False`` takes the general path only (the reference of the compiled one)."""
    hit = _LAYOUTS.match(apdu) if compiled else None
    if hit is not None:
        # Values v: invoke, date-time, then the body's scalars. Anything but a push that
        # classify_push simply accepts falls through to the general path (same error).
        layout, v = hit
        shape = layout.note
        at: int | None = None
        if shape == _VALUE_SHAPE:
            period = _VALUE_PUSHES.get(v[2])
            if period is not None and v[3] == title:
                at, values = _capture_time(v[4]), v[5:]
        elif shape == _POWER_SHAPE and v[2] == _POWER_PUSH and v[4] in _POWER_CODES:
            period, at, values = POWER_EVENT, _capture_time(v[3]), v[4:]
        if at is not None:
            record: PushRecord = _new_record(PushRecord, (_sent_at(v[1]), period, at, values))
            return record
    notification = decode_apdu(apdu, strict=True)
    if not isinstance(notification, DataNotification):
        raise DecodeError(
            _LAYER, 0, f"expected a data-notification, found {type(notification).__name__}"
        )
    said = classify_push(notification.body, title)
    if compiled and hit is None:
        _LAYOUTS.learn(apdu, notification)
    sent_at = _sent_at(notification.date_time)
    if isinstance(said, ValueReading):
        return PushRecord(sent_at, said.period, said.period_end, said.values)
    return PushRecord(sent_at, POWER_EVENT, said.at, (int(said.kind),))


def open_push_fields(
    fields: CipheredFields,
    meter: MeterKeys,
    counters: InvocationCounters | None = None,
    *,
    compiled: bool = True,
) -> PushRecord:
    """Verify and decipher a push split by :func:`~smartmeter_proto.aroute.security.split_ciphered`
    under ``meter``'s keys, then read it (:func:`read_notification`): the one pass of a
    collector that split the header to find the sender. ``counters`` as in :func:`open_push`."""
    plain = unprotect_fields(fields, ek=meter.ek, ak=meter.ak, counters=counters)
    title = fields.system_title
    assert title  # unprotect_fields refuses an APDU without a system title
    return read_notification(plain, title, compiled=compiled)


def open_push(apdu: bytes, keys: KeyLookup, counters: InvocationCounters | None) -> OpenedPush:
    """Verify, decipher and classify one ciphered push APDU (general-glo-ciphering).

    ``keys`` maps a system title to the meter's keys (None: unknown meter, refused);
    ``counters`` (when given) refuses replayed and older invocation counters.
    """
    fields = split_ciphered(apdu)
    title = fields.system_title
    if not title or len(title) != _TITLE_LENGTH:
        raise AuthError("hes push: a push must carry its sender's system title")
    meter = keys(title)
    if meter is None:
        raise AuthError(f"hes push: unknown meter {title.hex().upper()}")
    return _opened(fields, title, open_push_fields(fields, meter, counters))


def open_push_from(
    apdu: bytes, title: bytes, meter: MeterKeys, counters: InvocationCounters | None
) -> OpenedPush:
    """:func:`open_push` once the caller has read the sender's ``title`` from the header
    and found its keys (a collector that already looked the meter up)."""
    fields = split_ciphered(apdu)
    plain = unprotect_fields(fields, ek=meter.ek, ak=meter.ak, counters=counters)
    if fields.system_title != title:
        raise AuthError("hes push: the ciphered header names another sender")
    return _opened(fields, title, read_notification(plain, title))


def _opened(fields: CipheredFields, title: bytes, record: PushRecord) -> OpenedPush:
    said: ValueReading | PowerEvent
    if record.period == POWER_EVENT:
        said = PowerEvent(title, PowerEventKind(record.values[0]), record.at)
    else:
        said = ValueReading(title, record.period, record.at, record.values)
    return OpenedPush(title, fields.invocation_counter, record.sent_at, said)


def open_push_datagram(
    datagram: bytes, keys: KeyLookup, counters: InvocationCounters | None
) -> OpenedPush:
    """:func:`open_push` of the APDU in one UDP wrapper datagram."""
    return open_push(wrapper.decode(datagram).apdu, keys, counters)
