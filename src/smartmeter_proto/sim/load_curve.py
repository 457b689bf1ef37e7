"""A deterministic household load curve: 30-minute average power and energy counters.

The shape follows a Japanese detached house: a low night base, a morning
peak around 07:00, a daytime plateau and the evening peak around 19:00, with
weekend variation and seeded noise; an optional PV array exports at midday.
Everything is a pure function of the seed and the slot, so any past slot can
be recomputed and the counters never disagree with the history.

Memory: a fleet holds one curve per meter, so a curve keeps its slots in two flat arrays
of doubles (power and cumulative energy, from its start slot on) and the hour-of-day shape
of a slot comes from one table shared by every curve.
"""

from __future__ import annotations

import functools
import math
import random
from array import array
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Final

__all__ = ["JST", "SLOT_SECONDS", "LoadCurve", "mix64"]

_Noise = random.Random  # seeded, repeatable noise for the simulation (not for secrets)
JST: Final = timezone(timedelta(hours=9), "JST")
SLOT_SECONDS: Final = 1800
_HOURLY_SHAPE: Final = (  # relative demand per hour of day, 0..23
    0.35,
    0.30,
    0.28,
    0.28,
    0.30,
    0.40,
    0.75,
    1.10,
    0.90,
    0.65,
    0.60,
    0.62,
    0.70,
    0.62,
    0.58,
    0.60,
    0.72,
    0.95,
    1.35,
    1.55,
    1.45,
    1.20,
    0.85,
    0.55,
)


_MASK64: Final = (1 << 64) - 1


def mix64(*parts: int) -> int:
    """A 64-bit hash of ``parts`` (splitmix64 finaliser per part): seeded simulation choices
    that depend only on what they are about, not on the order they are drawn in."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & _MASK64)) * 0xBF58476D1CE4E5B9) & _MASK64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _MASK64
        h ^= h >> 31
    return h


@functools.lru_cache(maxsize=8192)
def _shape(slot: int) -> float:
    """Relative demand of 30-minute ``slot`` (hour of day in JST, weekend lift): shared."""
    moment = datetime.fromtimestamp(slot * SLOT_SECONDS, JST)
    shape = _HOURLY_SHAPE[moment.hour]
    return 0.85 * shape + 0.2 if moment.weekday() >= 5 else shape


@dataclass(slots=True)
class LoadCurve:
    """Import/export power and Wh counters for one household, from ``seed``."""

    seed: int = 1
    peak_w: float = 2400.0
    pv_peak_w: float = 0.0
    start: float = 0.0  # POSIX time the counters start from (0 Wh there)
    #: slots from ``_first`` on: (import W, export W) interleaved, and the cumulative
    #: (import Wh, export Wh) at each slot's beginning, interleaved
    _power: array[float] = field(default_factory=lambda: array("d"))
    _cumulative: array[float] = field(default_factory=lambda: array("d"))
    _first: int | None = None
    _based_on: float | None = None  # the start the arrays were built from

    def slot_of(self, now: float) -> int:
        return math.floor(now / SLOT_SECONDS)

    def _demand_w(self, slot: int) -> float:
        noise = _Noise(self.seed * 1_000_003 + slot).gauss(1.0, 0.12)
        return max(80.0, self.peak_w / 1.55 * _shape(slot) * noise)

    def _pv_w(self, slot: int) -> float:
        if self.pv_peak_w <= 0:
            return 0.0
        moment = datetime.fromtimestamp(slot * SLOT_SECONDS + SLOT_SECONDS / 2, JST)
        hour = moment.hour + moment.minute / 60
        if not 6.0 <= hour <= 18.0:
            return 0.0
        clouds = _Noise(self.seed * 7_919 + slot // 4).uniform(0.4, 1.0)
        return self.pv_peak_w * math.sin(math.pi * (hour - 6.0) / 12.0) * clouds

    def _compute(self, slot: int) -> tuple[float, float]:
        net = self._demand_w(slot) - self._pv_w(slot)
        return (max(net, 0.0), max(-net, 0.0))

    def _base(self) -> int:
        """The first slot the arrays hold (rebuilt when ``start`` was changed)."""
        if self._first is None or self._based_on != self.start:
            self._first = self.slot_of(self.start)
            self._based_on = self.start
            self._power = array("d")
            self._cumulative = array("d", (0.0, 0.0))
        return self._first

    def slot_power(self, slot: int) -> tuple[float, float]:
        """Average (import W, export W) over 30-minute ``slot``."""
        k = slot - self._base()
        if k < 0 or k > len(self._power) // 2 + 100_000:  # before the start, or far ahead
            return self._compute(slot)
        power = self._power
        while len(power) // 2 <= k:
            power.extend(self._compute(self._first + len(power) // 2))  # type: ignore[operator]
        return (power[2 * k], power[2 * k + 1])

    def _energy_to_slot(self, slot: int) -> tuple[float, float]:
        """Wh (import, export) from ``start`` up to the beginning of ``slot``."""
        first = self._base()
        if slot <= first:
            return (0.0, 0.0)
        k = slot - first
        cumulative = self._cumulative
        while len(cumulative) // 2 <= k:
            j = len(cumulative) // 2 - 1  # the last slot whose beginning is known
            p_in, p_out = self.slot_power(first + j)
            cumulative.append(cumulative[2 * j] + p_in * SLOT_SECONDS / 3600)
            cumulative.append(cumulative[2 * j + 1] + p_out * SLOT_SECONDS / 3600)
        return (cumulative[2 * k], cumulative[2 * k + 1])

    def energy_wh(self, now: float) -> tuple[float, float]:
        """Cumulative (import Wh, export Wh) at ``now``."""
        slot = self.slot_of(now)
        imported, exported = self._energy_to_slot(slot)
        fraction = (now - slot * SLOT_SECONDS) / 3600
        p_in, p_out = self.slot_power(slot)
        return imported + p_in * fraction, exported + p_out * fraction

    def power_w(self, now: float) -> int:
        """Instantaneous net power at ``now`` (negative while exporting), moving each second."""
        p_in, p_out = self.slot_power(self.slot_of(now))
        wobble = _Noise(self.seed * 31 + int(now)).gauss(1.0, 0.04)
        return round((p_in - p_out) * wobble)
