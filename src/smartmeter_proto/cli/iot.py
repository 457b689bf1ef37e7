"""IoT-route commands: ``simulate gasmeter|watermeter|special``, ``collect``.

The simulator and the collector derive each meter's keys from the meter id and
a shared ``--secret`` (SHA-256, one label per key), so the two ends agree
without keys on the command line; the keys are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import os
import sqlite3
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from ..iot.backfill import BackfillCollector
from ..iot.channel import ChannelKeys
from ..iot.frame import MeterKind, Route
from ..iot.headend import Dropped, HeadEnd, ReadingReceived
from ..iot.relay import Format2Carrier
from ..security_state import FileStateStore, SqliteStateStore
from ..sim.iotmeter import SimulatedIotMeter
from ..sim.load_curve import JST
from ..transport.datagram import serve_endpoint
from ..transport.udp import ECHONET_PORT
from .arguments import interval, positive_float
from .endpoints import parse_endpoint, run_for
from .failure import EXIT_FAILED, EXIT_USAGE, CliError

__all__ = ["add_simulate_parsers", "derive_keys", "register"]

_KINDS = {"gasmeter": MeterKind.GAS, "watermeter": MeterKind.WATER, "special": MeterKind.SPECIAL_PV}
_DEFAULT_PORT = 47000
#: Shortest reading interval of the simulated meters: a demo floor (a real gas or water
#: meter reports every 30 minutes, the default), low enough for tests, high enough that a
#: typo cannot turn the simulator into a datagram flood.
MIN_READING_INTERVAL_S: Final = 0.1
#: Why the head-end refused datagrams, in words (keys: :attr:`HeadEnd.dropped` reasons).
_DROP_REASONS: Final[Mapping[str, str]] = {
    "unknown kid": "unknown meter id (not one of --meter)",
    "authentication": "did not authenticate (a different --secret?)",
    "malformed": "not an IoT-route frame",
    "replay": "replayed or stale",
}


def derive_keys(meter_id: str, secret: str) -> ChannelKeys:
    """Demo key material for ``meter_id`` from a shared secret (not a key-management scheme)."""

    def part(label: str, size: int) -> bytes:
        return hashlib.sha256(f"{label}|{meter_id}|{secret}".encode()).digest()[:size]

    return ChannelKeys(meter_id, part("uplink", 16), part("downlink", 16), part("iv", 13))


def _meter_id(text: str) -> str:
    """A meter id: 1..64 printable ASCII characters without spaces (it names the COSE kid)."""
    if not 1 <= len(text) <= 64 or not text.isascii() or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r}: a meter id is 1..64 printable ASCII characters without spaces"
        )
    return text


def add_simulate_parsers(devices: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, kind in _KINDS.items():
        parser = devices.add_parser(
            name,
            help=f"simulated {kind.name.lower()} meter sending protected readings over UDP",
            description=f"A simulated {kind.name.lower()} meter on the IoT route: a reading "
            "every --interval seconds, sealed with keys derived from --meter-id and --secret, "
            "sent to the head-end (run 'collect' there); it answers back-fill requests. "
            "Ctrl-C stops it (exit 130).",
        )
        parser.add_argument(
            "--headend",
            default=f"127.0.0.1:{_DEFAULT_PORT}",
            metavar="HOST[:PORT]",
            help=f"head-end to send to (default 127.0.0.1:{_DEFAULT_PORT}; "
            f"port {ECHONET_PORT} with --via-smart-meter)",
        )
        parser.add_argument(
            "--bind",
            default="127.0.0.1:0",
            metavar="HOST[:PORT]",
            help="local address to send from (default 127.0.0.1, any free port)",
        )
        parser.add_argument(
            "--meter-id", type=_meter_id, default=f"{name}-0001", help=f"default {name}-0001"
        )
        parser.add_argument(
            "--secret", default="demo", help="shared secret the demo keys derive from ('demo')"
        )
        parser.add_argument(
            "--interval",
            type=interval(MIN_READING_INTERVAL_S),
            default=1800.0,
            metavar="S",
            help=f"seconds between readings (default 1800, at least {MIN_READING_INTERVAL_S:g})",
        )
        parser.add_argument(
            "--duration",
            type=positive_float,
            default=None,
            metavar="S",
            help="stop after S seconds (default: run until Ctrl-C)",
        )
        parser.add_argument(
            "--via-smart-meter",
            action="store_true",
            help="B-route(IoT): --headend is the smart meter (ECHONET Lite format 2, port 3610)",
        )
        parser.add_argument(
            "--state",
            default=None,
            metavar="FILE",
            help="JSON file keeping the meter's send counter and replay floor across restarts "
            "(default $XDG_STATE_HOME/smartmeter-proto/iot-meter-<meter id>.json)",
        )
        parser.set_defaults(handler=functools.partial(_simulate_handler, kind=kind))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "collect",
        help="IoT-route head-end: collect readings and back-fill the gaps",
        description="Receive the readings of the meters named by --meter (run 'simulate "
        "gasmeter' etc. against it), ask them again for what is missing, and print what was "
        "collected and why datagrams were refused. Ctrl-C prints the summary and exits 130.",
    )
    parser.add_argument(
        "--bind",
        default=None,
        metavar="HOST[:PORT]",
        help=f"address to listen on (default 127.0.0.1:{_DEFAULT_PORT}; "
        f"port {ECHONET_PORT} with --broute)",
    )
    parser.add_argument(
        "--meter",
        action="append",
        required=True,
        type=_meter_id,
        metavar="ID",
        help="meter id to accept (repeatable)",
    )
    parser.add_argument(
        "--secret", default="demo", help="shared secret the demo keys derive from ('demo')"
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--broute",
        action="store_true",
        help="B-route(IoT): frames come relayed by smart meters in ECHONET Lite format 2",
    )
    parser.add_argument(
        "--state",
        default=None,
        metavar="FILE",
        help="SQLite file keeping the send counters and replay floors across restarts "
        "(default $XDG_STATE_HOME/smartmeter-proto/iot-headend.sqlite)",
    )
    parser.set_defaults(handler=_collect_handler)


def _simulate_handler(args: argparse.Namespace, kind: MeterKind) -> int:
    # Addresses are checked (and names resolved) before anything starts.
    relayed = args.via_smart_meter
    headend = parse_endpoint(args.headend, ECHONET_PORT if relayed else _DEFAULT_PORT, "--headend")
    local = parse_endpoint(args.bind, 0, "--bind")
    return asyncio.run(_simulate(args, kind, headend, local))


async def _simulate(
    args: argparse.Namespace, kind: MeterKind, headend: tuple[str, int], local: tuple[str, int]
) -> int:
    relayed = args.via_smart_meter
    state_store = _meter_state(args.state, args.meter_id)
    meter = SimulatedIotMeter(
        derive_keys(args.meter_id, args.secret),
        kind,
        state_store=state_store,
        headend=headend,
        start=time.time(),
        interval=args.interval,
        route=Route.B_IOT if relayed else Route.A_IOT,
    )
    endpoint: Any = Format2Carrier(meter) if relayed else meter
    async with serve_endpoint(endpoint, local) as link:
        print(
            f"{kind.name.lower()} meter {args.meter_id} on {link.address[0]}:{link.address[1]}"
            f" -> head-end {headend[0]}:{headend[1]}, a reading every {args.interval:g} s",
            flush=True,
        )
        await run_for(args.duration)
    return 0


def _collect_handler(args: argparse.Namespace) -> int:
    port = ECHONET_PORT if args.broute else _DEFAULT_PORT
    local = parse_endpoint(args.bind or f"127.0.0.1:{port}", port, "--bind")
    return asyncio.run(_collect(args, local))


def _clock_jst() -> str:
    """The wall clock in Japan time, labelled (the meters' zone)."""
    return datetime.now(JST).strftime("%H:%M:%S JST")


def _drop_summary(dropped: Mapping[str, int]) -> str:
    """``3 dropped: 2 unknown meter id (...), 1 ...``, or ``nothing dropped``."""
    total = sum(dropped.values())
    if not total:
        return "nothing dropped"
    parts = (
        f"{count} {_DROP_REASONS.get(reason, reason)}"
        for reason, count in sorted(dropped.items(), key=lambda item: -item[1])
    )
    return f"{total} dropped: {', '.join(parts)}"


class _DropWatch:
    """Passes datagrams to ``inner``; says once per reason why one was refused."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self._told: set[str] = set()

    def receive_datagram(self, data: bytes, source: Any, now: float) -> Any:
        events = self.inner.receive_datagram(data, source, now)
        for event in events or ():
            if isinstance(event, Dropped) and event.reason not in self._told:
                self._told.add(event.reason)  # the summary counts them all
                why = _DROP_REASONS.get(event.reason, event.reason)
                print(f"{_clock_jst()} dropped a datagram: {why}", flush=True)
        return events

    def datagrams_to_send(self) -> Any:
        return self.inner.datagrams_to_send()

    def next_deadline(self) -> float | None:
        deadline: float | None = self.inner.next_deadline()
        return deadline

    def handle_timeout(self, now: float) -> Any:
        return self.inner.handle_timeout(now)


async def _collect(args: argparse.Namespace, local: tuple[str, int]) -> int:
    def show(event: Any) -> None:
        if isinstance(event, ReadingReceived):
            report = headend.collector.completeness(event.meter_id)
            print(
                f"{_clock_jst()} {event.meter_id} seq {event.seq}  "
                f"{report.received}/{report.expected} received",
                flush=True,
            )

    keys = [derive_keys(m, args.secret) for m in args.meter]
    route = Route.B_IOT if args.broute else Route.A_IOT
    state_store = _headend_state(args.state)
    headend = HeadEnd(
        keys, state_store=state_store, route=route, collector=BackfillCollector(), listener=show
    )
    carrier = Format2Carrier(headend) if args.broute else None
    endpoint = _DropWatch(carrier or headend)
    interrupted = False
    async with serve_endpoint(endpoint, local) as link:
        print(
            f"collecting on {link.address[0]}:{link.address[1]} for {', '.join(args.meter)}",
            flush=True,
        )
        try:
            await run_for(args.duration)
        except asyncio.CancelledError:
            interrupted = True  # Ctrl-C: print what was collected, then exit 130
    dropped = dict(headend.dropped)
    if carrier is not None and carrier.dropped:
        dropped["not ECHONET Lite format 2"] = carrier.dropped
    fleet = headend.collector.fleet_completeness()
    if fleet.expected:
        got = f"collected {fleet.received}/{fleet.expected} readings ({fleet.ratio:.1%})"
    else:
        got = "no readings collected"
    print(f"{got}; {_drop_summary(dropped)}", flush=True)
    if interrupted:
        raise asyncio.CancelledError
    return 0


# ------------------------------------------------------------------ security state (--state)
#: Directory of the default state files (XDG Base Directory: state that must survive restarts).
_STATE_DIR: Final = "smartmeter-proto"


def _state_dir() -> Path:
    """``$XDG_STATE_HOME/smartmeter-proto``; ``~/.local/state`` when unset or relative."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / _STATE_DIR


def _writable(path: Path) -> Path:
    """Make the state file's directory; fail now rather than at the first reservation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CliError(f"cannot write the state file {path}", EXIT_FAILED)
    return path


def _meter_state(option: str | None, meter_id: str) -> FileStateStore:
    """The simulated meter's state file: ``--state`` or one file per meter id by default."""
    safe = "".join(c if c.isalnum() or c in "._-" else f"%{ord(c):02X}" for c in meter_id)
    path = _writable(Path(option) if option else _state_dir() / f"iot-meter-{safe}.json")
    try:
        store = FileStateStore(path)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    print(f"security state in {path}", flush=True)
    return store


def _headend_state(option: str | None) -> SqliteStateStore:
    """The head-end's state database: ``--state`` or the default under the state directory."""
    path = _writable(Path(option) if option else _state_dir() / "iot-headend.sqlite")
    try:
        store = SqliteStateStore(path)
    except sqlite3.OperationalError as exc:
        raise CliError(f"cannot open the state database {path}: {exc}", EXIT_FAILED) from None
    except sqlite3.DatabaseError as exc:
        raise CliError(f"{path} is not a state database: {exc}", EXIT_USAGE) from None
    print(f"security state in {path}", flush=True)
    return store
