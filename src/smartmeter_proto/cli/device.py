"""``simulate device``: one ECHONET Lite node hosting simulated objects of any specified class."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time

from ..echonet.specs import known_classes, load_class
from ..sim.device import device_node
from .endpoints import run_for
from .node_options import add_node_options, joined_text, serve_from_args

__all__ = ["add_device_parser", "class_code"]

#: Class group 0x0E holds profile objects, which a node makes itself (Part II §6.11).
_PROFILE_GROUP = 0x0E


def class_code(text: str) -> int:
    """``0x0130`` or ``0130``: a device class with a file in ``specs/echonet``."""
    try:
        code = int(text, 16)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a class code in hex such as 0x0130, got {text!r}"
        ) from None
    if not 0 <= code <= 0xFFFF or code >> 8 == _PROFILE_GROUP or load_class(code) is None:
        raise argparse.ArgumentTypeError(
            f"no device class specification for {text!r} ({len(known_classes())} classes known)"
        )
    return code


def add_device_parser(devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    device = devices.add_parser(
        "device", help="a node with simulated objects of any class (--class, repeatable)"
    )
    device.add_argument(
        "--class",
        dest="classes",
        action="append",
        required=True,
        type=class_code,
        metavar="0xCCCC",
        help="device class to host (repeatable; a class given twice gives instances 01, 02)",
    )
    add_node_options(device)
    device.set_defaults(handler=lambda args: asyncio.run(_simulate_device(args)))


async def _simulate_device(args: argparse.Namespace) -> int:
    started = time.time()
    base = dt.datetime.now().replace(microsecond=0)  # devices keep local time

    def calendar(now: float) -> dt.datetime:
        return base + dt.timedelta(seconds=max(0.0, now - started))

    node = device_node(args.classes, calendar=calendar)
    async with serve_from_args(node, args) as link:
        bound = link.address
        objects = ", ".join(str(eoj) for eoj in node.objects if eoj.class_group != _PROFILE_GROUP)
        joined = joined_text(link)
        print(f"simulated node {objects} listening on {bound[0]}:{bound[1]}{joined}", flush=True)
        await run_for(args.duration)
    return 0
