"""``simulate meter`` and ``probe``: a meter served on UDP, and a client that reads any node."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Final

from ..echonet.datatypes import ManufacturerCode
from ..echonet.frame import EOJ
from ..echonet.node import NODE_PROFILE
from ..echonet.properties import PropertyValue, lookup
from ..echonet.specs import load_class
from ..errors import DecodeError, ProtocolError
from ..iot.relay import IotRelay
from ..sim.load_curve import LoadCurve
from ..sim.meter import SimulatedMeter, meter_node
from ..transport.udp import ECHONET_PORT, EchonetClient
from .arguments import endpoint, positive_float
from .device import add_device_parser
from .dongle import add_dongle_parser
from .endpoints import run_for
from .iot import add_simulate_parsers
from .node_options import add_interface_options, add_node_options, joined_text, serve_from_args
from .plc import add_g3modem_parser

__all__ = ["ProbedObject", "probe", "probe_json", "register"]

_GET_MAP: Final = 0x9F
#: EDT kinds shown as identifiers in hex rather than as numbers (specs/echonet/README.md).
_MAP_KIND: Final = "property_map"
_CLASS_LIST_KIND: Final = "class_list"
_LONGEST_SHOWN: Final = 100

ProbedObject = tuple[EOJ, list[Any]]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = commands.add_parser("simulate", help="run a simulated device")
    devices = simulate.add_subparsers(dest="device", required=True, metavar="DEVICE")
    add_dongle_parser(devices)
    add_device_parser(devices)
    add_g3modem_parser(devices)
    add_simulate_parsers(devices)
    meter = devices.add_parser("meter", help="low-voltage smart meter (0x028801) on UDP")
    add_node_options(meter, "; multicast Gets and the INF at start go there")
    meter.add_argument("--seed", type=int, default=1, help="load-curve seed")
    meter.add_argument("--pv-peak", type=float, default=0.0, help="PV peak in W (reverse flow)")
    meter.add_argument(
        "--iot-headend",
        type=endpoint(ECHONET_PORT),
        help="relay B-route(IoT) frames (ECHONET Lite format 2) to this head-end HOST[:PORT]",
    )
    meter.set_defaults(handler=lambda args: asyncio.run(_simulate_meter(args)))

    probe_cmd = commands.add_parser("probe", help="discover a node and read every property")
    probe_cmd.add_argument("address", type=endpoint(ECHONET_PORT), help="ADDR[:PORT] of the node")
    probe_cmd.add_argument(
        "--timeout", type=positive_float, default=3.0, help="seconds per attempt (default 3)"
    )
    probe_cmd.add_argument(
        "--bind",
        type=endpoint(ECHONET_PORT),
        default="0.0.0.0:3610",
        help="local ADDR[:PORT] (default 0.0.0.0:3610; answers come to port 3610)",
    )
    probe_cmd.add_argument(
        "--json",
        action="store_true",
        help="print typed JSON: numbers as numbers with their unit named, EPCs in hex",
    )
    add_interface_options(probe_cmd, "; only the group's INFs arrive there")
    probe_cmd.set_defaults(handler=lambda args: asyncio.run(_probe(args)))


async def _simulate_meter(args: argparse.Namespace) -> int:
    meter = SimulatedMeter(curve=LoadCurve(seed=args.seed, pv_peak_w=args.pv_peak))
    node = meter_node(meter)
    if args.iot_headend:
        node.arbitrary_handler = IotRelay(headend=args.iot_headend)
    async with serve_from_args(node, args) as link:
        bound = link.address
        joined = joined_text(link)
        print(
            f"simulated smart meter 028801 listening on {bound[0]}:{bound[1]}{joined}", flush=True
        )
        await run_for(args.duration)
    return 0


def _typed(class_id: int, value: PropertyValue) -> Any:
    """The JSON-ready typed value: maps and class lists as hex identifiers, numbers as numbers."""
    if value.error is not None:
        return None
    spec = lookup(class_id, value.epc)
    kind = spec.data_type.kind if spec is not None else None
    if kind == _MAP_KIND:
        return [f"0x{epc:02X}" for epc in value.value]
    if kind == _CLASS_LIST_KIND:
        return [f"0x{code:04X}" for code in value.value]
    return value.as_json()["value"]


def _class_title(code: int) -> str:
    spec = load_class(code)
    return f"0x{code:04X} ({spec.title})" if spec is not None else f"0x{code:04X}"


def _shown(class_id: int, value: PropertyValue) -> str:
    """One property's value for a reader: typed, with its unit."""
    if value.error is not None:
        return f"(undecodable: {value.error.reason})"
    spec = lookup(class_id, value.epc)
    kind = spec.data_type.kind if spec is not None else None
    if kind == _MAP_KIND:  # every EPC, never cut
        return ", ".join(f"0x{epc:02X}" for epc in value.value) or "(empty)"
    if kind == _CLASS_LIST_KIND:
        return ", ".join(_class_title(code) for code in value.value) or "(empty)"
    if isinstance(value.value, ManufacturerCode):  # EPC 0x8A
        return f"{value.value.name or 'unlisted'} (0x{value.value.code})"
    data = value.as_json()
    typed, unit = data["value"], data["unit"]
    if isinstance(typed, list | tuple):
        text = ", ".join(str(item) for item in typed) or "(empty)"
    elif isinstance(typed, dict):
        text = json.dumps(typed, ensure_ascii=False)
    else:
        text = str(typed)
    if unit and typed is not None:
        text = f"{text} {unit}"
    return text if len(text) <= _LONGEST_SHOWN else text[: _LONGEST_SHOWN - 3] + "..."


async def probe(client: EchonetClient, address: tuple[str, int]) -> list[ProbedObject]:
    """Discover ``address``, then read each object's Get map and every property in it."""
    nodes = await client.discover(address)
    if not nodes:
        raise ProtocolError(f"{address[0]}:{address[1]} did not answer discovery")
    report: list[ProbedObject] = []
    for eoj in (NODE_PROFILE, *nodes[0].instances):
        readable = await client.get_values(address, eoj, [_GET_MAP])
        done = await client.get(address, eoj, readable[_GET_MAP])
        rows: list[Any] = [done.values[e] for e in sorted(done.values)]
        rows += [("refused", epc) for epc in done.refused]
        rows += [("undecodable", epc, str(err)) for epc, err in done.undecodable]
        report.append((eoj, rows))
    return report


def probe_json(address: tuple[str, int], report: list[ProbedObject]) -> dict[str, Any]:
    """The probe's result as typed JSON (``--json``)."""
    objects = []
    for eoj, rows in report:
        spec = load_class(eoj.class_id)
        properties = []
        refused = []
        for row in rows:
            if isinstance(row, PropertyValue):
                properties.append(
                    {
                        "epc": f"0x{row.epc:02X}",
                        "name": row.name,
                        "value": _typed(eoj.class_id, row),
                        "unit": row.as_json()["unit"],
                        "edt": row.edt.hex(),
                    }
                    | ({"error": row.error.reason} if isinstance(row.error, DecodeError) else {})
                )
            elif row[0] == "refused":
                refused.append(f"0x{row[1]:02X}")
        objects.append(
            {
                "eoj": str(eoj),
                "class": spec.title if spec is not None else None,
                "properties": properties,
                "refused": refused,
            }
        )
    return {"address": f"{address[0]}:{address[1]}", "objects": objects}


async def _probe(args: argparse.Namespace) -> int:
    address = args.address
    async with EchonetClient.udp(
        local=args.bind,
        timeout=args.timeout,
        retries=1,
        join_group=args.join_group,
        interface=args.interface,
    ) as client:
        report = await probe(client, address)
    if args.json:
        json.dump(probe_json(address, report), sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
        return 0
    for eoj, rows in report:
        spec = load_class(eoj.class_id)
        print(f"\n{eoj}  {spec.title if spec else 'unknown class'}")
        for row in rows:
            if isinstance(row, PropertyValue):
                print(f"  0x{row.epc:02X}  {row.name:<42} {_shown(eoj.class_id, row)}")
            else:
                print(f"  0x{row[1]:02X}  ({row[0]}{': ' + row[2] if len(row) > 2 else ''})")
    return 0
