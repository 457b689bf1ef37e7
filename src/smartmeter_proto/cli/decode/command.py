"""``smartmeter-proto decode PROTOCOL HEX|-``: bytes to readable text or typed JSON.

Each protocol lives in its own module and registers itself here; what they share (input
lines, printing, the exit policy) is :mod:`~smartmeter_proto.cli.decode.input`.
"""

from __future__ import annotations

import argparse

from . import dlms as decode_dlms
from . import echonet as decode_echonet
from . import iot as decode_iot
from . import radio as decode_radio

__all__ = ["register"]

_PROTOCOLS = (decode_echonet, decode_radio, decode_dlms, decode_iot)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``decode`` and its protocols to the command line."""
    parser = commands.add_parser(
        "decode",
        help="decode a frame given in hex (or one per line from stdin)",
        description="Decode frames strictly: input a protocol cannot fully account for "
        "exits 2 naming the layer and byte offset; a tag or key that does not open a "
        "well-formed frame exits 1. '-' reads one frame per line from stdin; with --json "
        "that prints JSON Lines.",
    )
    protocols = parser.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL")
    for module in _PROTOCOLS:
        module.register(protocols)
