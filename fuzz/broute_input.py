"""Fuzz the B-route state machine ``wisun.broute.BRoute``: dongle bytes never make it raise.

Input: byte 0 picks the dongle model (bp35a1, bp35c2, rl7023, j11), byte 1 the chunk
size (0: all at once), the rest is what the dongle prints. The link is started, fed
the bytes chunk by chunk (time moves 10 ms a chunk, timers fire), sends one ECHONET
Lite Get once READY, and at the end every timer is fired. Seeds are whole emulated
sessions (``--write-seeds``), so mutations start from deep states.
"""

from __future__ import annotations

import functools
import sys
from typing import Final

from _harness import Target, main

MODELS: Final = ("bp35a1", "bp35c2", "rl7023", "j11")
#: The ROHM 63AN028E sample credentials (also in tests/wisun/test_broute.py).
RBID: Final = "00112233445566778899AABBCCDDEEFF"
PASSWORD: Final = "0123456789AB"
#: Get of instantaneous power (0xE7) from the meter 0x028801.
GET_E7: Final = bytes.fromhex("1081000105FF010288016201E700")


def build() -> Target:
    from smartmeter_proto.wisun.broute import BRoute, BRouteState

    def call(data: bytes) -> object:
        if len(data) < 2:
            return None
        link = BRoute(model=MODELS[data[0] % len(MODELS)], rbid=RBID, password=PASSWORD)
        stream, chunk = data[2:], data[1] or max(1, len(data))
        now = 0.0
        link.start(now)
        events = link.handle_timeout(now)
        sent = False
        for at in range(0, len(stream), chunk):
            events += link.receive_data(stream[at : at + chunk], now)
            link.data_to_send()
            if link.state is BRouteState.READY and not sent:
                link.send_echonet(GET_E7, now)
                sent = True
            now += 0.01
            events += link.handle_timeout(now)
        for _ in range(64):  # fire every timer left (retries, recoveries), boundedly
            deadline = link.next_deadline()
            if deadline is None:
                break
            now = max(now, deadline)
            events += link.handle_timeout(now)
            link.data_to_send()
        text = " ".join(map(repr, events)) + repr(link)
        if PASSWORD in text or RBID[-8:] in text:
            raise AssertionError("a B-route secret leaked into an event or repr")
        return events

    return Target("broute_input", call, (), "skstack", prefix=2)


#: The SKSTACK dialect each emulated model speaks (for the skstack_command seeds).
DIALECTS: Final = {"bp35a1": "bp35a1", "bp35c2": "bp35c2", "rl7023": "rl7023-ips"}


@functools.cache
def _record(model: str) -> tuple[bytes, bytes]:
    """(dongle output, host output) of one emulated session: reset to one answered Get."""
    from smartmeter_proto.sim.dongle import make_dongle
    from smartmeter_proto.wisun.broute import BRoute, BRouteState

    dongle = make_dongle(model, rbid=RBID, password=PASSWORD, now=0.0, seed=7)
    link = BRoute(model=model, rbid=RBID, password=PASSWORD)
    printed, sent_bytes = bytearray(), bytearray()
    now = 0.0
    link.start(now)
    link.handle_timeout(now)
    sent = False
    for _ in range(5000):
        out = link.data_to_send()
        if out:
            sent_bytes += out
            dongle.receive_data(out, now)
        back = dongle.data_to_send()
        if back:
            printed += back
            link.receive_data(back, now)
        if link.state is BRouteState.READY and not sent:
            link.send_echonet(GET_E7, now)
            sent = True
            continue
        if out or back:
            continue
        due = [d for d in (link.next_deadline(), dongle.next_deadline()) if d]
        if (sent and now > 1.0) or not due or min(due) > 600:
            break
        now = max(now, min(due))
        link.handle_timeout(now)
        dongle.handle_timeout(now)
    return bytes(printed), bytes(sent_bytes)


def make_seeds() -> dict[str, bytes]:
    """Seeds: what each emulated dongle prints from reset to one answered Get."""
    out: dict[str, bytes] = {}
    for index, model in enumerate(MODELS):
        printed = _record(model)[0]
        out[f"session-{model}"] = bytes((index, 0)) + printed
        out[f"session-{model}-chunk13"] = bytes((index, 13)) + printed
    return out


def host_commands() -> dict[str, bytes]:
    """What the link wrote to each emulated dongle (device-side seeds)."""
    return {model: _record(model)[1] for model in MODELS}


if __name__ == "__main__":
    sys.exit(main("broute_input"))
