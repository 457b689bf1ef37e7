"""Helpers shared by the subcommands: address parsing, running for a while."""

from __future__ import annotations

import asyncio

from ..transport.udp import ECHONET_PORT

__all__ = ["parse_endpoint", "run_for"]


def parse_endpoint(text: str, default_port: int = ECHONET_PORT) -> tuple[str, int]:
    """``127.0.0.1``, ``127.0.0.1:3610``, ``[::1]:3610`` or ``::1`` to (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest.lstrip(":")) if rest.strip(":") else default_port
        return host, port
    if text.count(":") == 1:
        host, port_text = text.split(":")
        return host, int(port_text)
    return text, default_port


async def run_for(duration: float | None) -> None:
    """Wait ``duration`` seconds, or until cancelled (Ctrl-C) when ``None``."""
    try:
        if duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(duration)
    except asyncio.CancelledError:
        pass
