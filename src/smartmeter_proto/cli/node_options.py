"""What ``simulate meter`` and ``simulate device`` share: the options of a simulated ECHONET
Lite node on UDP, and serving the node with them.

``--bind ADDR[:PORT]`` (default 127.0.0.1:3610), ``--interface NAME`` (repeatable) and
``--no-multicast`` for the multicast group (224.0.23.0 and ff02::1, port 3610;
ECHONET Lite Specification Part II §3.1.2), ``--reply-to-source`` to answer a client on
an ephemeral port, and ``--duration`` to stop after so many seconds.
"""

from __future__ import annotations

import argparse
from contextlib import AbstractAsyncContextManager

from ..echonet.node import Node
from ..transport.udp import ECHONET_PORT, UDPLink, serve_node
from .arguments import endpoint, positive_float

__all__ = ["add_interface_options", "add_node_options", "joined_text", "serve_from_args"]


def add_interface_options(parser: argparse.ArgumentParser, what: str) -> None:
    """``--interface NAME`` (repeatable) and ``--no-multicast``; ``what`` ends the help."""
    parser.add_argument(
        "--interface",
        action="append",
        metavar="NAME",
        help=f"join the ECHONET multicast group on this interface (repeatable; default: the "
        f"interface of --bind, or the default route's){what}",
    )
    parser.add_argument(
        "--no-multicast",
        dest="join_group",
        action="store_false",
        help="do not join 224.0.23.0 / ff02::1 (unicast only)",
    )


def add_node_options(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--bind``, ``--interface``, ``--no-multicast``, ``--reply-to-source``, ``--duration``."""
    parser.add_argument(
        "--bind",
        type=endpoint(ECHONET_PORT),
        default="127.0.0.1",
        help="ADDR[:PORT] (default 127.0.0.1:3610)",
    )
    add_interface_options(parser, what)
    parser.add_argument(
        "--reply-to-source",
        action="store_true",
        help="answer the request's source port instead of 3610 (for clients on ephemeral ports)",
    )
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        help="stop after this many seconds (default: run until interrupted)",
    )


def serve_from_args(node: Node, args: argparse.Namespace) -> AbstractAsyncContextManager[UDPLink]:
    """Serve ``node`` as the options of :func:`add_node_options` say."""
    return serve_node(
        node,
        local=args.bind,
        reply_port=None if args.reply_to_source else ECHONET_PORT,
        join_group=args.join_group,
        interface=args.interface,
    )


def joined_text(link: UDPLink) -> str:
    """``, GROUP joined on IF1, IF2`` for the start line, or ``""`` when no group was joined."""
    if not link.joined or link.group is None:
        return ""
    return f", {link.group[0]} joined on {', '.join(link.joined)}"
