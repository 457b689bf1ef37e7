"""A deterministic household load curve: 30-minute average power and energy counters.

The shape follows a Japanese detached house: a low night base, a morning
peak around 07:00, a daytime plateau and the evening peak around 19:00, with
weekend variation and seeded noise; an optional PV array exports at midday.
Everything is a pure function of the seed and the slot, so any past slot can
be recomputed and the counters never disagree with the history.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Final

__all__ = ["JST", "SLOT_SECONDS", "LoadCurve"]

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


@dataclass(slots=True)
class LoadCurve:
    """Import/export power and Wh counters for one household, from ``seed``."""

    seed: int = 1
    peak_w: float = 2400.0
    pv_peak_w: float = 0.0
    start: float = 0.0  # POSIX time the counters start from (0 Wh there)
    _cache: dict[int, tuple[float, float]] = field(default_factory=dict)
    _cumulative: dict[int, tuple[float, float]] = field(default_factory=dict)
    _top: int | None = None  # highest slot in _cumulative (its keys are contiguous up to it)

    def slot_of(self, now: float) -> int:
        return math.floor(now / SLOT_SECONDS)

    def _demand_w(self, slot: int) -> float:
        moment = datetime.fromtimestamp(slot * SLOT_SECONDS, JST)
        shape = _HOURLY_SHAPE[moment.hour]
        if moment.weekday() >= 5:
            shape = 0.85 * shape + 0.2
        noise = _Noise(self.seed * 1_000_003 + slot).gauss(1.0, 0.12)
        return max(80.0, self.peak_w / 1.55 * shape * noise)

    def _pv_w(self, slot: int) -> float:
        if self.pv_peak_w <= 0:
            return 0.0
        moment = datetime.fromtimestamp(slot * SLOT_SECONDS + SLOT_SECONDS / 2, JST)
        hour = moment.hour + moment.minute / 60
        if not 6.0 <= hour <= 18.0:
            return 0.0
        clouds = _Noise(self.seed * 7_919 + slot // 4).uniform(0.4, 1.0)
        return self.pv_peak_w * math.sin(math.pi * (hour - 6.0) / 12.0) * clouds

    def slot_power(self, slot: int) -> tuple[float, float]:
        """Average (import W, export W) over 30-minute ``slot``."""
        found = self._cache.get(slot)
        if found is None:
            net = self._demand_w(slot) - self._pv_w(slot)
            found = (max(net, 0.0), max(-net, 0.0))
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[slot] = found
        return found

    def _energy_to_slot(self, slot: int) -> tuple[float, float]:
        """Wh (import, export) from ``start`` up to the beginning of ``slot``."""
        first = self.slot_of(self.start)
        if slot <= first:
            return (0.0, 0.0)
        known = self._cumulative.get(slot)
        if known is not None:
            return known
        base = first if self._top is None else self._top  # slot > _top: known ones returned
        imported, exported = self._cumulative.get(base, (0.0, 0.0))
        for s in range(base, slot):
            p_in, p_out = self.slot_power(s)
            imported += p_in * SLOT_SECONDS / 3600
            exported += p_out * SLOT_SECONDS / 3600
            self._cumulative[s + 1] = (imported, exported)
        self._top = slot
        return imported, exported

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
