"""Command-line address parsing shared by the subcommands."""

from __future__ import annotations

from ..transport.udp import ECHONET_PORT

__all__ = ["parse_endpoint"]


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
