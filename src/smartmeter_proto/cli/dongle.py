"""``simulate dongle``: a Wi-SUN B-route dongle (SKSTACK IP or J11) with a meter, on a pty.

The slave path of the pseudo-terminal is the first line of stdout; open it
with any serial client. Credentials come from ``--rbid``/``--password``, else
from the environment (``SMARTMETER_PROTO_RBID``, ``SMARTMETER_PROTO_PASSWORD``),
else the placeholders of ROHM application note 63AN028E; they are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from enum import StrEnum
from typing import Any, Final

from ..sim.dongle import MODELS, Fault, make_dongle
from ..sim.dongle_pty import Injection, main
from ..sim.radio import pcap_capture

__all__ = ["add_dongle_parser", "parse_injection"]

#: Placeholder credentials printed in ROHM application note 63AN028E (frame F5).
DEMO_RBID: Final = "00112233445566778899AABBCCDDEEFF"
DEMO_PASSWORD: Final = "0123456789AB"  # noqa: S105 - a published placeholder
_ENV_RBID: Final = "SMARTMETER_PROTO_RBID"
_ENV_PASSWORD: Final = "SMARTMETER_PROTO_PASSWORD"  # noqa: S105 - a variable name


def _value(text: str) -> Any:
    for convert in (lambda t: int(t, 0), float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_injection(text: str, faults: type[StrEnum] = Fault) -> Injection:
    """``FAULT[:KEY=VALUE,...][@SECONDS]``, e.g. ``silent_meter:seconds=60@120``."""
    spec, _, when = text.partition("@")
    name, _, raw_params = spec.partition(":")
    try:
        fault = faults(name)
        delay = float(when) if when else 0.0
    except ValueError:
        known = ", ".join(f.value for f in faults)
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected FAULT[:K=V,...][@SECONDS], FAULT one of {known}"
        ) from None
    params: dict[str, Any] = {}
    for item in filter(None, raw_params.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{item!r}: expected KEY=VALUE")
        params[key.strip()] = _value(value.strip())
    return delay, fault.value, params


def add_dongle_parser(devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dongle`` to the ``simulate`` device subcommands."""
    parser = devices.add_parser(
        "dongle",
        help="Wi-SUN B-route dongle with a simulated meter, on a pseudo-terminal",
        description=__doc__,
    )
    parser.add_argument("--model", choices=sorted(MODELS), default="bp35a1", help="dongle model")
    parser.add_argument("--rbid", default=None, help=f"B-route ID (else ${_ENV_RBID})")
    parser.add_argument(
        "--password", default=None, help=f"B-route password (else ${_ENV_PASSWORD})"
    )
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        type=parse_injection,
        metavar="FAULT[:K=V,...][@SECONDS]",
        help="inject a fault after SECONDS (repeatable): " + ", ".join(f.value for f in Fault),
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the radio identity")
    parser.add_argument(
        "--pcap",
        type=argparse.FileType("wb"),
        default=None,
        metavar="FILE",
        help="write every radio frame (PANA join included) to FILE as pcap (802.15.4, no FCS)",
    )
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="run the emulator's clock this much faster"
    )
    parser.set_defaults(handler=_simulate_dongle)


def _simulate_dongle(args: argparse.Namespace) -> int:
    rbid = args.rbid or os.environ.get(_ENV_RBID) or DEMO_RBID
    password = args.password or os.environ.get(_ENV_PASSWORD) or DEMO_PASSWORD
    try:
        dongle = make_dongle(
            args.model,
            rbid=rbid,
            password=password,
            now=time.time(),
            seed=args.seed,
            capture=pcap_capture(args.pcap) if args.pcap else None,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{dongle.model}: meter {dongle.meter_ipv6} MAC {dongle.meter_mac.hex().upper()} "
        f"channel {dongle.channel} PAN 0x{dongle.pan_id:04X}",
        file=sys.stderr,
        flush=True,
    )
    return main(dongle, time_scale=args.time_scale, injections=args.inject)
