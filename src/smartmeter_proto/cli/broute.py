"""``demo`` and ``monitor``: read a smart meter over the B-route through a Wi-SUN dongle.

``demo`` starts the dongle emulator on a pseudo-terminal, with the simulated
meter behind its radio, and runs the HEMS client on it through the real
serial path. ``monitor`` does the same against a real dongle and keeps going.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time

from ..errors import AuthError, SessionError, TransportError
from ..sim.meter import METER_EOJ
from ..transport.serial import open_broute
from ..wisun.broute import BRouteEvent, Joined, Reauthenticated, ScanFinished, StateChanged
from .dongle import DEMO_PASSWORD, DEMO_RBID
from .summary import print_summary, read_summary

__all__ = ["register"]

_MODELS = ("bp35a1", "bp35c2", "rl7023", "j11")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="emulated Wi-SUN dongle + meter on a pty, read end to end by the HEMS client"
    )
    demo.add_argument("--model", choices=_MODELS, default="bp35c2", help="dongle to emulate")
    demo.add_argument("--lan", action="store_true", help="ECHONET Lite over UDP instead")
    demo.add_argument("--g3", action="store_true", help="over G3-PLC (emulated modem) instead")
    demo.add_argument(
        "--pcap",
        type=argparse.FileType("wb"),
        default=None,
        metavar="FILE",
        help="write the session's radio frames (join included) to FILE as pcap",
    )
    demo.set_defaults(handler=_demo_handler)

    monitor = commands.add_parser("monitor", help="read a real meter through a Wi-SUN dongle")
    monitor.add_argument("--device", required=True, help="serial device, e.g. /dev/ttyUSB0")
    monitor.add_argument("--rbid", required=True, help="B-route ID (32 characters)")
    monitor.add_argument("--password", help="B-route password (asked for when omitted)")
    monitor.add_argument("--model", choices=_MODELS, default="bp35c2")
    monitor.add_argument("--interval", type=float, default=10.0, help="seconds between readings")
    monitor.add_argument("--count", type=int, default=None, help="stop after this many readings")
    monitor.set_defaults(handler=lambda args: asyncio.run(_monitor(args)))


def _demo_handler(args: argparse.Namespace) -> int:
    if args.lan:
        from .demo import run_lan_demo

        return asyncio.run(run_lan_demo())
    if args.g3:
        from .plc import g3_demo

        return asyncio.run(g3_demo(_progress))
    return asyncio.run(_demo(args))


def _progress(event: BRouteEvent) -> None:
    if isinstance(event, StateChanged):
        print(f"  b-route: {event.old.name.lower()} -> {event.new.name.lower()}", flush=True)
    elif isinstance(event, ScanFinished):
        found = ", ".join(f"ch {p.channel} PAN {p.pan_id:04X}" for p in event.found) or "nothing"
        print(f"  scan (duration {event.duration}): {found}", flush=True)
    elif isinstance(event, Joined):
        where = f"channel {event.channel}" if event.channel else f"PAN {event.pan_id:04X}"
        print(f"  joined meter {event.meter_ipv6} on {where}", flush=True)
    elif isinstance(event, Reauthenticated):
        print("  PANA session renewed", flush=True)


async def _demo(args: argparse.Namespace) -> int:
    from ..sim.dongle import make_dongle
    from ..sim.dongle_pty import run_dongle_on_pty
    from ..sim.radio import pcap_capture

    capture = pcap_capture(args.pcap) if args.pcap else None
    emulator = make_dongle(
        args.model, rbid=DEMO_RBID, password=DEMO_PASSWORD, now=time.time(), capture=capture
    )
    async with run_dongle_on_pty(emulator) as path:
        print(f"emulated {args.model} dongle on {path}, simulated smart meter behind its radio")
        print("joining the meter (reset, credentials, scan, PANA):")
        try:
            async with open_broute(
                path, DEMO_RBID, DEMO_PASSWORD, model=args.model, on_event=_progress
            ) as meter:
                print_summary(await read_summary(meter, meter.address))
            if args.pcap:
                print(f"radio frames written to {args.pcap.name}")
        except (AuthError, TransportError, SessionError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


async def _monitor(args: argparse.Namespace) -> int:
    password = args.password or getpass.getpass("B-route password: ")
    try:
        async with open_broute(
            args.device, args.rbid, password, model=args.model, on_event=_progress
        ) as meter:
            taken = 0
            while args.count is None or taken < args.count:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                try:
                    values = await meter.get_values(meter.address, METER_EOJ, [0xE7, 0xE8, 0xE0])
                except SessionError as exc:
                    print(f"{stamp}  no reading: {exc}", flush=True)
                else:
                    current = values[0xE8]
                    print(
                        f"{stamp}  {values[0xE7]:>6} W  R {current['r_phase']} A  "
                        f"T {current['t_phase']} A  count {values[0xE0]}",
                        flush=True,
                    )
                taken += 1
                if args.count is None or taken < args.count:
                    await asyncio.sleep(args.interval)
    except (AuthError, TransportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
