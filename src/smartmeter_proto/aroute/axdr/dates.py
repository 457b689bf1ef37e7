"""COSEM date, time and date-time values (IEC 62056-6-2 / Blue Book 4.1.6.1).

Fields keep their raw wire values, so every byte pattern survives a round trip;
the ``NOT_SPECIFIED`` wildcards and the special month/day values are constants.
"""

from __future__ import annotations

import datetime as _dt
import struct
from dataclasses import dataclass
from enum import IntFlag

__all__ = [
    "DAY_LAST",
    "DAY_SECOND_LAST",
    "DEVIATION_NOT_SPECIFIED",
    "MONTH_DST_BEGIN",
    "MONTH_DST_END",
    "NOT_SPECIFIED",
    "YEAR_NOT_SPECIFIED",
    "ClockStatus",
    "CosemDate",
    "CosemDateTime",
    "CosemTime",
    "posix_seconds",
]

# Blue Book 4.1.6.1 (date and time formats): wildcard and special values.
YEAR_NOT_SPECIFIED = 0xFFFF
NOT_SPECIFIED = 0xFF  # month, day, day-of-week, hour, minute, second, hundredths, status
MONTH_DST_END = 0xFD  # daylight_savings_end
MONTH_DST_BEGIN = 0xFE  # daylight_savings_begin
DAY_SECOND_LAST = 0xFD  # 2nd last day of month
DAY_LAST = 0xFE  # last day of month
DEVIATION_NOT_SPECIFIED = -0x8000  # 0x8000 as a signed 16-bit long

_DATE = struct.Struct(">HBBB")
_TIME = struct.Struct(">BBBB")
_DATE_TIME = struct.Struct(">HBBBBBBBhB")


class ClockStatus(IntFlag):
    """clock_status bits (Blue Book 4.1.6.1); 0xFF means not specified."""

    INVALID_VALUE = 0x01
    DOUBTFUL_VALUE = 0x02
    DIFFERENT_CLOCK_BASE = 0x04
    INVALID_CLOCK_STATUS = 0x08
    DAYLIGHT_SAVING_ACTIVE = 0x80


def _check(name: str, value: int, hi: int) -> None:
    if not 0 <= value <= hi:
        raise ValueError(f"{name} must be in 0..{hi}, got {value}")


@dataclass(frozen=True, slots=True)
class CosemDate:
    """date [26]: 5 octets, year (0xFFFF = any), month, day, day-of-week (1 = Monday)."""

    year: int
    month: int
    day: int
    day_of_week: int = NOT_SPECIFIED

    def __post_init__(self) -> None:
        _check("year", self.year, 0xFFFF)
        for name in ("month", "day", "day_of_week"):
            _check(name, getattr(self, name), 0xFF)

    def encode(self) -> bytes:
        return _DATE.pack(self.year, self.month, self.day, self.day_of_week)

    @classmethod
    def decode(cls, raw: bytes) -> CosemDate:
        """From exactly 5 octets (the caller checks the length)."""
        return cls(*_DATE.unpack(raw))

    @property
    def is_fully_specified(self) -> bool:
        return self.year != YEAR_NOT_SPECIFIED and 1 <= self.month <= 12 and 1 <= self.day <= 31

    def to_date(self) -> _dt.date:
        """The calendar date; ValueError when a field is a wildcard or out of range."""
        if not self.is_fully_specified:
            raise ValueError(f"date is not fully specified: {self}")
        return _dt.date(self.year, self.month, self.day)

    @classmethod
    def from_date(cls, d: _dt.date) -> CosemDate:
        return cls(d.year, d.month, d.day, d.isoweekday())


@dataclass(frozen=True, slots=True)
class CosemTime:
    """time [27]: 4 octets, hour, minute, second, hundredths (0xFF = not specified)."""

    hour: int
    minute: int
    second: int
    hundredths: int = NOT_SPECIFIED

    def __post_init__(self) -> None:
        for name in ("hour", "minute", "second", "hundredths"):
            _check(name, getattr(self, name), 0xFF)

    def encode(self) -> bytes:
        return _TIME.pack(self.hour, self.minute, self.second, self.hundredths)

    @classmethod
    def decode(cls, raw: bytes) -> CosemTime:
        return cls(*_TIME.unpack(raw))

    @property
    def is_fully_specified(self) -> bool:
        return self.hour < 24 and self.minute < 60 and self.second < 60

    def to_time(self) -> _dt.time:
        """A naive time; unspecified hundredths count as 0. ValueError on wildcards."""
        if not self.is_fully_specified:
            raise ValueError(f"time is not fully specified: {self}")
        cs = 0 if self.hundredths == NOT_SPECIFIED else self.hundredths
        if cs > 99:
            raise ValueError(f"hundredths out of range: {cs}")
        return _dt.time(self.hour, self.minute, self.second, cs * 10_000)

    @classmethod
    def from_time(cls, t: _dt.time) -> CosemTime:
        return cls(t.hour, t.minute, t.second, t.microsecond // 10_000)


@dataclass(frozen=True, slots=True)
class CosemDateTime:
    """date-time [25]: 12 octets (Blue Book 4.1.6.1).

    ``deviation`` is minutes of local time to UTC with the Blue Book sign
    (UTC = local time + deviation, so UTC+01:00 is -60); DEVIATION_NOT_SPECIFIED
    is the wire value 0x8000. ``clock_status`` 0xFF means not specified.
    """

    year: int
    month: int
    day: int
    day_of_week: int
    hour: int
    minute: int
    second: int
    hundredths: int = NOT_SPECIFIED
    deviation: int = DEVIATION_NOT_SPECIFIED
    clock_status: int = NOT_SPECIFIED

    def __post_init__(self) -> None:
        _check("year", self.year, 0xFFFF)
        for name in (
            "month",
            "day",
            "day_of_week",
            "hour",
            "minute",
            "second",
            "hundredths",
            "clock_status",
        ):
            _check(name, getattr(self, name), 0xFF)
        if not -0x8000 <= self.deviation <= 0x7FFF:
            raise ValueError(f"deviation must be a signed 16-bit value, got {self.deviation}")

    def encode(self) -> bytes:
        return _DATE_TIME.pack(
            self.year,
            self.month,
            self.day,
            self.day_of_week,
            self.hour,
            self.minute,
            self.second,
            self.hundredths,
            self.deviation,
            self.clock_status,
        )

    @classmethod
    def decode(cls, raw: bytes) -> CosemDateTime:
        """From exactly 12 octets (the caller checks the length)."""
        return cls(*_DATE_TIME.unpack(raw))

    @property
    def date(self) -> CosemDate:
        return CosemDate(self.year, self.month, self.day, self.day_of_week)

    @property
    def time(self) -> CosemTime:
        return CosemTime(self.hour, self.minute, self.second, self.hundredths)

    @property
    def status(self) -> ClockStatus | None:
        """The clock status flags, or None when not specified (0xFF)."""
        return None if self.clock_status == NOT_SPECIFIED else ClockStatus(self.clock_status)

    @property
    def is_fully_specified(self) -> bool:
        return self.date.is_fully_specified and self.time.is_fully_specified

    def to_datetime(self) -> _dt.datetime:
        """A datetime, aware when the deviation is specified; ValueError on wildcards."""
        d = self.date.to_date()
        t = self.time.to_time()
        tz: _dt.tzinfo | None = None
        if self.deviation != DEVIATION_NOT_SPECIFIED:
            if not -720 <= self.deviation <= 720:  # Blue Book range -720..+720 minutes
                raise ValueError(f"deviation out of range: {self.deviation}")
            tz = _dt.timezone(_dt.timedelta(minutes=-self.deviation))
        return _dt.datetime.combine(d, t, tz)

    @classmethod
    def from_datetime(
        cls, value: _dt.datetime, *, clock_status: int | None = None
    ) -> CosemDateTime:
        """From a datetime; deviation from its UTC offset (whole minutes), else not specified.

        Without ``clock_status``, an aware value in DST gets DAYLIGHT_SAVING_ACTIVE,
        any other aware value 0, a naive one 0xFF (not specified).
        """
        offset = value.utcoffset()
        if offset is None:
            deviation = DEVIATION_NOT_SPECIFIED
            status = NOT_SPECIFIED
        else:
            deviation = -int(offset.total_seconds() // 60)
            dst = value.dst()
            status = int(ClockStatus.DAYLIGHT_SAVING_ACTIVE) if dst else 0
        if clock_status is not None:
            status = clock_status
        return cls(
            value.year,
            value.month,
            value.day,
            value.isoweekday(),
            value.hour,
            value.minute,
            value.second,
            value.microsecond // 10_000,
            deviation,
            status,
        )


_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
# (year, month, day) -> days since 1970-01-01. Budget: 4 096 entries (11 years of dates) x
# 160 B (two ints of 28-32 B, a dict slot with resize slack; ~110 B measured) = 640 KiB.
# Full, the oldest entry is evicted (insertion order: hits are not refreshed on this hot path).
_DAYS: dict[int, int] = {}
_DAYS_LIMIT = 4_096
_MAX_DEVIATION = 720  # minutes, Blue Book range


def posix_seconds(raw: bytes) -> int:
    """Whole POSIX seconds of a 12-octet date-time (Blue Book 4.1.6.1) without building
    objects: the hot path of pushed capture times. Hundredths are dropped; ValueError if a
    field is a wildcard or out of range, or the deviation is not specified."""
    fields: tuple[int, ...] = _DATE_TIME.unpack(raw)
    year, month, day, _dow, hour, minute, second, _hundredths, deviation, _status = fields
    if deviation == DEVIATION_NOT_SPECIFIED or not -_MAX_DEVIATION <= deviation <= _MAX_DEVIATION:
        raise ValueError(f"deviation not usable: {deviation}")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time not fully specified: {hour}:{minute}:{second}")
    key = year << 16 | month << 8 | day
    days = _DAYS.get(key)
    if days is None:
        days = _dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL  # ValueError if invalid
        if len(_DAYS) >= _DAYS_LIMIT:
            del _DAYS[next(iter(_DAYS))]
        _DAYS[key] = days
    return days * 86_400 + hour * 3_600 + minute * 60 + second + deviation * 60
