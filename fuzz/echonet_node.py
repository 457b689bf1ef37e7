"""Fuzz the device side ``echonet.node.Node.receive_data``: drops bad input, counts it.

Input: one datagram to a node holding a simulated smart meter. Nothing may raise, an
undecodable datagram raises ``dropped`` by one, and every answer the node queues must
itself decode.
"""

from __future__ import annotations

import sys
from typing import Final

from _harness import Target, main

PEER: Final = ("192.0.2.10", 3610)


def build() -> Target:
    from smartmeter_proto.echonet.frame import decode
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.sim.meter import meter_node

    node = meter_node(now=0.0)

    def call(data: bytes) -> object:
        before = node.dropped
        events = node.receive_data(data, PEER, 1.0)
        try:
            decode(data)
        except DecodeError:
            if node.dropped != before + 1:
                raise AssertionError("an undecodable datagram was not counted") from None
        for answer, _address in node.datagrams_to_send():
            try:
                decode(answer)
            except DecodeError as exc:
                raise AssertionError(f"the node sent an undecodable answer: {exc}") from exc
        return events

    return Target("echonet_node", call, (), "echonet")


if __name__ == "__main__":
    sys.exit(main("echonet_node"))
