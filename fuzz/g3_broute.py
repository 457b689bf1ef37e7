"""Fuzz the B-route machine with the G3-PLC driver: modem bytes never make it raise.

Input: byte 0 the chunk size (0: all at once), the rest is what a G3 modem writes
on the serial line (USI frames of ADP messages, or anything). The link starts, is
fed the bytes chunk by chunk (10 ms a chunk, timers fire), sends one ECHONET Lite
Get once READY, and at the end every timer left is fired. Seeds are whole sessions
with the G3 modem emulator (``python fuzz/g3_broute.py --write-seeds``).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Final

from _harness import CORPUS_DIR, Target, main

ID_P: Final = b"HEMS00112233445566778899AABBCCDDEEFF"
PSK: Final = bytes(range(16))
#: Get of instantaneous power (0xE7) from the meter 0x028801.
GET_E7: Final = bytes.fromhex("1081000105FF010288016201E700")


def _link() -> object:
    from smartmeter_proto.plc.broute_g3 import G3Driver
    from smartmeter_proto.wisun.broute import BRoute

    driver = G3Driver(id_p=ID_P, psk=PSK)
    return BRoute(model="g3-usi", rbid="", password="", driver=driver, scan_durations=(3,))


def build() -> Target:
    from smartmeter_proto.wisun.broute import BRoute, BRouteState

    def call(data: bytes) -> object:
        if not data:
            return None
        link = _link()
        assert isinstance(link, BRoute)
        stream, chunk = data[1:], data[0] or max(1, len(data))
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
        for _ in range(64):
            deadline = link.next_deadline()
            if deadline is None:
                break
            now = max(now, deadline)
            events += link.handle_timeout(now)
            link.data_to_send()
        text = " ".join(map(repr, events)) + repr(link)
        if PSK.hex() in text.lower() or ID_P.decode() in text:
            raise AssertionError("a G3 credential leaked into an event or repr")
        return events

    return Target("g3_broute", call, (), "bytes", prefix=1)


@functools.cache
def _record() -> bytes:
    """What the emulated G3 modem writes from initialise to one answered Get."""
    from smartmeter_proto.sim.g3modem import make_g3modem
    from smartmeter_proto.wisun.broute import BRoute, BRouteState

    modem = make_g3modem(psk=PSK, id_p=ID_P, now=0.0, seed=7)
    link = _link()
    assert isinstance(link, BRoute)
    printed = bytearray()
    now = 0.0
    link.start(now)
    link.handle_timeout(now)
    sent = False
    sent_at = 0.0
    for _ in range(5000):
        out = link.data_to_send()
        if out:
            modem.receive_data(out, now)
        back = modem.data_to_send()
        if back:
            printed += back
            link.receive_data(back, now)
        if link.state is BRouteState.READY and not sent:
            link.send_echonet(GET_E7, now)
            sent, sent_at = True, now
            continue
        if out or back:
            continue
        due = [d for d in (link.next_deadline(), modem.next_deadline()) if d]
        if (sent and now > sent_at + 2.0) or not due or min(due) > 600:
            break
        now = max(now, min(due))
        link.handle_timeout(now)
        modem.handle_timeout(now)
    return bytes(printed)


def seeds() -> dict[str, bytes]:
    session = _record()
    return {
        "session": b"\x00" + session,
        "session-chunk11": b"\x0b" + session,
        "session-truncated": b"\x00" + session[: len(session) // 2],
    }


if __name__ == "__main__":
    if "--write-seeds" in sys.argv:
        folder = CORPUS_DIR / "g3_broute"
        folder.mkdir(parents=True, exist_ok=True)
        for stem, blob in seeds().items():
            Path(folder / stem).write_bytes(blob)
        sys.exit(0)
    sys.exit(main("g3_broute"))
