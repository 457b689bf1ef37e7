"""``smartmeter-proto demo --lan``: the simulated meter and a HEMS client over UDP on loopback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..echonet.energy import EnergyScale, unit_code
from ..sim.meter import METER_EOJ, SimulatedMeter, meter_node
from ..transport.udp import ECHONET_PORT, EchonetClient, serve_node
from .charts import half_hour_chart

__all__ = ["run_lan_demo"]


async def run_lan_demo(meter_host: str = "127.0.0.1", hems_host: str = "127.0.0.2") -> int:
    """Serve the meter on ``meter_host``:3610 and read it from ``hems_host``:3610."""
    node = meter_node(SimulatedMeter())
    print("starting simulated smart meter (ECHONET Lite over UDP on loopback)")
    async with serve_node(node, local=(meter_host, ECHONET_PORT)) as link:
        address = link.address
        print(f"meter listening on {address[0]}:{address[1]}")
        async with EchonetClient.udp(local=(hems_host, ECHONET_PORT), timeout=2.0) as client:
            nodes = await client.discover(address)
            print(f"discovered node with objects: {', '.join(str(e) for e in nodes[0].instances)}")
            values: dict[int, Any] = await client.get_values(
                address, METER_EOJ, [0xD3, 0xD7, 0xE1, 0xE7, 0xE8, 0xE0, 0xE3]
            )
            await client.set(address, METER_EOJ, {0xE5: 0})
            history = await client.get_values(address, METER_EOJ, [0xE2])
    scale = EnergyScale(values[0xD3], unit_code(values[0xE1]), values[0xD7])
    current = values[0xE8]
    print(f"instantaneous power     {values[0xE7]} W")
    print(f"instantaneous current   R {current['r_phase']} A, T {current['t_phase']} A")
    print(
        f"cumulative energy       {scale.to_kwh(values[0xE0])} kWh (normal), "
        f"{scale.to_kwh(values[0xE3])} kWh (reverse)"
    )
    readings = history[0xE2]["energy"]
    per_slot: list[Decimal | None] = [
        None if a is None or b is None else scale.delta_kwh(a, b)
        for a, b in zip(readings, (*readings[1:], None), strict=True)
    ]
    print("today's 30-minute energy (00:00 .. 23:30):")
    for line in half_hour_chart(per_slot):
        print(line)
    return 0
