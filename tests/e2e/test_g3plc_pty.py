"""End to end over G3-PLC: our client on a real pty, the G3 modem emulator on the other side.

The modem joins the simulated meter's PAN with a real LBP/EAP-PSK exchange; a lost
DATA indication, a garbled frame and a LEAVE from the meter are ridden through.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from smartmeter_proto.errors import AuthError
from smartmeter_proto.plc import g3adp as adp
from smartmeter_proto.sim.g3modem import METER_PAN_ID, make_g3modem
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.transport.g3plc import open_g3plc
from smartmeter_proto.transport.pty_server import serve_dongle
from smartmeter_proto.wisun.broute import BRouteEvent, BRouteState, Joined, LinkError

pytestmark = pytest.mark.e2e

ID_P = b"HEMS" + b"00112233445566778899AABBCCDDEEFF"  # 36 bytes, the ARIB ID_P size
PSK = bytes.fromhex("AB10341145111BC3C12DE8FF11223344")  # Harmony lbp_coord.c test PSK shape


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


async def _session() -> None:
    modem = make_g3modem(psk=PSK, id_p=ID_P, now=time.time())
    events: list[BRouteEvent] = []
    async with (
        serve_dongle(modem, time_scale=4.0) as pty,
        open_g3plc(pty.path, id_p=ID_P, psk=PSK, timeout=2.0, on_event=events.append) as meter,
    ):
        assert meter.state is BRouteState.READY
        (joined,) = [e for e in events if isinstance(e, Joined)]
        assert joined.pan_id == METER_PAN_ID
        assert meter.address == f"fe80::{METER_PAN_ID:x}:ff:fe00:0"  # the coordinator, short 0
        readings = [(await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7]]
        # A DATA indication lost on the serial line: the ECHONET Lite request is retried.
        pty.inject("drop_frame", match=adp.AdpCommand.DATA_INDICATION)
        readings.append((await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7])
        # A garbled frame from the modem is dropped; the parser resynchronises.
        pty.inject("garble_frame")
        readings.append((await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7])
        # The meter removes us from its PAN: the client joins again and reads on.
        joins_before = sum(isinstance(e, Joined) for e in events)
        pty.inject("leave_indication")
        for _ in range(200):
            if sum(isinstance(e, Joined) for e in events) > joins_before:
                break
            await asyncio.sleep(0.05)
        assert sum(isinstance(e, Joined) for e in events) == joins_before + 1
        readings.append((await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7])
        assert len(readings) == 4
        assert all(isinstance(w, int) for w in readings)
        assert not [e for e in events if isinstance(e, LinkError)]


def test_g3plc_session_over_a_pty() -> None:
    run(_session())


async def _wrong_psk() -> str:
    modem = make_g3modem(psk=PSK, id_p=ID_P, now=time.time())
    async with serve_dongle(modem, time_scale=4.0) as pty:
        with pytest.raises(AuthError) as caught:
            async with open_g3plc(pty.path, id_p=ID_P, psk=bytes(16), join_timeout=60):
                pass
    return str(caught.value)


def test_wrong_psk_is_refused_without_showing_it() -> None:
    text = run(_wrong_psk())
    assert "refused" in text or "rejected" in text or "authentication" in text
    assert PSK.hex() not in text.lower()
    assert ID_P.decode() not in text
