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

Everything here raises only :class:`~smartmeter_proto.errors.DecodeError` on malformed
content and :class:`~smartmeter_proto.errors.AuthError` on a security failure (unknown
meter, tag, replay); neither text carries a key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta, timezone
from enum import IntEnum
from typing import Final

from ..aroute import wrapper
from ..aroute.apdu import DataNotification, decode_apdu
from ..aroute.axdr import Data, DataType
from ..aroute.axdr_datetime import CosemDateTime, posix_seconds
from ..aroute.obis import Obis
from ..aroute.profile import load_catalogue
from ..aroute.security import InvocationCounters, decode_ciphered, unprotect
from ..errors import AuthError, DecodeError

__all__ = [
    "JST",
    "PERIOD_5MIN",
    "PERIOD_30MIN",
    "MeterKeys",
    "OpenedPush",
    "PowerEvent",
    "PowerEventKind",
    "ValueReading",
    "classify_push",
    "open_push",
    "open_push_datagram",
    "open_push_from",
    "posix_of",
    "readings_from_rows",
]

_LAYER: Final = "hes-push"
PERIOD_30MIN: Final = 1800
PERIOD_5MIN: Final = 300
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


def _integers(fields: tuple[Data, ...], where: int) -> tuple[int, ...]:
    out: list[int] = []
    for d in fields:
        if not isinstance(d.value, int) or isinstance(d.value, bool):
            raise DecodeError(_LAYER, where, f"register value must be an integer, {d.type!r}")
        out.append(d.value)
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
        return ValueReading(system_title, period, posix_of(fields[2], 2),
                            _integers(fields[3:], 3))
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
        out.append(ValueReading(system_title, period, posix_of(row.value[0], i),
                                _integers(row.value[1:], i)))
    return out


KeyLookup = Callable[[bytes], MeterKeys | None]


def open_push(apdu: bytes, keys: KeyLookup, counters: InvocationCounters | None) -> OpenedPush:
    """Verify, decipher and classify one ciphered push APDU (general-glo-ciphering).

    ``keys`` maps a system title to the meter's keys (None: unknown meter, refused);
    ``counters`` (when given) refuses replayed and older invocation counters.
    """
    header = decode_ciphered(apdu)
    title = header.system_title
    if not title or len(title) != _TITLE_LENGTH:
        raise AuthError("hes push: a push must carry its sender's system title")
    meter = keys(title)
    if meter is None:
        raise AuthError(f"hes push: unknown meter {title.hex().upper()}")
    return open_push_from(apdu, title, meter, counters)


def open_push_from(apdu: bytes, title: bytes, meter: MeterKeys,
                   counters: InvocationCounters | None) -> OpenedPush:
    """:func:`open_push` once the caller has read the sender's ``title`` from the header
    and found its keys (a collector that already looked the meter up)."""
    plain = unprotect(apdu, ek=meter.ek, ak=meter.ak, counters=counters)
    if plain.system_title != title:
        raise AuthError("hes push: the ciphered header names another sender")
    notification = decode_apdu(plain.apdu, strict=True)
    if not isinstance(notification, DataNotification):
        raise DecodeError(_LAYER, 0, f"expected a data-notification, found "
                                     f"{type(notification).__name__}")
    sent_at: int | None = None
    if notification.date_time is not None and len(notification.date_time) == 12:
        try:
            sent_at = posix_seconds(notification.date_time)
        except ValueError:
            sent_at = None  # a notification may carry a partial or no date-time
    return OpenedPush(title, plain.invocation_counter, sent_at,
                      classify_push(notification.body, title))


def open_push_datagram(datagram: bytes, keys: KeyLookup,
                       counters: InvocationCounters | None) -> OpenedPush:
    """:func:`open_push` of the APDU in one UDP wrapper datagram."""
    return open_push(wrapper.decode(datagram).apdu, keys, counters)
