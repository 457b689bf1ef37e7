"""``simulate g3modem`` and ``demo --g3``: the B-route over G3-PLC with an emulated modem.

The emulator speaks the Microchip USI + G3 ADP serial host interface on a
pseudo-terminal (path on stdout's first line), with the simulated smart meter
as PAN coordinator and LBP/EAP-PSK server behind it. The PSK comes from
--psk or SMARTMETER_PROTO_G3_PSK (hex), the ID_P from --id-p or
SMARTMETER_PROTO_G3_ID_P, else the demo placeholders; neither is printed.
Ctrl-C stops it (exit 130).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from typing import Final

from ..errors import AuthError, SessionError, TransportError
from ..plc.broute_g3 import ID_P_LEN
from ..sim.g3modem import G3Fault, make_g3modem
from ..transport.g3plc import open_g3plc
from ..transport.pty_server import run_dongle_on_pty
from ..wisun.broute import BRouteEvent
from .arguments import positive_float
from .dongle import check_injections, parse_injection, serve_on_pty
from .failure import fail
from .summary import print_summary, read_summary

__all__ = ["DEMO_G3_ID_P", "DEMO_G3_PSK", "add_g3modem_parser", "g3_demo"]

#: Demo credentials: a 36-byte ARIB ID_P and a 16-byte PSK (placeholders, not a meter's).
DEMO_G3_ID_P: Final = b"HEMS00112233445566778899AABBCCDDEEFF"
DEMO_G3_PSK: Final = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
_ENV_PSK: Final = "SMARTMETER_PROTO_G3_PSK"
_ENV_ID_P: Final = "SMARTMETER_PROTO_G3_ID_P"
_DESCRIPTION: Final = (
    "A G3-PLC modem speaking the Microchip USI + G3 ADP serial host interface, with a "
    "simulated smart meter as PAN coordinator and LBP/EAP-PSK server behind it, on a "
    "pseudo-terminal whose path is stdout's first line. The PSK comes from --psk or "
    f"${_ENV_PSK} (hex), the ID_P from --id-p or ${_ENV_ID_P}, else the demo placeholders; "
    "neither is printed. Ctrl-C stops it (exit 130)."
)


def _psk(text: str) -> bytes:
    """The EAP-PSK key: 16 bytes in hex (RFC 4764 §2); never echoed."""
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError("the PSK is 32 hex digits") from None
    if len(value) != len(DEMO_G3_PSK):
        raise argparse.ArgumentTypeError("the PSK is 32 hex digits")
    return value


def _id_p(text: str) -> bytes:
    """The device's EAP-PSK identity ID_P: ARIB fixes it at 36 ASCII characters."""
    if len(text) != ID_P_LEN or not text.isascii() or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"the ID_P is {ID_P_LEN} printable ASCII characters, got {len(text)}"
        )
    return text.encode("ascii")


def _from_env(name: str, parse: Callable[[str], bytes]) -> bytes | None:
    """``$name`` through ``parse``, None when unset; a refusal names the variable only."""
    if name not in os.environ:
        return None
    try:
        return parse(os.environ[name])
    except argparse.ArgumentTypeError as exc:
        fail(f"${name}: {exc}")


def add_g3modem_parser(devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``g3modem`` to the ``simulate`` device subcommands."""
    parser = devices.add_parser(
        "g3modem",
        help="G3-PLC modem (Microchip USI + ADP) with a simulated meter, on a pseudo-terminal",
        description=_DESCRIPTION,
    )
    parser.add_argument(
        "--psk",
        type=_psk,
        default=None,
        help=f"EAP-PSK key, 32 hex digits (else ${_ENV_PSK}, else a placeholder)",
    )
    parser.add_argument(
        "--id-p",
        type=_id_p,
        default=None,
        help=f"device identity ID_P, {ID_P_LEN} characters (else ${_ENV_ID_P}, else a placeholder)",
    )
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        type=functools.partial(parse_injection, faults=G3Fault),
        metavar="FAULT[:K=V,...][@SECONDS]",
        help="inject a fault SECONDS after the start (repeatable): "
        + ", ".join(f.value for f in G3Fault),
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulation (1)")
    parser.add_argument(
        "--time-scale",
        type=positive_float,
        default=1.0,
        metavar="X",
        help="run the emulator's clock X times faster than the wall clock (default 1)",
    )
    parser.set_defaults(handler=_simulate_g3modem)


def _simulate_g3modem(args: argparse.Namespace) -> int:
    psk = args.psk or _from_env(_ENV_PSK, _psk) or DEMO_G3_PSK
    id_p = args.id_p or _from_env(_ENV_ID_P, _id_p) or DEMO_G3_ID_P
    make = functools.partial(make_g3modem, psk=psk, id_p=id_p, now=time.time(), seed=args.seed)
    check_injections(make, args.inject)
    modem = make()
    print(f"{modem.model}: simulated meter behind a G3-PLC modem", file=sys.stderr, flush=True)
    return serve_on_pty(modem, time_scale=args.time_scale, injections=args.inject)


async def g3_demo(progress: Callable[[BRouteEvent], None]) -> int:
    """The ``demo --g3`` body: emulated modem on a pty, our client joins and reads."""
    modem = make_g3modem(psk=DEMO_G3_PSK, id_p=DEMO_G3_ID_P, now=time.time())
    async with run_dongle_on_pty(modem) as path:
        print(f"emulated G3-PLC modem on {path}, simulated smart meter on the power line")
        print("joining the meter's PAN (initialise, credentials, discovery, LBP/EAP-PSK):")
        try:
            async with open_g3plc(
                path, id_p=DEMO_G3_ID_P, psk=DEMO_G3_PSK, on_event=progress
            ) as meter:
                print_summary(await read_summary(meter, meter.address))
        except (AuthError, TransportError, SessionError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0
