"""What a HEMS reads from a low-voltage smart meter (class 0x0288), in named units.

Pure functions turn decoded ECHONET Lite property values (APPENDIX §3.3.25)
into frozen results; a value of the wrong shape raises :class:`BadReading`.
Meter time stamps are Japan Standard Time (the meter's clock); results carry
POSIX seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Final, Literal

from ..echonet.energy import UNIT_CODES, EnergyScale, unit_code

__all__ = [
    "JST",
    "BadReading",
    "CumulativeEnergy",
    "Direction",
    "Instantaneous",
    "InstantaneousCurrent",
    "InstantaneousPower",
    "IntervalKind",
    "IntervalValue",
    "MeterIdentity",
    "energy_scale",
    "meter_time",
]

#: The meter keeps Japan Standard Time (UTC+9, no daylight saving).
JST: Final = timezone(timedelta(hours=9), "JST")
#: 0xE2/0xE4 hold 48 half-hours (00:00 .. 23:30); 0xEC at most 12 pairs, 0xEE at most 10
#: (APPENDIX §3.3.25, 0xE2, 0xEC, 0xEE).
HALF_HOURS_PER_DAY: Final = 48
MAX_EC_SEGMENTS: Final = 12
MAX_EE_SEGMENTS: Final = 10

IntervalKind = Literal["minute", "half_hour"]
Direction = Literal["normal", "reverse"]


class BadReading(ValueError):
    """A property value that does not have the shape its EPC defines."""


@dataclass(frozen=True, slots=True)
class InstantaneousPower:
    """0xE7: signed active power in W (negative: export)."""

    watts: int


@dataclass(frozen=True, slots=True)
class InstantaneousCurrent:
    """0xE8: R and T phase currents in A; ``t_phase_a`` is None on single-phase 2-wire."""

    r_phase_a: float
    t_phase_a: float | None


@dataclass(frozen=True, slots=True)
class CumulativeEnergy:
    """0xE0/0xE3 in kWh (count × 0xD3 × 0xE1) with the raw counts and the scale."""

    normal_kwh: Decimal
    reverse_kwh: Decimal | None
    normal_count: int
    reverse_count: int | None
    scale: EnergyScale


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """0xC0 route B ID (hex of the property) and 0x8A manufacturer code (3 bytes, hex)."""

    route_b_id: str
    manufacturer_code: str


@dataclass(frozen=True, slots=True)
class IntervalValue:
    """One stored counter reading: ``slot`` is POSIX seconds of the meter's time stamp."""

    kind: IntervalKind
    slot: int
    direction: Direction
    count: int
    source: str

    def kwh(self, scale: EnergyScale) -> Decimal:
        return scale.to_kwh(self.count)


@dataclass(frozen=True, slots=True)
class Instantaneous:
    """One poll of 0xE7 and 0xE8 at POSIX ``at``."""

    at: float
    power_w: int | None
    current_r_a: float | None
    current_t_a: float | None


def meter_time(stamp: Any) -> int:
    """A meter date-time (naive, JST) as POSIX seconds."""
    if not isinstance(stamp, datetime):
        raise BadReading(f"expected a date-time, found {type(stamp).__name__}")
    return int(stamp.replace(tzinfo=JST).timestamp())


def jst(posix: float) -> datetime:
    """POSIX seconds as the meter's naive JST date-time."""
    return datetime.fromtimestamp(posix, JST).replace(tzinfo=None)


def energy_scale(values: Mapping[int, Any]) -> EnergyScale:
    """The scale from 0xD3 (optional: 1), 0xE1 and 0xD7 (APPENDIX §3.3.25)."""
    try:
        label = values[0xE1]
        # A raw code (int) is taken as a code: energy.unit_code would read 1 as "1 kWh".
        unit = label if isinstance(label, int) and label in UNIT_CODES else unit_code(label)
        digits = int(values[0xD7])
        coefficient = int(values.get(0xD3, 1))
        return EnergyScale(coefficient, unit, digits)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadReading(f"no usable energy scale (0xD3/0xE1/0xD7): {exc}") from None


def count_of(value: Any, what: str) -> int | None:
    """A counter element: an int, or None for 'no data' (0xFFFFFFFE)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadReading(f"{what}: expected a counter, found {value!r}")
    return value


def power(value: Any) -> InstantaneousPower:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadReading(f"0xE7: expected watts, found {value!r}")
    return InstantaneousPower(value)


def current(value: Any) -> InstantaneousCurrent:
    if not isinstance(value, Mapping) or not isinstance(value.get("r_phase"), int | float):
        raise BadReading(f"0xE8: expected R/T phase currents, found {value!r}")
    t_phase = value.get("t_phase")
    return InstantaneousCurrent(
        float(value["r_phase"]), None if t_phase is None else float(t_phase)
    )


def one_minute(value: Any) -> list[IntervalValue]:
    """0xD0: the 1-minute value (time stamp, normal, reverse)."""
    if not isinstance(value, Mapping):
        raise BadReading(f"0xD0: expected a time-stamped pair, found {value!r}")
    slot = meter_time(value.get("timestamp"))
    out = []
    for direction in ("normal", "reverse"):
        count = count_of(value.get(direction), f"0xD0 {direction}")
        if count is not None:
            out.append(IntervalValue("minute", slot, direction, count, "D0"))
    return out


def fixed_time(epc: int, value: Any) -> list[IntervalValue]:
    """0xEA/0xEB: the counter at the last half-hour (sent as INF every 30 minutes)."""
    if not isinstance(value, Mapping):
        raise BadReading(f"0x{epc:02X}: expected a time-stamped count, found {value!r}")
    count = count_of(value.get("energy"), f"0x{epc:02X}")
    if count is None:
        return []
    direction: Direction = "normal" if epc == 0xEA else "reverse"
    return [
        IntervalValue(
            "half_hour", meter_time(value.get("timestamp")), direction, count, f"{epc:02X}"
        )
    ]


def day_history(epc: int, value: Any, midnight: int) -> list[IntervalValue]:
    """0xE2/0xE4: the 48 half-hour counts of the day starting at POSIX ``midnight``."""
    energy = value.get("energy") if isinstance(value, Mapping) else None
    if not isinstance(energy, tuple | list) or len(energy) != HALF_HOURS_PER_DAY:
        size = len(energy) if isinstance(energy, tuple | list) else type(energy).__name__
        raise BadReading(f"0x{epc:02X}: expected 48 half-hours, found {size}")
    direction: Direction = "normal" if epc == 0xE2 else "reverse"
    out = []
    for i, element in enumerate(energy):
        count = count_of(element, f"0x{epc:02X}[{i}]")
        if count is not None:
            out.append(
                IntervalValue("half_hour", midnight + i * 1800, direction, count, f"{epc:02X}")
            )
    return out


def pairs_history(epc: int, value: Any, step: int) -> list[IntervalValue]:
    """0xEC (30-minute) / 0xEE (1-minute): pairs from the set time stamp going back."""
    limit = MAX_EC_SEGMENTS if epc == 0xEC else MAX_EE_SEGMENTS
    if not isinstance(value, Mapping):
        raise BadReading(f"0x{epc:02X}: expected time-stamped pairs, found {value!r}")
    energy = value.get("energy")
    segments = value.get("segments")
    if (
        not isinstance(energy, tuple | list)
        or not isinstance(segments, int)
        or len(energy) != segments
        or not 1 <= segments <= limit
    ):
        raise BadReading(f"0x{epc:02X}: {segments!r} segments announced, array does not match")
    if value.get("timestamp") is None:
        return []
    first = meter_time(value.get("timestamp"))
    kind: IntervalKind = "half_hour" if epc == 0xEC else "minute"
    out = []
    for i, pair in enumerate(energy):
        if not isinstance(pair, Mapping):
            raise BadReading(f"0x{epc:02X}[{i}]: expected a pair, found {pair!r}")
        for direction in ("normal", "reverse"):
            count = count_of(pair.get(direction), f"0x{epc:02X}[{i}] {direction}")
            if count is not None:
                out.append(IntervalValue(kind, first - i * step, direction, count, f"{epc:02X}"))
    return out


def identity(values: Mapping[int, Any]) -> MeterIdentity:
    """0xC0 and 0x8A as hex."""
    rbid, maker = values.get(0xC0), values.get(0x8A)
    if not isinstance(maker, bytes):
        raise BadReading(f"0x8A: expected 3 bytes, found {maker!r}")
    return MeterIdentity(rbid.hex() if isinstance(rbid, bytes) else "", maker.hex())
