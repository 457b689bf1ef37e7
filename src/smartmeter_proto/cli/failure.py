"""How the command line fails: one line on stderr, a documented exit code, no traceback.

Exit codes (README, "Exit codes"):

- ``0`` success;
- ``1`` the operation failed (a peer did not answer, a tag did not verify, a port is busy,
  a check failed, an optional extra is missing);
- ``2`` bad input: a malformed argument, option or input frame;
- ``130`` interrupted (^C).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Final, NoReturn

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "OneLineParser",
    "fail",
    "report",
    "require_extra",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


class CliError(Exception):
    """A failure to report as ``error: MESSAGE`` with ``code`` as the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Stop the command with ``error: MESSAGE`` (bad input by default)."""
    raise CliError(message, code)


def report(message: str) -> None:
    """Print one ``error:`` line, folded to one line whatever the message holds."""
    line = " ".join(str(message).split())
    print(f"error: {line}", file=sys.stderr, flush=True)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        report(f"{self.prog}: {message} (see --help)")
        raise SystemExit(EXIT_USAGE)


#: The modules each optional extra provides, checked before any work starts.
EXTRAS: Final = {
    "hes": ("matplotlib", "pyarrow", "dask", "distributed"),
    "mqtt": ("aiomqtt",),
}


def require_extra(extra: str, *modules: str) -> None:
    """Refuse to start when ``modules`` (default: all of ``extra``'s) are not installed."""
    wanted = modules or EXTRAS[extra]
    missing = [name for name in wanted if importlib.util.find_spec(name) is None]
    if missing:
        raise CliError(
            f"this needs the '{extra}' extra ({', '.join(missing)} not installed): "
            f"pip install 'smartmeter-proto[{extra}]'",
            EXIT_FAILED,
        )
