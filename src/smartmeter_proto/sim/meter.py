"""A simulated low-voltage smart electric energy meter (class 0x0288, APPENDIX §3.3.25).

Every 0x0288 property of ``specs/echonet`` is served: live power and current,
counters that integrate the :class:`LoadCurve`, 45 days of 30-minute history
(0xE2/0xE4 by the day set in 0xE5, 0xEC by 0xED), 60 minutes of 1-minute
values (0xD0, 0xEE by 0xEF), and the fixed-time reading 0xEA/0xEB that a
B-route meter sends as INF every 30 minutes. ``now`` is POSIX time; dates on
the wire are Japan Standard Time, as real meters keep them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Final

from ..echonet.energy import EnergyScale
from ..echonet.frame import EOJ
from ..echonet.node import DeviceObject, Node
from ..echonet.properties import encode_property
from .load_curve import JST, SLOT_SECONDS, LoadCurve

__all__ = ["METER_EOJ", "SimulatedMeter", "meter_node"]

METER_EOJ: Final = EOJ(0x02, 0x88, 0x01)
_CLASS: Final = 0x0288
#: Retention of the 30-minute history (current meters: 45 days) and of 1-minute values (60 min).
HISTORY_DAYS: Final = 45
ONE_MINUTE_RETENTION_S: Final = 3600
#: Historical arrays hold 48 half-hours; 0xEC at most 12 pairs, 0xEE at most 10.
_HALF_HOURS: Final = 48
#: Settable in the class file, read-only on meters seen in the field (Set map 81 E5 ED EF).
_READ_ONLY_ON_METERS: Final = frozenset({0x80, 0x97, 0x98})
#: Coefficient 1, 0.1 kWh per count, 6 digits: the commonest B-route meter configuration.
DEFAULT_SCALE: Final = EnergyScale(coefficient=1, unit_code=0x01, effective_digits=6)
#: Mains voltage used to derive the phase currents (single-phase three-wire, 100 V per phase).
_PHASE_VOLTAGE: Final = 100.0


class SimulatedMeter(DeviceObject):
    """Device object 0x028801 backed by a load curve.

    ``scale`` fixes 0xD3/0xE1/0xD7 (default: coefficient 1, 0.1 kWh, 6 digits,
    the most common B-route configuration); ``initial_kwh`` is the counter's
    reading at the curve's start.
    """

    def __init__(
        self,
        *,
        curve: LoadCurve | None = None,
        scale: EnergyScale = DEFAULT_SCALE,
        initial_kwh: float = 12_345.6,
        route_b_id: bytes = bytes(16),
        manufacturer_code: bytes = b"\xff\xff\xff",
        announce_fixed_time: bool = True,
    ) -> None:
        super().__init__(METER_EOJ)
        self.curve = curve or LoadCurve()
        self.scale = scale
        self.initial_kwh = initial_kwh
        self.announce_fixed_time = announce_fixed_time
        self._next_inf: float | None = None
        static: dict[str, Any] = {
            "operation_status": "on",
            "installation_location": b"\x00",
            "standard_version": {"reserved": b"\x00\x00", "release": "R", "revision": 0},
            "fault_status": "no_fault",
            "manufacturer_code": manufacturer_code,
            "identification_number": b"\xfe" + manufacturer_code + bytes(13),
            "production_number": "SIM000000001",
            "route_b_id": route_b_id,
            "coefficient": scale.coefficient,
            "effective_digits": scale.effective_digits,
            "cumulative_energy_unit": scale.unit_code,
            "historical_day": 0,
            "historical_2_collection": {"timestamp": None, "segments": 1},
            "historical_3_collection": {"timestamp": None, "segments": 1},
        }
        for name, value in static.items():
            self.store(name, value)
        self._live: dict[int, Callable[[float], Any]] = {
            self.spec.epc(name): reader
            for name, reader in {
                "instantaneous_power": self._power,
                "instantaneous_current": self._current,
                "cumulative_energy_normal": lambda now: self.counts(now)[0],
                "cumulative_energy_reverse": lambda now: self.counts(now)[1],
                "historical_cumulative_energy_normal": lambda now: self._day_history(now, 0),
                "historical_cumulative_energy_reverse": lambda now: self._day_history(now, 1),
                "fixed_time_cumulative_energy_normal": lambda now: self._fixed_time(now, 0),
                "fixed_time_cumulative_energy_reverse": lambda now: self._fixed_time(now, 1),
                "historical_cumulative_energy_2": self._history_2,
                "one_minute_cumulative_energy": self._one_minute,
                "historical_cumulative_energy_3": self._history_3,
                "current_time": lambda now: (
                    self._local(now).time().replace(second=0, microsecond=0)
                ),
                "current_date": lambda now: self._local(now).date(),
            }.items()
        }

    # ------------------------------------------------------------- the model
    @staticmethod
    def _local(now: float) -> datetime:
        return datetime.fromtimestamp(now, JST)

    def counts(self, now: float) -> tuple[int, int]:
        """Counter readings (normal, reverse) at ``now``, in units of 0xE1 × 0xD3."""
        if not self.curve.start:
            # The counters start at ``initial_kwh`` on a midnight before the
            # oldest history the meter keeps, so every kept slot has a value.
            first_day = self._local(now).date() - timedelta(days=HISTORY_DAYS + 2)
            self.curve.start = datetime(*first_day.timetuple()[:3], tzinfo=JST).timestamp()
        imported, exported = self.curve.energy_wh(now)
        per_count_wh = float(self.scale.kwh_per_count) * 1000
        normal = math.floor((self.initial_kwh * 1000 + imported) / per_count_wh)
        reverse = math.floor(exported / per_count_wh)
        return normal % self.scale.rollover, reverse % self.scale.rollover

    def _power(self, now: float) -> int:
        return self.curve.power_w(now)

    def _current(self, now: float) -> dict[str, float]:
        amps = abs(self._power(now)) / (2 * _PHASE_VOLTAGE)
        return {"r_phase": round(amps, 1), "t_phase": round(amps * 0.9, 1)}

    def _count_at(self, moment: float, now: float, direction: int) -> int | None:
        if moment > now or moment < now - HISTORY_DAYS * 86400 - 86400:
            return None
        return self.counts(moment)[direction]

    def _day_history(self, now: float, direction: int) -> dict[str, Any]:
        days_back = self._stored_value("historical_day")
        if not isinstance(days_back, int):
            days_back = 0
        day: date = self._local(now).date() - timedelta(days=days_back)
        midnight = datetime(day.year, day.month, day.day, tzinfo=JST).timestamp()
        kept = days_back <= HISTORY_DAYS
        energy = tuple(
            self._count_at(midnight + i * SLOT_SECONDS, now, direction) if kept else None
            for i in range(_HALF_HOURS)
        )
        return {"day": days_back, "energy": energy}

    def _fixed_time(self, now: float, direction: int) -> dict[str, Any]:
        boundary = math.floor(now / SLOT_SECONDS) * SLOT_SECONDS
        return {
            "timestamp": self._local(boundary).replace(tzinfo=None),
            "energy": self.counts(boundary)[direction],
        }

    def _pairs(
        self, start: datetime | None, segments: int, step: float, now: float, retention: float
    ) -> dict[str, Any]:
        if start is None:
            return {
                "timestamp": None,
                "segments": segments,
                "energy": tuple({"normal": None, "reverse": None} for _ in range(segments)),
            }
        first = start.replace(tzinfo=JST).timestamp()
        pairs: list[dict[str, int | None]] = []
        for i in range(segments):
            moment = first - i * step
            if moment > now or moment < now - retention:
                pairs.append({"normal": None, "reverse": None})
            else:
                normal, reverse = self.counts(moment)
                pairs.append({"normal": normal, "reverse": reverse})
        return {"timestamp": start, "segments": segments, "energy": tuple(pairs)}

    def _history_2(self, now: float) -> dict[str, Any]:
        setting = self._stored_value("historical_2_collection")
        return self._pairs(
            setting["timestamp"], setting["segments"], SLOT_SECONDS, now, HISTORY_DAYS * 86400
        )

    def _history_3(self, now: float) -> dict[str, Any]:
        setting = self._stored_value("historical_3_collection")
        return self._pairs(
            setting["timestamp"], setting["segments"], 60, now, ONE_MINUTE_RETENTION_S
        )

    def _one_minute(self, now: float) -> dict[str, Any]:
        minute = math.floor(now / 60) * 60
        normal, reverse = self.counts(minute)
        return {
            "timestamp": self._local(minute).replace(tzinfo=None),
            "normal": normal,
            "reverse": reverse,
        }

    def _stored_value(self, name: str) -> Any:
        prop = self.spec.by_name(name)
        return prop.data_type.decode(self._edt[prop.epc])

    # ------------------------------------------------------- DeviceObject API
    def access(self, epc: int) -> frozenset[str]:
        """Like a deployed meter: only 0x81, 0xE5, 0xED and 0xEF accept Set."""
        allowed = super().access(epc)
        if epc in _READ_ONLY_ON_METERS:
            return allowed - {"set"}
        return allowed

    def dynamic(self) -> frozenset[int]:
        return frozenset(self._live)

    def read(self, epc: int, now: float) -> bytes | None:
        reader = self._live.get(epc)
        if reader is not None:
            return encode_property(_CLASS, epc, reader(now))
        return super().read(epc, now)

    def next_deadline(self) -> float | None:
        return self._next_inf if self.announce_fixed_time else None

    def handle_timeout(self, now: float) -> list[int]:
        """Every 30 minutes the fixed-time readings 0xEA (and 0xEB) go out as INF."""
        if self._next_inf is None:
            self._next_inf = (math.floor(now / SLOT_SECONDS) + 1) * SLOT_SECONDS
            return []
        if now < self._next_inf:
            return []
        self._next_inf = (math.floor(now / SLOT_SECONDS) + 1) * SLOT_SECONDS
        epcs = [self.spec.epc("fixed_time_cumulative_energy_normal")]
        if self.curve.pv_peak_w > 0:
            epcs.append(self.spec.epc("fixed_time_cumulative_energy_reverse"))
        return epcs

    def arm(self, now: float) -> None:
        """Start the 30-minute INF schedule from ``now``."""
        self._next_inf = (math.floor(now / SLOT_SECONDS) + 1) * SLOT_SECONDS


def meter_node(meter: SimulatedMeter | None = None, *, now: float | None = None) -> Node:
    """A node holding one simulated meter, with the meter's manufacturer code."""
    meter = meter or SimulatedMeter()
    if now is not None:
        meter.arm(now)
    return Node([meter], manufacturer_code=meter.read(0x8A, 0.0) or b"\xff\xff\xff")
