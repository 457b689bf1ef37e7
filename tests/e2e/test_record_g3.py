"""The recorder end to end over G3-PLC: the modem emulator on a real pty, in virtual time.

The same simulated hours as over the Wi-SUN dongle (:mod:`test_record_pty`): the modem is
unplugged for 10 minutes (a new pty behind the same device path), the meter removes the
modem from its PAN (LEAVE indication, the G3 counterpart of the session expiry), the
meter is silent for 20 minutes and the recorder is restarted. The store ends up with
every 1-minute and 30-minute value, each equal to the meter's own.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from smartmeter_proto.hems import SmartMeter
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.g3modem import make_g3modem
from smartmeter_proto.sim.meter import SimulatedMeter, meter_node
from smartmeter_proto.transport.pty_server import SerialEmulator
from smartmeter_proto.transport.smart_meter import open_smart_meter
from smartmeter_proto.transport.virtual_time import VirtualTimers
from smartmeter_proto.wisun.broute import BRouteEvent

sys.path.insert(0, str(Path(__file__).parent))
from test_record_pty import (
    HANG_S,
    JOIN_GUARD_S,
    LONG,
    Scenario,
    check_day,
    record,
    run,
)

pytestmark = pytest.mark.e2e

ID_P = b"HEMS" + b"00112233445566778899AABBCCDDEEFF"  # 36 bytes, the ARIB ID_P size
PSK = bytes.fromhex("AB10341145111BC3C12DE8FF11223344")


def _modem(meter: SimulatedMeter, now: float) -> SerialEmulator:
    return make_g3modem(psk=PSK, id_p=ID_P, node=meter_node(meter, now=now), now=now)


def _open_modem(
    device: str,
    clock: VirtualClock,
    on_event: Callable[[BRouteEvent], None],
    timers: VirtualTimers,
) -> contextlib.AbstractAsyncContextManager[SmartMeter]:
    return open_smart_meter(
        g3=device,
        id_p=ID_P,
        psk=PSK,
        clock=clock,
        link_clock=clock,
        timers=timers,
        timeout=0.5,
        retries=1,
        join_timeout=JOIN_GUARD_S,
        on_event=on_event,
    )


@pytest.mark.parametrize(
    "hours", [pytest.param(5.0, id="5h"), pytest.param(24.0, id="a-day", marks=LONG)]
)
def test_a_day_over_the_g3_modem_pty(
    tmp_path: Path, hours: float, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scenario = Scenario(hours, _modem, _open_modem, expire="leave_indication", transport="g3")
    store, meter = run(record(tmp_path, scenario), hours * 120 + HANG_S)
    check_day(store, meter, hours)
    assert scenario.joins() >= 4  # first, after the unplug, after the LEAVE, after the restart
    store.close()
    assert PSK.hex() not in caplog.text.lower()
    assert PSK not in (tmp_path / "hems.sqlite").read_bytes()
