"""What a HEMS shows of a smart meter: read it, then print it (used by both demos)."""

from __future__ import annotations

import sys
from decimal import Decimal
from typing import Any, TextIO

from ..echonet.energy import EnergyScale, unit_code
from ..echonet.events import Address
from ..sim.meter import METER_EOJ
from ..transport.udp import EchonetClient
from .charts import can_draw_blocks, half_hour_chart

__all__ = ["print_summary", "read_summary"]


async def read_summary(client: EchonetClient, address: Address) -> dict[str, Any]:
    """Power, currents, energy in kWh and today's half hours of the meter at ``address``."""
    values = await client.get_values(address, METER_EOJ, [0xD3, 0xD7, 0xE1, 0xE7, 0xE8])
    energy = await client.get_values(address, METER_EOJ, [0xE0, 0xE3])
    scale = EnergyScale(values[0xD3], unit_code(values[0xE1]), values[0xD7])
    await client.set(address, METER_EOJ, {0xE5: 0})
    readings = (await client.get_values(address, METER_EOJ, [0xE2]))[0xE2]["energy"]
    half_hours: list[Decimal | None] = [
        None if a is None or b is None else scale.delta_kwh(a, b)
        for a, b in zip(readings, (*readings[1:], None), strict=True)
    ]
    return {
        "power_w": values[0xE7],
        "current_a": values[0xE8],
        "energy_kwh": scale.to_kwh(energy[0xE0]),
        "reverse_kwh": scale.to_kwh(energy[0xE3]) if energy[0xE3] is not None else None,
        "half_hours_kwh": half_hours,
    }


def print_summary(summary: dict[str, Any], out: TextIO | None = None) -> None:
    """Print ``summary`` to ``out`` (stdout); the chart falls back to ASCII if it must."""
    stream = sys.stdout if out is None else out
    current = summary["current_a"]
    reverse = summary["reverse_kwh"]
    lines = [
        f"instantaneous power     {summary['power_w']} W",
        f"instantaneous current   R {current['r_phase']} A, T {current['t_phase']} A",
        f"cumulative energy       {summary['energy_kwh']} kWh (normal)"
        + (f", {reverse} kWh (reverse)" if reverse is not None else ""),
        # The meter keeps Japan time (its day starts at 00:00 JST).
        "today's 30-minute energy (00:00 .. 23:30 JST):",
        *half_hour_chart(
            summary["half_hours_kwh"], blocks=can_draw_blocks(getattr(stream, "encoding", None))
        ),
    ]
    for line in lines:
        print(line, file=stream)
