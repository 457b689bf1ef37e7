"""``demo`` and ``monitor``: read a smart meter over the B-route through a Wi-SUN dongle.

``demo`` starts the dongle emulator on a pseudo-terminal, with the simulated
meter behind its radio, and runs the HEMS client on it through the real
serial path. ``monitor`` does the same against a real dongle and keeps going.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Final

from ..echonet.energy import EnergyScale, unit_code
from ..errors import SessionError
from ..sim.load_curve import JST
from ..sim.meter import METER_EOJ
from ..transport.serial import BRouteMeter, open_broute
from ..wisun.broute import BRouteEvent, Joined, Reauthenticated, ScanFinished, StateChanged
from ..wisun.dongle_models import DEFAULT_DONGLE_MODEL, dongle_model_names
from .arguments import interval, output_path, positive_int
from .dongle import DEMO_PASSWORD, DEMO_RBID, broute_id, broute_password
from .failure import EXIT_USAGE, fail
from .summary import print_summary, read_summary

__all__ = ["MIN_POLL_INTERVAL_S", "register"]

#: Shortest time between two ``monitor`` readings. The B-route client keeps one request in
#: flight (wisun/broute.py) and waits up to 10 s for an answer (transport/serial.py
#: open_broute ``timeout``); the meter shares its 920 MHz radio, whose airtime ARIB
#: STD-T108 limits, with its A-route duties. Polling faster than one answer can take only
#: queues requests behind a slow one and loads the meter.
MIN_POLL_INTERVAL_S: Final = 10.0
_ENV_RBID: Final = "SMARTMETER_PROTO_RBID"
_ENV_PASSWORD: Final = "SMARTMETER_PROTO_PASSWORD"  # noqa: S105 - a variable name
#: EPCs of the low-voltage smart meter (ECHONET Lite APPENDIX §3.3.25): coefficient,
#: effective digits, unit; instantaneous power, currents; cumulative energy (normal).
_COEFFICIENT, _DIGITS, _UNIT = 0xD3, 0xD7, 0xE1
_POWER, _CURRENTS, _ENERGY = 0xE7, 0xE8, 0xE0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="emulated Wi-SUN dongle + meter on a pty, read end to end by the HEMS client",
        description="Read a simulated smart meter end to end: through an emulated Wi-SUN "
        "dongle on a pseudo-terminal (default), over UDP on loopback (--lan) or through an "
        "emulated G3-PLC modem (--g3).",
    )
    path = demo.add_mutually_exclusive_group()
    path.add_argument(
        "--model",
        choices=dongle_model_names(),
        default=None,
        help=f"dongle to emulate (default {DEFAULT_DONGLE_MODEL})",
    )
    path.add_argument("--lan", action="store_true", help="ECHONET Lite over UDP instead")
    path.add_argument("--g3", action="store_true", help="over G3-PLC (emulated modem) instead")
    demo.add_argument(
        "--pcap",
        type=output_path,
        default=None,
        metavar="FILE",
        help="write the session's Wi-SUN radio frames (join included) to FILE as pcap "
        "(dongle demo only)",
    )
    demo.set_defaults(handler=_demo_handler)

    monitor = commands.add_parser(
        "monitor",
        help="read a real meter through a Wi-SUN dongle",
        description="Join the smart meter through the dongle on --device and print power, "
        "currents and cumulative energy (kWh) every --interval seconds, stamped in JST. "
        f"The password comes from --password-file, ${_ENV_PASSWORD} or a terminal prompt "
        "(never echoed). Ctrl-C stops it (exit 130).",
    )
    monitor.add_argument("--device", required=True, help="serial device, e.g. /dev/ttyUSB0")
    monitor.add_argument(
        "--rbid",
        type=broute_id,
        default=None,
        help=f"B-route ID, 32 characters (else ${_ENV_RBID})",
    )
    secret = monitor.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="read the B-route password from the first line of FILE",
    )
    secret.add_argument(
        "--password",
        type=broute_password,
        default=None,
        help="B-route password (visible to other users in the process list: prefer "
        f"--password-file, ${_ENV_PASSWORD} or the prompt)",
    )
    monitor.add_argument(
        "--model",
        choices=dongle_model_names(),
        default=DEFAULT_DONGLE_MODEL,
        help=f"dongle model (default {DEFAULT_DONGLE_MODEL})",
    )
    monitor.add_argument(
        "--interval",
        type=interval(MIN_POLL_INTERVAL_S),
        default=MIN_POLL_INTERVAL_S,
        metavar="S",
        help=f"seconds between readings (default and minimum {MIN_POLL_INTERVAL_S:g}: one "
        "request at a time, and an answer may take seconds)",
    )
    monitor.add_argument(
        "--count",
        type=positive_int,
        default=None,
        metavar="N",
        help="stop after N readings (default: run until Ctrl-C)",
    )
    monitor.set_defaults(handler=_monitor_handler)


def _demo_handler(args: argparse.Namespace) -> int:
    if args.pcap is not None and (args.lan or args.g3):
        fail("argument --pcap: records the Wi-SUN radio of the dongle demo; not with --lan/--g3")
    if args.lan:
        from .demo import run_lan_demo

        return asyncio.run(run_lan_demo())
    if args.g3:
        from .plc import g3_demo

        return asyncio.run(g3_demo(_progress))
    return asyncio.run(_demo(args.model or DEFAULT_DONGLE_MODEL, args.pcap))


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


async def _demo(model: str, pcap: Path | None) -> int:
    from ..sim.dongle import make_dongle
    from ..sim.radio import pcap_capture
    from ..transport.pty_server import run_dongle_on_pty

    with contextlib.ExitStack() as files:
        capture = pcap_capture(files.enter_context(pcap.open("wb"))) if pcap else None
        emulator = make_dongle(
            model, rbid=DEMO_RBID, password=DEMO_PASSWORD, now=time.time(), capture=capture
        )
        async with run_dongle_on_pty(emulator) as path:
            print(f"emulated {model} dongle on {path}, simulated smart meter behind its radio")
            print("joining the meter (reset, credentials, scan, PANA):")
            async with open_broute(
                path, DEMO_RBID, DEMO_PASSWORD, model=model, on_event=_progress
            ) as meter:
                print_summary(await read_summary(meter, meter.address))
    if pcap:
        print(f"radio frames written to {pcap}")
    return 0


def _read_password_file(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as file:
            line = file.readline(256)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable"
        fail(f"argument --password-file: cannot read {str(path)[:80]!r}: {reason}")
    return line.strip("\r\n")


def _password(args: argparse.Namespace) -> str:
    """The B-route password: option, file, environment, else a prompt on a terminal."""
    if args.password is not None:
        return str(args.password)
    if args.password_file is not None:
        where, text = "--password-file", _read_password_file(args.password_file)
    elif _ENV_PASSWORD in os.environ:
        where, text = f"${_ENV_PASSWORD}", os.environ[_ENV_PASSWORD]
    elif sys.stdin.isatty():
        try:
            where, text = "the password", getpass.getpass("B-route password: ")
        except EOFError:
            fail("no B-route password entered")
    else:
        fail(
            "no B-route password: give --password-file FILE, set "
            f"${_ENV_PASSWORD}, or run on a terminal to be asked",
            EXIT_USAGE,
        )
    try:
        return broute_password(text)
    except argparse.ArgumentTypeError as exc:
        fail(f"{where}: {exc}")


def _monitor_handler(args: argparse.Namespace) -> int:
    # Everything the user typed is checked before the dongle is touched.
    rbid = args.rbid
    if rbid is None:
        if _ENV_RBID not in os.environ:
            fail(f"no B-route ID: give --rbid or set ${_ENV_RBID}")
        try:
            rbid = broute_id(os.environ[_ENV_RBID])
        except argparse.ArgumentTypeError as exc:
            fail(f"${_ENV_RBID}: {exc}")
    password = _password(args)
    return asyncio.run(_monitor(args, rbid, password))


async def _energy_scale(meter: BRouteMeter) -> EnergyScale:
    """The meter's counter scale: 0xD3 (optional, else 1), 0xE1 and 0xD7 (APPENDIX §3.3.25)."""
    done = await meter.get(meter.address, METER_EOJ, [_COEFFICIENT, _DIGITS, _UNIT])
    got = {epc: value.value for epc, value in done.values.items()}
    if _UNIT not in got or _DIGITS not in got:
        raise SessionError("the meter did not give its energy unit (0xE1) and digits (0xD7)")
    if _COEFFICIENT in got:
        return EnergyScale(got[_COEFFICIENT], unit_code(got[_UNIT]), got[_DIGITS])
    return EnergyScale(unit_code=unit_code(got[_UNIT]), effective_digits=got[_DIGITS])


def _now_jst() -> str:
    """The wall clock in Japan time, the meter's zone, labelled."""
    return datetime.now(JST).strftime("%Y-%m-%d %H:%M:%S JST")


async def _monitor(args: argparse.Namespace, rbid: str, password: str) -> int:
    async with open_broute(
        args.device, rbid, password, model=args.model, on_event=_progress
    ) as meter:
        scale = await _energy_scale(meter)
        taken = 0
        while args.count is None or taken < args.count:
            try:
                values = await meter.get_values(
                    meter.address, METER_EOJ, [_POWER, _CURRENTS, _ENERGY]
                )
            except SessionError as exc:
                print(f"{_now_jst()}  no reading: {exc}", flush=True)
            else:
                current = values[_CURRENTS]
                print(
                    f"{_now_jst()}  {values[_POWER]:>6} W  R {current['r_phase']} A  "
                    f"T {current['t_phase']} A  {scale.to_kwh(values[_ENERGY])} kWh",
                    flush=True,
                )
            taken += 1
            if args.count is None or taken < args.count:
                await asyncio.sleep(args.interval)
    return 0
