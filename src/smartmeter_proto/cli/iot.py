"""IoT-route commands: ``decode iot``, ``simulate gasmeter|watermeter|special``, ``collect``.

The simulator and the collector derive each meter's keys from the meter id and
a shared ``--secret`` (SHA-256, one label per key), so the two ends agree
without keys on the command line; the keys are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import enum
import hashlib
import json
import sys
import time
from typing import Any

from ..errors import AuthError, DecodeError
from ..iot import frame as iot_frame
from ..iot.backfill import Collector
from ..iot.channel import MeterKeys, SecureChannel
from ..iot.frame import MeterKind, Route
from ..iot.headend import HeadEnd, ReadingReceived
from ..iot.relay import Format2Carrier
from ..sim.iotmeter import SimulatedIotMeter
from ..transport.iot_udp import serve_endpoint
from ..transport.udp import ECHONET_PORT
from .endpoints import parse_endpoint, run_for

__all__ = ["add_decode_parser", "add_simulate_parsers", "derive_keys", "register"]

_KINDS = {"gasmeter": MeterKind.GAS, "watermeter": MeterKind.WATER, "special": MeterKind.SPECIAL_PV}
_DEFAULT_PORT = 47000


def derive_keys(meter_id: str, secret: str) -> MeterKeys:
    """Demo key material for ``meter_id`` from a shared secret (not a key-management scheme)."""

    def part(label: str, size: int) -> bytes:
        return hashlib.sha256(f"{label}|{meter_id}|{secret}".encode()).digest()[:size]

    return MeterKeys(meter_id, part("uplink", 16), part("downlink", 16), part("iv", 13))


def add_decode_parser(protocols: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = protocols.add_parser("iot", help="an IoT-route frame (CBOR), bare or COSE-protected")
    parser.add_argument("hex", help="the frame in hex ('-' reads stdin)")
    parser.add_argument("--key", help="uplink key (hex) to open a protected frame")
    parser.add_argument("--iv", help="Common IV (hex, 13 bytes) with --key")
    parser.add_argument("--meter-id", help="meter id with --key")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(handler=_decode)


def add_simulate_parsers(devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, kind in _KINDS.items():
        parser = devices.add_parser(name, help=f"simulated {kind.name.lower()} meter on UDP")
        parser.add_argument("--headend", default=f"127.0.0.1:{_DEFAULT_PORT}", help="HOST:PORT")
        parser.add_argument("--bind", default="127.0.0.1:0", help="local HOST:PORT")
        parser.add_argument("--meter-id", default=f"{name}-0001")
        parser.add_argument("--secret", default="demo", help="shared secret for the demo keys")
        parser.add_argument("--interval", type=float, default=1800.0, help="seconds per reading")
        parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
        parser.add_argument(
            "--via-smart-meter",
            action="store_true",
            help="B-route(IoT): --headend is the smart meter (ECHONET Lite format 2, port 3610)",
        )
        parser.set_defaults(handler=lambda args, kind=kind: asyncio.run(_simulate(args, kind)))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("collect", help="IoT-route head-end: collect and back-fill")
    parser.add_argument("--bind", default=f"127.0.0.1:{_DEFAULT_PORT}", help="HOST:PORT")
    parser.add_argument("--meter", action="append", required=True, help="meter id (repeatable)")
    parser.add_argument("--secret", default="demo", help="shared secret for the demo keys")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument(
        "--broute",
        action="store_true",
        help="B-route(IoT): frames come relayed by smart meters in ECHONET Lite format 2",
    )
    parser.set_defaults(handler=lambda args: asyncio.run(_collect(args)))


def _message_json(message: iot_frame.Message) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
            return {name: plain(v) for name, v in fields if v is not None and v != ()}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, enum.Enum):
            return value.name
        return value

    return {"type": type(message).__name__, **plain(message)}


def _decode(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.hex == "-" else args.hex
    try:
        data = bytes.fromhex("".join(text.split()))
    except ValueError:
        print("error: not hexadecimal", file=sys.stderr)
        return 2
    try:
        if args.key:
            if not (args.iv and args.meter_id):
                print("error: --key needs --iv and --meter-id", file=sys.stderr)
                return 2
            keys = MeterKeys(
                args.meter_id, bytes.fromhex(args.key), bytes(16), bytes.fromhex(args.iv)
            )
            message = SecureChannel(keys, side="headend").open(data)
        else:
            message = iot_frame.decode(data)
    except (DecodeError, AuthError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc = _message_json(message)
    print(json.dumps(doc, indent=2, default=str) if args.json else doc)
    return 0


async def _simulate(args: argparse.Namespace, kind: MeterKind) -> int:
    relayed = args.via_smart_meter
    headend = parse_endpoint(args.headend, ECHONET_PORT if relayed else _DEFAULT_PORT)
    meter = SimulatedIotMeter(
        derive_keys(args.meter_id, args.secret),
        kind,
        headend=headend,
        start=time.time(),
        interval=args.interval,
        route=Route.B_IOT if relayed else Route.A_IOT,
    )
    endpoint: Any = Format2Carrier(meter) if relayed else meter
    async with serve_endpoint(endpoint, parse_endpoint(args.bind, 0)) as link:
        print(
            f"{kind.name.lower()} meter {args.meter_id} on {link.address[0]}:{link.address[1]}"
            f" -> head-end {headend[0]}:{headend[1]}, a reading every {args.interval:g} s",
            flush=True,
        )
        await run_for(args.duration)
    return 0


async def _collect(args: argparse.Namespace) -> int:
    def show(event: Any) -> None:
        if isinstance(event, ReadingReceived):
            report = headend.collector.completeness(event.meter_id)
            print(
                f"{time.strftime('%H:%M:%S')} {event.meter_id} seq {event.seq}  "
                f"{report.received}/{report.expected} received",
                flush=True,
            )

    keys = [derive_keys(m, args.secret) for m in args.meter]
    route = Route.B_IOT if args.broute else Route.A_IOT
    headend = HeadEnd(keys, route=route, collector=Collector(), listener=show)
    endpoint: Any = Format2Carrier(headend) if args.broute else headend
    port = ECHONET_PORT if args.broute else _DEFAULT_PORT
    async with serve_endpoint(endpoint, parse_endpoint(args.bind, port)) as link:
        print(
            f"collecting on {link.address[0]}:{link.address[1]} for {', '.join(args.meter)}",
            flush=True,
        )
        await run_for(args.duration)
    fleet = headend.collector.fleet_completeness()
    print(
        f"collected {fleet.received}/{fleet.expected} readings ({fleet.ratio:.1%}); "
        f"dropped {sum(headend.dropped.values())}"
    )
    return 0
