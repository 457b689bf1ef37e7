"""End to end: the library's B-route client on a real pty, the dongle emulator on the other side."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest

from smartmeter_proto.errors import AuthError
from smartmeter_proto.sim.dongle import make_dongle
from smartmeter_proto.sim.dongle_pty import serve_dongle
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.transport.serial import open_broute
from smartmeter_proto.wisun.broute import (
    BRouteEvent,
    BRouteState,
    Joined,
    Reauthenticated,
    StateChanged,
)

pytestmark = pytest.mark.e2e

RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "0123456789AB"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


async def _reauth_session(model: str) -> None:
    emulator = make_dongle(model, rbid=RBID, password=PASSWORD, now=time.time())
    events: list[BRouteEvent] = []
    async with (
        serve_dongle(emulator, time_scale=4.0) as pty,
        open_broute(pty.path, RBID, PASSWORD, model=model, on_event=events.append) as meter,
    ):
        assert meter.state is BRouteState.READY
        assert any(isinstance(e, Joined) for e in events)
        readings = []
        for _ in range(3):
            readings.append((await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7])
        # The meter's PANA session expires (EVENT 29 / J11 0x601A): the dongle
        # re-authenticates; reads asked meanwhile wait and are answered after.
        pty.inject("session_expiry")
        readings.append((await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7])
        # A garbled line (or frame) from the dongle is dropped and counted.
        pty.inject("garble_line")
        for _ in range(3):
            readings.append((await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7])
        energy = await meter.get_values(meter.address, METER_EOJ, [0xE0, 0xD7])
        assert all(isinstance(w, int) for w in readings)
        assert len(readings) == 7
        assert isinstance(energy[0xE0], int)
        assert energy[0xD7] == 6
        for _ in range(100):  # the re-authentication is reported once it completes
            if any(isinstance(e, Reauthenticated) for e in events):
                break
            await asyncio.sleep(0.05)
        assert any(isinstance(e, Reauthenticated) for e in events)
        assert meter.state is BRouteState.READY
        assert meter.serial_link.broute.stats.reauths >= 1
    states = [e.new for e in events if isinstance(e, StateChanged)]
    assert BRouteState.REAUTHENTICATING in states
    assert states[-1] is BRouteState.CLOSED  # SKTERM / terminate on the way out


@pytest.mark.parametrize("model", ["bp35c2", "bp35a1", "j11"])
def test_full_session_with_reauthentication_and_garbled_input(
    model: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="smartmeter_proto"):
        run(_reauth_session(model))
    # Debug logs of the whole session (the dongle echoes SKSETPWD/SKSETRBID) hold no secret.
    logged = caplog.text
    for secret in (PASSWORD, RBID):
        assert secret not in logged
        assert secret.encode().hex() not in logged.lower()


@pytest.mark.parametrize("model", ["bp35c2", "j11"])
def test_wrong_password_raises_auth_error_without_the_password(model: str) -> None:
    wrong = "ZYXWVUTSRQPO"

    async def scenario() -> None:
        emulator = make_dongle(model, rbid=RBID, password=PASSWORD, now=time.time())
        async with serve_dongle(emulator, time_scale=4.0) as pty:
            with pytest.raises(AuthError) as caught:
                async with open_broute(pty.path, RBID, wrong, model=model):
                    pytest.fail("joined with a wrong password")
        text = str(caught.value) + repr(caught.value)
        if model != "j11":  # SKSTACK prints the meter's PANA messages: the step is named
            assert "refused at EAP-PSK message 2" in text
        assert wrong not in text
        assert RBID not in text
        assert PASSWORD not in text

    run(scenario())
