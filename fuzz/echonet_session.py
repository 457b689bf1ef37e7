"""Fuzz the client ``echonet.session.Session.receive_data``: drops bad input, counts it.

Input: one datagram, received twice. A Get of 0x80/0xE7 is pending first, addressed
to the datagram's SEOJ with the datagram's TID, so answers reach the matching code;
the session has a simulated meter node, so requests reach it too. An undecodable
datagram must raise ``dropped`` each time; nothing may raise.
"""

from __future__ import annotations

import sys
from typing import Final

from _harness import Target, main

PEER: Final = ("fe80::c2f9:4500:4058:b5fb", 3610)


def build() -> Target:
    from smartmeter_proto.echonet.frame import EOJ
    from smartmeter_proto.echonet.session import Session
    from smartmeter_proto.echonet.typed import decode_typed
    from smartmeter_proto.errors import DecodeError
    from smartmeter_proto.sim.meter import meter_node

    node = meter_node(now=0.0)
    meter = EOJ(0x02, 0x88, 0x01)

    def call(data: bytes) -> object:
        tid = int.from_bytes(data[2:4], "big") if len(data) >= 4 else 1
        session = Session(first_tid=tid, node=node, retries=1)
        target = EOJ(*data[4:7]) if len(data) >= 7 else meter
        session.get(PEER, target, (0x80, 0xE7), 0.0)
        session.datagrams_to_send()
        # Twice: a datagram may arrive duplicated, and the typed decoder caches shapes.
        events = session.receive_data(data, PEER, 0.5)
        events += session.receive_data(data, PEER, 0.6)
        try:
            decode_typed(data)
        except DecodeError:
            if session.dropped != 2:
                raise AssertionError("an undecodable datagram was not counted") from None
        session.datagrams_to_send()
        for now in (6.0, 12.0, 18.0):
            events += session.handle_timeout(now)
        return events

    return Target("echonet_session", call, (), "echonet")


if __name__ == "__main__":
    sys.exit(main("echonet_session"))
