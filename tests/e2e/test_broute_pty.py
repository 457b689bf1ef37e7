"""End to end: the library's B-route client on a real pty, the dongle emulator on the other side.

The emulator runs on a :class:`VirtualClock` (``run_timers=False``): a background task fires
its next timer (radio latency, scan dwell, PANA) as soon as the loop is idle, so a scan or a
join takes its emulated time without taking wall time, and no outcome depends on how fast
the machine is. The host's own timeouts (wall clock) only guard against a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from smartmeter_proto.errors import AuthError
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.dongle import make_dongle
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.transport.pty_server import DonglePty, serve_dongle
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
T0 = 1_777_604_405.0  # 2026-05-01 12:00:05 JST
#: Wall seconds between two timer firings: a pace that lets bytes in flight land, no bound.
_PACE_S = 0.002
#: Timers further ahead than this (emulator seconds) are left alone: the meter's 30-minute
#: schedule stays put, while the longest scan round (duration 8: 28 x 9.6 ms x 257, 69 s)
#: and PANA fit.
_MAX_STEP_S = 120.0


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))  # a hang guard only


@contextlib.asynccontextmanager
async def virtual_dongle(model: str) -> AsyncIterator[DonglePty]:
    """The emulator on a pty in virtual time; its timers fire as the loop gets to them."""
    clock = VirtualClock(T0)
    emulator = make_dongle(model, rbid=RBID, password=PASSWORD, now=clock.now)
    async with serve_dongle(emulator, clock=clock, run_timers=False) as pty:

        async def fire_timers() -> None:
            while not pty.closed.is_set():
                await asyncio.sleep(_PACE_S)
                due = pty.next_deadline()
                if due is not None and due <= clock.now + _MAX_STEP_S:
                    clock.now = max(clock.now, due)
                    pty.handle_timeout()

        task = asyncio.get_running_loop().create_task(fire_timers())
        try:
            yield pty
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _reauth_session(model: str) -> None:
    events: list[BRouteEvent] = []
    async with (
        virtual_dongle(model) as pty,
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
        # The re-authentication is reported once it completes (run()'s guard bounds the wait).
        while not any(isinstance(e, Reauthenticated) for e in events):
            await asyncio.sleep(_PACE_S)
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
        async with virtual_dongle(model) as pty:
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
