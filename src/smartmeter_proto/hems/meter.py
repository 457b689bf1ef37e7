"""A smart meter in named units over any B-route link (asyncio).

:class:`SmartMeter` wraps a link that is already open (anything with the
:class:`MeterLink` methods: the UDP, Wi-SUN and G3-PLC clients of
:mod:`smartmeter_proto.transport`). Open one with
``async with open_smart_meter(device="/dev/ttyUSB0", rbid=..., password=...) as meter:``
(:mod:`smartmeter_proto.transport.smart_meter`; also ``lan=`` and ``g3=``),
then ``await meter.instantaneous_power()`` (W), ``cumulative_energy()``
(kWh with 0xD3/0xE1/0xD7 applied), ``thirty_minute_history(day)``,
``one_minute_values(since)``. The interpretation lives in :mod:`.readings`;
this class only asks (EPCs of class 0x0288, APPENDIX §3.3.25).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any, Final, Protocol

from ..echonet.energy import EnergyScale
from ..echonet.events import Address, Notification, RequestDone
from ..echonet.frame import EOJ
from ..errors import SessionError
from . import readings as rd
from .readings import (
    CumulativeEnergy,
    InstantaneousCurrent,
    InstantaneousPower,
    IntervalValue,
    MeterIdentity,
)

__all__ = ["METER_EOJ", "MeterLink", "SmartMeter"]

#: The low-voltage smart electric energy meter, instance 1 (APPENDIX §3.3.25).
METER_EOJ: Final = EOJ(0x02, 0x88, 0x01)
_DAY: Final = 86400


class MeterLink(Protocol):
    """An open ECHONET Lite client link (UDP, Wi-SUN or G3-PLC) as the meter needs it."""

    async def get(self, host: Address, eoj: EOJ, epcs: Iterable[int]) -> RequestDone: ...

    async def set(self, host: Address, eoj: EOJ, values: Mapping[Any, Any]) -> RequestDone: ...

    def notifications(self) -> AsyncIterator[Notification]: ...


class SmartMeter:
    """One meter reached through the open ``client`` at ``address``; ``clock`` gives POSIX time."""

    def __init__(
        self, client: MeterLink, address: Address, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.client = client
        self.address = address
        self.clock = clock
        self._scale: EnergyScale | None = None

    # ----------------------------------------------------------------- raw access
    async def get(self, epcs: Iterable[int]) -> RequestDone:
        return await self.client.get(self.address, METER_EOJ, epcs)

    async def set(self, values: Mapping[int, Any]) -> RequestDone:
        return await self.client.set(self.address, METER_EOJ, values)

    async def _values(self, epcs: Iterable[int]) -> dict[int, Any]:
        done = await self.get(epcs)
        if done.refused:
            raise SessionError(
                "the meter refused " + ", ".join(f"0x{e:02X}" for e in done.refused),
                hint=int(done.esv),
            )
        return {epc: value.value for epc, value in done.values.items()}

    # ----------------------------------------------------------- named readings
    async def identity(self) -> MeterIdentity:
        """Route B ID (0xC0) and manufacturer code (0x8A)."""
        return rd.identity(await self._values([0xC0, 0x8A]))

    async def energy_scale(self) -> EnergyScale:
        """Coefficient 0xD3 (1 if the meter has none), unit 0xE1, effective digits 0xD7."""
        if self._scale is None:
            done = await self.get([0xD3, 0xD7, 0xE1])
            self._scale = rd.energy_scale({e: v.value for e, v in done.values.items()})
        return self._scale

    async def instantaneous_power(self) -> InstantaneousPower:
        """0xE7 in W."""
        return rd.power((await self._values([0xE7]))[0xE7])

    async def instantaneous_current(self) -> InstantaneousCurrent:
        """0xE8, R and T phase in A."""
        return rd.current((await self._values([0xE8]))[0xE8])

    async def cumulative_energy(self) -> CumulativeEnergy:
        """0xE0 (normal) and 0xE3 (reverse, if served) in kWh."""
        scale = await self.energy_scale()
        done = await self.get([0xE0, 0xE3])
        values = {e: v.value for e, v in done.values.items()}
        normal = rd.count_of(values.get(0xE0), "0xE0")
        if normal is None:
            raise SessionError("the meter did not give 0xE0")
        reverse = rd.count_of(values.get(0xE3), "0xE3")
        return CumulativeEnergy(
            scale.to_kwh(normal),
            None if reverse is None else scale.to_kwh(reverse),
            normal,
            reverse,
            scale,
        )

    async def thirty_minute_history(self, day: date | int = 0) -> tuple[IntervalValue, ...]:
        """The 48 half-hour counts of ``day`` (a date or days back, 0..99): 0xE5, 0xE2, 0xE4."""
        today = datetime.fromtimestamp(self.clock(), rd.JST).date()
        days_back = (today - day).days if isinstance(day, date) else int(day)
        if not 0 <= days_back <= 99:
            raise ValueError(f"day must be 0..99 days back, got {days_back}")
        await self.set({0xE5: days_back})
        done = await self.get([0xE2, 0xE4])
        values = {e: v.value for e, v in done.values.items()}
        if 0xE2 not in values:
            raise SessionError("the meter did not give 0xE2")
        midnight = int(
            datetime.combine(
                today.fromordinal(today.toordinal() - days_back), datetime.min.time(), rd.JST
            ).timestamp()
        )
        found = rd.day_history(0xE2, values[0xE2], midnight)
        if 0xE4 in values:
            found.extend(rd.day_history(0xE4, values[0xE4], midnight))
        return tuple(found)

    async def one_minute_values(self, since: float) -> tuple[IntervalValue, ...]:
        """The 1-minute values from POSIX ``since`` to now (0xEF/0xEE, 10 per request)."""
        now = self.clock()
        newest = math.floor(now / 60) * 60
        oldest = math.ceil(since / 60) * 60
        found: list[IntervalValue] = []
        while newest >= oldest:
            segments = min(rd.MAX_EE_SEGMENTS, (newest - oldest) // 60 + 1)
            await self.set({0xEF: {"timestamp": rd.jst(newest), "segments": segments}})
            values = await self._values([0xEE])
            found.extend(rd.pairs_history(0xEE, values[0xEE], 60))
            newest -= segments * 60
        return tuple(sorted(found, key=lambda v: (v.slot, v.direction)))
