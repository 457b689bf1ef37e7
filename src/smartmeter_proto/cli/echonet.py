"""``simulate meter`` and ``probe``: a meter served on UDP, and a client that reads any node."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..echonet.frame import EOJ
from ..echonet.node import NODE_PROFILE
from ..echonet.properties import PropertyValue
from ..echonet.specs import load_class
from ..errors import ProtocolError
from ..iot.relay import IotRelay
from ..sim.load_curve import LoadCurve
from ..sim.meter import SimulatedMeter, meter_node
from ..transport.udp import ECHONET_PORT, EchonetClient, serve_node
from .dongle import add_dongle_parser
from .endpoints import parse_endpoint, run_for
from .iot import add_simulate_parsers
from .plc import add_g3modem_parser

__all__ = ["probe", "register"]

_GET_MAP = 0x9F


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = commands.add_parser("simulate", help="run a simulated device")
    devices = simulate.add_subparsers(dest="device", required=True, metavar="DEVICE")
    add_dongle_parser(devices)
    add_g3modem_parser(devices)
    add_simulate_parsers(devices)
    meter = devices.add_parser("meter", help="low-voltage smart meter (0x028801) on UDP")
    meter.add_argument("--bind", default="127.0.0.1", help="ADDR[:PORT] (default 127.0.0.1:3610)")
    meter.add_argument("--seed", type=int, default=1, help="load-curve seed")
    meter.add_argument("--pv-peak", type=float, default=0.0, help="PV peak in W (reverse flow)")
    meter.add_argument(
        "--reply-to-source",
        action="store_true",
        help="answer the request's source port instead of 3610 (for clients on ephemeral ports)",
    )
    meter.add_argument(
        "--iot-headend",
        help="relay B-route(IoT) frames (ECHONET Lite format 2) to this head-end HOST[:PORT]",
    )
    meter.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: run until interrupted)",
    )
    meter.set_defaults(handler=lambda args: asyncio.run(_simulate_meter(args)))

    probe_cmd = commands.add_parser("probe", help="discover a node and read every property")
    probe_cmd.add_argument("address", help="ADDR[:PORT] of the node")
    probe_cmd.add_argument("--timeout", type=float, default=3.0, help="seconds per attempt")
    probe_cmd.add_argument(
        "--bind",
        default="0.0.0.0:3610",
        help="local ADDR[:PORT] (default 0.0.0.0:3610; answers come to port 3610)",
    )
    probe_cmd.set_defaults(handler=lambda args: asyncio.run(_probe(args)))


async def _simulate_meter(args: argparse.Namespace) -> int:
    host, port = parse_endpoint(args.bind)
    meter = SimulatedMeter(curve=LoadCurve(seed=args.seed, pv_peak_w=args.pv_peak))
    node = meter_node(meter)
    if args.iot_headend:
        node.arbitrary_handler = IotRelay(headend=parse_endpoint(args.iot_headend))
    async with serve_node(
        node, local=(host, port), reply_port=None if args.reply_to_source else ECHONET_PORT
    ) as link:
        bound = link.address
        print(f"simulated smart meter 028801 listening on {bound[0]}:{bound[1]}", flush=True)
        await run_for(args.duration)
    return 0


def _format_value(value: PropertyValue) -> str:
    text = value.as_json()["value"]
    shown = str(text) if not isinstance(text, str) else text
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} {value.unit}" if value.unit and value.value is not None else shown


async def probe(client: EchonetClient, address: tuple[str, int]) -> list[tuple[EOJ, list[Any]]]:
    """Discover ``address``, then read each object's Get map and every property in it."""
    nodes = await client.discover(address)
    if not nodes:
        raise ProtocolError(f"{address[0]}:{address[1]} did not answer discovery")
    report: list[tuple[EOJ, list[Any]]] = []
    for eoj in (NODE_PROFILE, *nodes[0].instances):
        readable = await client.get_values(address, eoj, [_GET_MAP])
        done = await client.get(address, eoj, readable[_GET_MAP])
        rows: list[Any] = [done.values[e] for e in sorted(done.values)]
        rows += [("refused", epc) for epc in done.refused]
        rows += [("undecodable", epc, str(err)) for epc, err in done.undecodable]
        report.append((eoj, rows))
    return report


async def _probe(args: argparse.Namespace) -> int:
    address = parse_endpoint(args.address)
    try:
        local = parse_endpoint(args.bind)
        async with EchonetClient.udp(local=local, timeout=args.timeout, retries=1) as client:
            report = await probe(client, address)
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for eoj, rows in report:
        spec = load_class(eoj.class_id)
        print(f"\n{eoj}  {spec.title if spec else 'unknown class'}")
        for row in rows:
            if isinstance(row, PropertyValue):
                print(f"  0x{row.epc:02X}  {row.name:<42} {_format_value(row)}")
            else:
                print(f"  0x{row[1]:02X}  ({row[0]}{': ' + row[2] if len(row) > 2 else ''})")
    return 0
