"""The ``smartmeter-proto`` command line: one module per subcommand family."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import broute, conformance, decode, echonet, fleet, iot

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartmeter-proto",
        description="Protocol stack for Japanese smart meters: decode, simulate, probe.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (broute, decode, echonet, conformance, iot, fleet):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
