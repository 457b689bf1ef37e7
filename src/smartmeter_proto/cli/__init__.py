"""The ``smartmeter-proto`` command line: one module per subcommand family.

Every failure is one ``error: ...`` line on stderr with a documented exit code
(:mod:`.failure`); ^C ends any command with 130 and no traceback.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from ..errors import DecodeError, ProtocolError
from . import broute, conformance, decode, echonet, fleet, iot, record
from .failure import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    OneLineParser,
    report,
)

__all__ = ["main"]


def _version() -> str:
    try:
        return version("smartmeter-proto")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="smartmeter-proto",
        description="Protocol stack for Japanese smart meters: decode, simulate, probe.",
        epilog="Exit codes: 0 success, 1 the operation failed, 2 bad input, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (broute, decode, echonet, conformance, iot, fleet, record):
        module.register(commands)
    return parser


def _tolerant_output() -> None:
    """Never fail on a console that cannot show a glyph (cp932, ascii): replace it instead."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    _tolerant_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except CliError as exc:
        report(exc.message)
        return exc.code
    except DecodeError as exc:
        report(str(exc))
        return EXIT_USAGE
    except (ProtocolError, OSError) as exc:
        report(str(exc) or type(exc).__name__)
        return EXIT_FAILED
    except Exception as exc:
        # The last guard: one line, never a traceback (SMARTMETER_PROTO_DEBUG=1 shows it).
        if os.environ.get("SMARTMETER_PROTO_DEBUG"):
            raise
        report(f"internal error ({type(exc).__name__}): {exc}")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
