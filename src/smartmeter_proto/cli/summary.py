"""What a HEMS shows of a smart meter: read it, then print it (used by both demos)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..echonet.energy import EnergyScale, unit_code
from ..echonet.events import Address
from ..sim.meter import METER_EOJ
from ..transport.udp import EchonetClient
from .charts import half_hour_chart

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


def print_summary(summary: dict[str, Any]) -> None:
    current = summary["current_a"]
    print(f"instantaneous power     {summary['power_w']} W")
    print(f"instantaneous current   R {current['r_phase']} A, T {current['t_phase']} A")
    print(f"cumulative energy       {summary['energy_kwh']} kWh (normal)", end="")
    if summary["reverse_kwh"] is not None:
        print(f", {summary['reverse_kwh']} kWh (reverse)")
    else:
        print()
    print("today's 30-minute energy (00:00 .. 23:30):")
    for line in half_hour_chart(summary["half_hours_kwh"]):
        print(line)
