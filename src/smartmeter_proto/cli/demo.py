"""``smartmeter-proto demo``: a simulated meter and a HEMS client, end to end, in one process."""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal
from typing import Any

from ..echonet.energy import UNIT_CODES, EnergyScale
from ..sim.meter import METER_EOJ, SimulatedMeter, meter_node
from ..transport.udp import ECHONET_PORT, EchonetClient, serve_node

__all__ = ["half_hour_chart", "register"]

_BARS = " ▁▂▃▄▅▆▇█"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="run a simulated meter and read it end to end")
    demo.add_argument("--meter", default="127.0.0.1", help="loopback address of the meter")
    demo.add_argument("--hems", default="127.0.0.2", help="loopback address of the HEMS client")
    demo.set_defaults(handler=lambda args: asyncio.run(_demo(args)))


def half_hour_chart(kwh: list[Decimal | None]) -> list[str]:
    """A terminal bar chart of 48 half-hour energies (``None`` = not measured yet)."""
    known = [v for v in kwh if v is not None]
    top = max(known, default=Decimal(0)) or Decimal(1)
    bars = "".join("·" if v is None else _BARS[min(8, int(v / top * 8))] for v in kwh)
    axis = "".join(f"{h:<6}" for h in range(0, 24, 3))
    return [f"  {bars}", f"  {axis}", f"  peak {top} kWh per half hour"]


async def _demo(args: argparse.Namespace) -> int:
    meter = SimulatedMeter()
    node = meter_node(meter)
    print("starting simulated smart meter (ECHONET Lite over UDP on loopback)")
    async with serve_node(node, local=(args.meter, ECHONET_PORT)) as link:
        address = link.address
        print(f"meter listening on {address[0]}:{address[1]}")
        async with EchonetClient.udp(local=(args.hems, ECHONET_PORT), timeout=2.0) as client:
            nodes = await client.discover(address)
            print(f"discovered node with objects: {', '.join(str(e) for e in nodes[0].instances)}")
            values: dict[int, Any] = await client.get_values(
                address, METER_EOJ, [0xD3, 0xD7, 0xE1, 0xE7, 0xE8, 0xE0, 0xE3]
            )
            await client.set(address, METER_EOJ, {0xE5: 0})
            history = await client.get_values(address, METER_EOJ, [0xE2])
    scale = EnergyScale(values[0xD3], _unit_code(values[0xE1]), values[0xD7])
    current = values[0xE8]
    print(f"instantaneous power   {values[0xE7]} W")
    print(f"instantaneous current R {current['r_phase']} A, T {current['t_phase']} A")
    print(
        f"cumulative energy     {scale.to_kwh(values[0xE0])} kWh (normal), "
        f"{scale.to_kwh(values[0xE3])} kWh (reverse)"
    )
    readings = history[0xE2]["energy"]
    per_slot: list[Decimal | None] = []
    for i in range(48):
        a = readings[i]
        b = readings[i + 1] if i + 1 < 48 else None
        per_slot.append(None if a is None or b is None else scale.delta_kwh(a, b))
    print("today's 30-minute energy (00:00 .. 23:30):")
    for line in half_hour_chart(per_slot):
        print(line)
    return 0


def _unit_code(label: Any) -> int:
    for code, factor in UNIT_CODES.items():
        if str(label) == str(factor) or label == code:
            return code
    raise ValueError(f"unknown 0xE1 unit {label!r}")
