"""``smartmeter-proto demo --lan``: the simulated meter and a HEMS client over UDP on loopback."""

from __future__ import annotations

from ..sim.meter import SimulatedMeter, meter_node
from ..transport.udp import ECHONET_PORT, EchonetClient, serve_node
from .summary import print_summary, read_summary

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
            summary = await read_summary(client, address)
    print_summary(summary)
    return 0
