"""Helpers shared by the subcommands: address parsing, running for a while."""

from __future__ import annotations

import argparse
import asyncio

from ..transport.udp import ECHONET_PORT
from .arguments import endpoint
from .failure import fail

__all__ = ["parse_endpoint", "run_for"]


def parse_endpoint(
    text: str, default_port: int = ECHONET_PORT, option: str = "address"
) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:3610``, ``[::1]:3610``, ``::1`` or a name to (address, port).

    A malformed address, a port out of 0..65535 or a name that does not resolve stops the
    command with ``error: OPTION: ...`` (exit 2); prefer ``type=endpoint(port)`` on the
    option itself, which reports the same before any work starts.
    """
    try:
        return endpoint(default_port)(text)
    except argparse.ArgumentTypeError as exc:
        fail(f"{option}: {exc}")


async def run_for(duration: float | None) -> None:
    """Wait ``duration`` seconds, or until cancelled when ``None``.

    Ctrl-C cancels the wait: the cancellation propagates, so the caller's ``async with``
    blocks close their sockets and ``asyncio.run`` ends the command with exit 130.
    """
    if duration is None:
        await asyncio.Event().wait()
    else:
        await asyncio.sleep(duration)
