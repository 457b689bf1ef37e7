"""``conformance TARGET``: run the ECHONET Lite conformance checks against one node.

TARGET is ``udp://HOST[:PORT]`` (a node on the LAN) or
``serial:///dev/ttyX?model=bp35c2&rbid=...&password=...`` (a smart meter over
the B-route through a dongle). The B-route ID and password may come from the
environment instead (``SMARTMETER_PROTO_RBID``, ``SMARTMETER_PROTO_PASSWORD``);
the password is never printed. Each result is printed as its check ends; ^C
stops the run, writes the JUnit file with the results so far and exits 130.
Exit status 0 only if no check failed, 1 if one did, 2 if the run could not
start (bad target, link down, refused credentials), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qs, urlsplit

from ..conformance import MAX_FUZZ_FRAMES, Report, RunConfig, run_conformance
from ..conformance.checks import Result
from ..conformance.report import result_line, summary_line, write_junit
from ..errors import ProtocolError
from ..transport.serial import open_broute
from ..transport.udp import ECHONET_PORT, EchonetClient
from ..wisun.dongle_models import DONGLE_MODELS
from .arguments import endpoint, positive_float
from .failure import EXIT_INTERRUPTED

__all__ = ["SerialTarget", "UdpTarget", "parse_target", "register"]

_ENV_RBID: Final = "SMARTMETER_PROTO_RBID"
_ENV_PASSWORD: Final = "SMARTMETER_PROTO_PASSWORD"  # noqa: S105 - a variable name
_DEFAULT_MODEL: Final = "bp35c2"
#: Seconds per attempt when ``--timeout`` is not given: a LAN answers fast, the B-route less so.
_UDP_TIMEOUT_S: Final = 3.0
_BROUTE_TIMEOUT_S: Final = 10.0
#: Exit status when the run could not start (bad target, link down, refused credentials).
_EXIT_ERROR: Final = 2


@dataclass(frozen=True, slots=True)
class UdpTarget:
    host: str
    port: int = ECHONET_PORT

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"udp://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class SerialTarget:
    """A dongle's serial port and the B-route credentials (the password stays out of reprs)."""

    port: str
    model: str
    rbid: str
    password: str = field(repr=False)

    def __str__(self) -> str:
        return f"serial://{self.port}?model={self.model}&rbid=***&password=***"


def _single(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def parse_target(text: str, environ: Mapping[str, str] | None = None) -> UdpTarget | SerialTarget:
    """Parse a TARGET; errors name what is wrong, never the password."""
    env = os.environ if environ is None else environ
    parts = urlsplit(text)
    if parts.scheme == "udp":
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            raise ValueError("udp target: the port must be a number 0..65535") from None
        if not host:
            raise ValueError("udp target needs a host: udp://HOST[:PORT]")
        return UdpTarget(host, port or ECHONET_PORT)
    if parts.scheme == "serial":
        if not parts.path:
            raise ValueError("serial target needs a device path: serial:///dev/ttyX?...")
        query = parse_qs(parts.query)
        rbid = _single(query, "rbid") or env.get(_ENV_RBID)
        password = _single(query, "password") or env.get(_ENV_PASSWORD)
        if not rbid or not password:
            raise ValueError(
                f"serial target needs rbid and password (query, or ${_ENV_RBID} / ${_ENV_PASSWORD})"
            )
        model = (_single(query, "model") or _DEFAULT_MODEL).lower()
        if model not in DONGLE_MODELS:
            raise ValueError(
                f"serial target: unknown dongle model {model[:40]!r}; "
                f"known: {', '.join(sorted(DONGLE_MODELS))}"
            )
        return SerialTarget(parts.path, model, rbid, password)
    raise ValueError("target must be udp://HOST[:PORT] or serial:///dev/ttyX?model=...&rbid=...")


def _fuzz_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= count <= MAX_FUZZ_FRAMES:
        raise argparse.ArgumentTypeError(f"--fuzz takes 0..{MAX_FUZZ_FRAMES} frames")
    return count


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "conformance",
        help="check an ECHONET Lite node against the specification",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="TARGET", help="udp://HOST[:PORT] or serial:///dev/...")
    parser.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML")
    parser.add_argument(
        "--fuzz",
        type=_fuzz_count,
        default=0,
        metavar="N",
        help=f"send N malformed frames (at most {MAX_FUZZ_FRAMES}) in bursts, "
        "checking the node still answers after each",
    )
    parser.add_argument("--fuzz-seed", type=int, default=1, help="seed of the frame mutator")
    parser.add_argument(
        "--allow-writes",
        action="store_true",
        help="let the status-change check write a new value and restore it (installation "
        "location 0x81 first, operation status 0x80 last); without it only values just read "
        "are written back, since the target may be a real appliance",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        metavar="S",
        help=f"seconds to wait per attempt (default {_UDP_TIMEOUT_S:g} on UDP, "
        f"{_BROUTE_TIMEOUT_S:g} on the B-route)",
    )
    parser.add_argument(
        "--response-bound",
        type=positive_float,
        default=2.0,
        metavar="S",
        help="slowest acceptable answer in seconds (default 2)",
    )
    parser.add_argument(
        "--bind",
        type=endpoint(ECHONET_PORT),
        default="0.0.0.0:3610",
        help="local ADDR[:PORT] for UDP (default 0.0.0.0:3610; answers come to port 3610)",
    )
    parser.add_argument(
        "--interface",
        action="append",
        metavar="NAME",
        help="join the ECHONET multicast group on this interface (repeatable; default: the "
        "interface of --bind, or the default route's); the node's INF arrives there",
    )
    parser.set_defaults(handler=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        target = parse_target(args.target)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    config = RunConfig(
        response_bound_s=args.response_bound,
        fuzz_frames=args.fuzz,
        fuzz_seed=args.fuzz_seed,
        allow_writes=args.allow_writes,
    )
    report = Report(str(target), on_result=_print_result)
    print(f"ECHONET Lite conformance: {target}", flush=True)
    try:
        asyncio.run(_run(target, config, args, report))
    except KeyboardInterrupt:
        _finish(report, args.junit)
        return EXIT_INTERRUPTED
    except (ProtocolError, ValueError, OSError) as exc:
        print(f"error: {target}: {exc}", file=sys.stderr)
        return _EXIT_ERROR
    _finish(report, args.junit)
    return 0 if report.ok else 1


def _print_result(result: Result) -> None:
    print(result_line(result), flush=True)


def _finish(report: Report, junit: str | None) -> None:
    """The totals, and the JUnit file of what ran (all of it, or up to ^C)."""
    print(summary_line(report), flush=True)
    if junit:
        write_junit(report, junit)


async def _run(
    target: UdpTarget | SerialTarget, config: RunConfig, args: argparse.Namespace, report: Report
) -> Report:
    if isinstance(target, UdpTarget):
        timeout = args.timeout or _UDP_TIMEOUT_S
        async with EchonetClient.udp(
            local=args.bind, timeout=timeout, retries=1, interface=args.interface
        ) as client:
            return await run_conformance(client, (target.host, target.port), config, report=report)
    async with open_broute(
        target.port,
        target.rbid,
        target.password,
        model=target.model,
        timeout=args.timeout or _BROUTE_TIMEOUT_S,
        retries=1,
    ) as meter:
        return await run_conformance(meter, (meter.address, ECHONET_PORT), config, report=report)
