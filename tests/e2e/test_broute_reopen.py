"""End to end: the dongle is unplugged and plugged in again behind the same device path.

The client opened on the symlinked device reads, the emulator drops the line (fault
``disconnect``: the pty's master closes, as when a USB dongle is pulled), a new pty
appears behind the same path, and the same client reads again: the serial link moved
the B-route machine back to IDLE, reopened the port and joined again by itself.
Wall time only guards against a hang; every outcome is waited for, never timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smartmeter_proto.sim.dongle import make_dongle
from smartmeter_proto.sim.meter import METER_EOJ
from smartmeter_proto.transport.pty_server import DonglePty, serve_dongle
from smartmeter_proto.transport.serial import open_broute
from smartmeter_proto.wisun.broute import BRouteEvent, BRouteState, Joined, StateChanged

pytestmark = pytest.mark.e2e

RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "Zq7Reopen0Sx"
#: Guards only against a hang (wall seconds); no outcome depends on them.
HANG_S = 60.0
_POLL_S = 0.01


async def _until(condition: Callable[[], bool], what: str) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(_POLL_S)

    try:
        await asyncio.wait_for(wait(), HANG_S)
    except TimeoutError:
        raise AssertionError(f"hang guard: {what}") from None


async def _unplug_and_replug(tmp: Path, model: str) -> list[BRouteEvent]:
    device = tmp / "ttyWISUN"
    events: list[BRouteEvent] = []
    plugged = contextlib.AsyncExitStack()

    async def plug() -> DonglePty:
        emulator = make_dongle(model, rbid=RBID, password=PASSWORD, now=time.time())
        pty = await plugged.enter_async_context(serve_dongle(emulator, time_scale=4.0))
        staged = tmp / "ttyWISUN.new"
        staged.unlink(missing_ok=True)
        staged.symlink_to(pty.path)
        staged.replace(device)
        return pty

    async with plugged:
        pty = await plug()
        async with open_broute(
            str(device), RBID, PASSWORD, model=model, on_event=events.append,
            reopen_delay=0.05,
        ) as meter:  # fmt: skip
            link = meter.serial_link
            first = (await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7]
            assert isinstance(first, int)

            pty.inject("disconnect")  # the dongle is pulled out
            await _until(pty.closed.is_set, "the emulator did not drop the line")
            await plugged.aclose()
            await _until(lambda: meter.state is BRouteState.IDLE, "the loss was not noticed")
            assert link.reopened == 0

            joins = sum(isinstance(e, Joined) for e in events)
            await plug()  # a new pty behind the same device path
            await _until(
                lambda: sum(isinstance(e, Joined) for e in events) > joins,
                "the link did not join again",
            )
            assert meter.state is BRouteState.READY
            assert link.reopened == 1
            again = (await meter.get_values(meter.address, METER_EOJ, [0xE7]))[0xE7]
            assert isinstance(again, int)
    return events


@pytest.mark.parametrize("model", ["bp35c2", "j11"])
def test_same_client_reads_after_the_dongle_is_replugged(
    tmp_path: Path, model: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="smartmeter_proto"):
        events: Any = asyncio.run(asyncio.wait_for(_unplug_and_replug(tmp_path, model), 3 * HANG_S))
    states = [(e.old, e.new) for e in events if isinstance(e, StateChanged)]
    assert (BRouteState.READY, BRouteState.IDLE) in states  # port_lost from READY
    after = states[states.index((BRouteState.READY, BRouteState.IDLE)) + 1]
    assert after == (BRouteState.IDLE, BRouteState.RESETTING)  # started on the new port
    assert states[-1][1] is BRouteState.CLOSED
    assert sum(isinstance(e, Joined) for e in events) == 2
    assert "start is not allowed" not in caplog.text
    assert PASSWORD not in caplog.text
