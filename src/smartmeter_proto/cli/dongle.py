"""``simulate dongle``: a Wi-SUN B-route dongle (SKSTACK IP or J11) with a meter, on a pty.

The slave path of the pseudo-terminal is the first line of stdout; open it
with any serial client. Credentials come from --rbid/--password, else from the
environment (SMARTMETER_PROTO_RBID, SMARTMETER_PROTO_PASSWORD), else the
placeholders of ROHM application note 63AN028E; they are never printed.
Ctrl-C stops it (exit 130).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Final

from ..sim.dongle import Fault, make_dongle
from ..sim.radio import pcap_capture
from ..transport.pty_server import Injection, SerialEmulator, serve_dongle
from ..wisun.dongle_models import DEFAULT_DONGLE_MODEL, dongle_model_names
from ..wisun.skstack import sksetpwd, sksetrbid
from .arguments import output_path, positive_float
from .failure import fail

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_RBID",
    "add_dongle_parser",
    "broute_id",
    "broute_password",
    "check_injections",
    "parse_injection",
    "serve_on_pty",
]

#: Placeholder credentials printed in ROHM application note 63AN028E (frame F5).
DEMO_RBID: Final = "00112233445566778899AABBCCDDEEFF"
DEMO_PASSWORD: Final = "0123456789AB"  # noqa: S105 - a published placeholder
_ENV_RBID: Final = "SMARTMETER_PROTO_RBID"
_ENV_PASSWORD: Final = "SMARTMETER_PROTO_PASSWORD"  # noqa: S105 - a variable name
_DESCRIPTION: Final = (
    "A Wi-SUN B-route dongle (SKSTACK IP or J11) with a simulated smart meter behind its "
    "radio, on a pseudo-terminal whose path is stdout's first line: open it with any serial "
    f"client. Credentials come from --rbid/--password, else ${_ENV_RBID} and ${_ENV_PASSWORD}, "
    "else the placeholders of ROHM application note 63AN028E; they are never printed. "
    "Ctrl-C stops it (exit 130)."
)


def broute_id(text: str) -> str:
    """A B-route ID as SKSETRBID takes it: 32 ASCII characters (the text is never echoed)."""
    try:
        sksetrbid(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def broute_password(text: str) -> str:
    """A B-route password as SKSETPWD takes it: 1..32 ASCII characters (never echoed)."""
    try:
        sksetpwd(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _checked(value: str, check: Callable[[str], str], where: str) -> str:
    """``value`` through an argument ``check``; a refusal names ``where``, never the value."""
    try:
        return check(value)
    except argparse.ArgumentTypeError as exc:
        fail(f"{where}: {exc}")


def _value(text: str) -> Any:
    for convert in (lambda t: int(t, 0), float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text


def parse_injection(text: str, faults: type[StrEnum] = Fault) -> Injection:
    """``FAULT[:KEY=VALUE,...][@SECONDS]``, e.g. ``silent_meter:seconds=60@120``.

    SECONDS (emulator time after the start) is a finite number >= 0.
    """
    spec, _, when = text.partition("@")
    name, _, raw_params = spec.partition(":")
    known = ", ".join(f.value for f in faults)
    try:
        fault = faults(name)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r}: expected FAULT[:K=V,...][@SECONDS], FAULT one of {known}"
        ) from None
    try:
        delay = float(when) if when else 0.0
    except ValueError:
        delay = math.nan
    if not (math.isfinite(delay) and delay >= 0):
        raise argparse.ArgumentTypeError(
            f"{text[:60]!r}: @SECONDS must be a number of seconds >= 0, not {when[:20]!r}"
        )
    params: dict[str, Any] = {}
    for item in filter(None, raw_params.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"{item[:40]!r}: expected KEY=VALUE")
        params[key.strip()] = _value(value.strip())
    return delay, fault.value, params


def check_injections(build: Callable[[], SerialEmulator], injections: Sequence[Injection]) -> None:
    """Refuse (exit 2) an injection the emulator would reject later (a bad key or value).

    Each one is tried on a scratch emulator from ``build``, so the rules stay the emulator's.
    """
    for _, fault, params in injections:
        try:
            build().inject(fault, **params)
        except (TypeError, ValueError) as exc:
            fail(f"argument --inject: {fault}: {exc}")


def serve_on_pty(
    emulator: SerialEmulator, *, time_scale: float, injections: Sequence[Injection]
) -> int:
    """Serve ``emulator`` on a new pty; its path is stdout's first line.

    Ctrl-C ends it with exit 130, SIGTERM with 0; the pty is closed either way.
    """

    async def serve() -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with serve_dongle(emulator, time_scale=time_scale) as pty:
            for delay, fault, params in injections:
                inject = functools.partial(pty.inject, fault, **params)
                if delay <= 0:  # in place before the host knows the path, so its first byte
                    inject()
                else:
                    loop.call_later(delay / time_scale, inject)
            print(pty.path, flush=True)
            await stop.wait()
        return 0

    return asyncio.run(serve())


def add_dongle_parser(devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dongle`` to the ``simulate`` device subcommands."""
    parser = devices.add_parser(
        "dongle",
        help="Wi-SUN B-route dongle with a simulated meter, on a pseudo-terminal",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "--model",
        choices=dongle_model_names(),
        default=DEFAULT_DONGLE_MODEL,
        help=f"dongle model (default {DEFAULT_DONGLE_MODEL})",
    )
    parser.add_argument(
        "--rbid",
        type=broute_id,
        default=None,
        help=f"B-route ID, 32 characters (else ${_ENV_RBID}, else a placeholder)",
    )
    parser.add_argument(
        "--password",
        type=broute_password,
        default=None,
        help=f"B-route password (else ${_ENV_PASSWORD}, else a placeholder); "
        "visible to other users in the process list, prefer the variable",
    )
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        type=parse_injection,
        metavar="FAULT[:K=V,...][@SECONDS]",
        help="inject a fault SECONDS after the start (repeatable): "
        + ", ".join(f.value for f in Fault),
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the radio identity (1)")
    parser.add_argument(
        "--pcap",
        type=output_path,
        default=None,
        metavar="FILE",
        help="write every radio frame (PANA join included) to FILE as pcap (802.15.4, no FCS)",
    )
    parser.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="run the emulator's clock X times faster than the wall clock (default 1)",
    )
    parser.set_defaults(handler=_simulate_dongle)


def _simulate_dongle(args: argparse.Namespace) -> int:
    rbid = args.rbid or _checked(os.environ.get(_ENV_RBID) or DEMO_RBID, broute_id, f"${_ENV_RBID}")
    password = args.password or _checked(
        os.environ.get(_ENV_PASSWORD) or DEMO_PASSWORD, broute_password, f"${_ENV_PASSWORD}"
    )
    make = functools.partial(
        make_dongle, args.model, rbid=rbid, password=password, now=time.time(), seed=args.seed
    )
    check_injections(make, args.inject)
    with contextlib.ExitStack() as files:
        pcap = files.enter_context(args.pcap.open("wb")) if args.pcap else None
        dongle = make(capture=pcap_capture(pcap) if pcap else None)
        print(
            f"{dongle.model}: meter {dongle.meter_ipv6} MAC {dongle.meter_mac.hex().upper()} "
            f"channel {dongle.channel} PAN 0x{dongle.pan_id:04X}",
            file=sys.stderr,
            flush=True,
        )
        return serve_on_pty(dongle, time_scale=args.time_scale, injections=args.inject)
