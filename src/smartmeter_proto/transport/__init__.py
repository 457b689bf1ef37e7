"""Asyncio adapters: the only modules with sockets, serial ports and clocks."""

from .driver import SessionDriver
from .udp import ECHONET_PORT, DiscoveredNode, EchonetClient, UDPLink, serve_node

__all__ = [
    "ECHONET_PORT",
    "DiscoveredNode",
    "EchonetClient",
    "SessionDriver",
    "UDPLink",
    "serve_node",
]
