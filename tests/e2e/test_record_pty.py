"""The recorder end to end over a real pty: the dongle emulator on one side, in virtual time.

The emulator runs with ``run_timers=False`` on a :class:`VirtualClock` that is also the
meter's and the recorder's clock. A :class:`VirtualLine` fires the emulator's timers (radio
latency, scans, PANA) but never past the end of the current tick, so the meter's time moves
only as the scenario says. Over the simulated hours the dongle is unplugged for 10 minutes
(the serial link closes; a new pty appears behind the same symlinked device path and the
client reopens it), the PANA session expires, the meter is silent for 20 minutes and the
recorder is restarted after 25 minutes down. Afterwards the store holds every 1-minute and
30-minute value of the window, each equal to the meter's own, and the report says so.

A whole simulated day takes minutes of wall time: ``SMARTMETER_PROTO_LONG=1`` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from smartmeter_proto.hems import Recorder, RecordStore, SmartMeter, build_report
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.dongle import make_dongle
from smartmeter_proto.sim.meter import SimulatedMeter, meter_node
from smartmeter_proto.transport.pty_server import DonglePty, SerialEmulator, serve_dongle
from smartmeter_proto.transport.serial import SerialLink
from smartmeter_proto.transport.smart_meter import open_smart_meter
from smartmeter_proto.transport.virtual_time import VirtualTimers
from smartmeter_proto.wisun.broute import BRouteEvent, Joined, Reauthenticated

pytestmark = pytest.mark.e2e

T0 = 1_777_604_400.0  # 2026-05-01 12:00:00 JST
POLL_S = 60.0
HOUR = 3600.0
RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "Zq7Pty0Secret"
MODEL = "bp35c2"
#: Guards only against a hang (wall seconds); no outcome depends on them.
HANG_S = 120.0
#: A join that has not succeeded in this many wall seconds is given up and retried later.
JOIN_GUARD_S = 20.0
#: Wall seconds between two looks of the line at the pty: a pace, no bound.
_SETTLE_S = 0.002
#: How far virtual time may run while the link (re)joins: scans and PANA take this at most.
JOIN_HORIZON_S = 600.0
LONG = pytest.mark.skipif(
    not os.environ.get("SMARTMETER_PROTO_LONG"), reason="set SMARTMETER_PROTO_LONG=1"
)


class VirtualLine:
    """Moves the virtual clock for both ends of the pty: the emulator and the client's link.

    Neither end arms a loop timer: the emulator is served with ``run_timers=False`` and the
    client's serial link and session join :attr:`timers`. The line moves the clock to the
    earliest deadline of either end, never past ``horizon``, and only while nothing is in
    flight: every byte one end wrote, the other has read (the pty's and the link's byte
    counts, counted per connection), and the counts did not change over two looks. A
    response time or a timeout therefore depends on events, never on how loaded the
    machine is.
    """

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.pty: DonglePty | None = None
        self.horizon = clock.now
        self.timers = VirtualTimers()
        self.timers.on_port_open.append(self._port_opened)
        self._task: asyncio.Task[None] | None = None
        self._host: SerialLink | None = None  # the link connected to ``pty`` now
        self._pty_of_host: DonglePty | None = None
        self._base_in = 0  # pty.bytes_in when the host connected, plus earlier hosts' bytes
        self._base_out = 0
        self._last: tuple[int, ...] | None = None

    def _port_opened(self, link: object) -> None:
        assert isinstance(link, SerialLink)
        pty = self.pty
        if pty is None:
            self._host = None
            return
        if self._host is not None and self._pty_of_host is pty:
            # Whatever the previous host wrote, the emulator reads (the pty keeps its slave
            # open); the emulator's earlier output is flushed by the new open.
            self._base_in += self._host.bytes_out
        else:
            self._base_in = pty.bytes_in
        self._base_out = pty.bytes_out
        self._host, self._pty_of_host = link, pty

    def _counts(self) -> tuple[int, ...] | None:
        """Both ends' byte counts, or None while bytes are in flight."""
        pty = self.pty
        if pty is None or pty.closed.is_set():
            return ()
        host = self._host if self._pty_of_host is pty else None
        if host is None:
            return (pty.bytes_in, pty.bytes_out)
        if (
            pty.bytes_in != self._base_in + host.bytes_out
            or pty.bytes_out != self._base_out + host.bytes_in
        ):
            return None
        return (pty.bytes_in, pty.bytes_out)

    def _due(self) -> float | None:
        pty = self.pty
        due = [] if pty is None or pty.closed.is_set() else [pty.next_deadline()]
        due.append(self.timers.next_deadline())
        first = min((d for d in due if d is not None), default=None)
        return first if first is not None and first <= self.horizon else None

    def _quiet(self) -> bool:
        """Nothing in flight, twice in a row (a chain of callbacks has had its turn)."""
        counts = self._counts()
        quiet = counts is not None and counts == self._last
        self._last = counts
        return quiet

    async def _pump(self) -> None:
        while True:
            await asyncio.sleep(_SETTLE_S)
            due = self._due()
            if due is None or not self._quiet():
                continue
            self.clock.now = max(self.clock.now, due)
            pty = self.pty
            if pty is not None and not pty.closed.is_set():
                deadline = pty.next_deadline()
                if deadline is not None and deadline <= self.clock.now:
                    pty.handle_timeout()
            self.timers.fire(self.clock.now)
            self._last = None

    async def settle(self) -> None:
        """Wait until no timer is due before the horizon and nothing is in flight."""
        while self._due() is not None or not self._quiet():
            await asyncio.sleep(_SETTLE_S)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[VirtualLine]:
        self._task = asyncio.get_running_loop().create_task(self._pump())
        try:
            yield self
        finally:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class Scenario:
    """What happens when (virtual seconds after T0) and how to reach the meter."""

    hours: float
    make_emulator: Callable[[SimulatedMeter, float], SerialEmulator]
    open_meter: Callable[..., contextlib.AbstractAsyncContextManager[SmartMeter]]
    expire: str  # the fault that ends the session: session_expiry or leave_indication
    transport: str = "wisun"
    unplug_at: float = 1 * HOUR
    unplug_s: float = 600.0
    expire_at: float = 2 * HOUR
    silent_at: float = 3 * HOUR
    silent_s: float = 1200.0
    restart_at: float = 4 * HOUR
    restart_down_s: float = 1500.0
    events: list[BRouteEvent] = field(default_factory=list)

    def joins(self) -> int:
        return sum(isinstance(e, Joined) for e in self.events)

    def sessions(self) -> int:
        """Sessions set up or renewed (a join, or a PANA re-authentication)."""
        return sum(isinstance(e, Joined | Reauthenticated) for e in self.events)


async def _until(condition: Callable[[], bool], what: str) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(_SETTLE_S)

    try:
        await asyncio.wait_for(wait(), HANG_S)
    except TimeoutError:
        raise AssertionError(f"hang guard: {what}") from None


async def record(tmp: Path, scenario: Scenario) -> tuple[RecordStore, SimulatedMeter]:
    clock = VirtualClock(T0)
    meter = SimulatedMeter()
    store = RecordStore(tmp / "hems.sqlite")
    device = tmp / "ttyHEMS"  # the stable device path; each new pty appears behind it
    line = VirtualLine(clock)
    end = T0 + scenario.hours * HOUR
    plugged = contextlib.AsyncExitStack()

    async def plug() -> None:
        emulator = scenario.make_emulator(meter, clock.now)
        line.pty = await plugged.enter_async_context(
            serve_dongle(emulator, clock=clock, run_timers=False)
        )
        staged = tmp / "ttyHEMS.new"
        staged.unlink(missing_ok=True)
        staged.symlink_to(line.pty.path)
        staged.replace(device)

    async def join(before: int) -> None:
        line.horizon = clock.now + JOIN_HORIZON_S
        await _until(lambda: scenario.joins() > before, "the link did not join")

    def new_recorder() -> Recorder:
        connect = functools.partial(
            scenario.open_meter, str(device), clock, scenario.events.append, line.timers
        )
        return Recorder(
            None,
            store,
            poll_interval=POLL_S,
            connect=connect,
            clock=clock,
            transport=scenario.transport,
        )

    async def open_link(recorder: Recorder, reopen: bool = False) -> bool:
        """Let virtual time run for the join (scans, PANA), then back to the tick."""
        line.horizon = clock.now + JOIN_HORIZON_S
        if reopen:
            opened = await recorder.reopen()
        else:
            await recorder.open_link()
            opened = True
        line.horizon = clock.now + POLL_S
        return opened

    async with line.running(), plugged:
        await plug()
        recorder: Recorder | None = new_recorder()
        assert recorder is not None
        await open_link(recorder)
        unplugged_until = restarted_at = None
        try:
            while clock.now <= end:
                at = clock.now - T0
                line.horizon = clock.now + POLL_S
                if scenario.unplug_at <= at and unplugged_until is None:
                    assert line.pty is not None
                    line.pty.inject("disconnect")
                    await _until(line.pty.closed.is_set, "the pty did not close")
                    await plugged.aclose()
                    line.pty = None
                    device.unlink()  # the device node goes with the dongle
                    unplugged_until = clock.now + scenario.unplug_s
                elif (
                    line.pty is None
                    and unplugged_until is not None
                    and (clock.now >= unplugged_until)
                ):
                    before = scenario.joins()
                    await plug()  # a new pty behind the same device path
                    await join(before)  # the link reopens it by itself and joins again
                if line.pty is not None and (
                    scenario.expire_at <= at < scenario.expire_at + POLL_S
                ):
                    before = scenario.sessions()
                    line.pty.inject(scenario.expire)
                    line.horizon = clock.now + JOIN_HORIZON_S
                    await _until(lambda: scenario.sessions() > before, "no new session")
                    line.horizon = clock.now + POLL_S
                if line.pty is not None and (
                    scenario.silent_at <= at < scenario.silent_at + POLL_S
                ):
                    line.pty.inject("silent_meter", seconds=scenario.silent_s)
                if restarted_at is None and at >= scenario.restart_at and recorder:
                    await recorder.stop()
                    await recorder.close_link()
                    recorder = None
                    restarted_at = clock.now
                elif (
                    recorder is None
                    and restarted_at is not None
                    and (clock.now >= restarted_at + scenario.restart_down_s)
                ):
                    recorder = new_recorder()
                    await open_link(recorder)
                if recorder is not None:
                    if recorder.link_failing and line.pty is not None:
                        await open_link(recorder, reopen=True)
                    await recorder.step()
                await line.settle()
                clock.now = max(clock.now, line.horizon)
        finally:
            if recorder is not None:
                await recorder.stop()
                await recorder.close_link()
    return store, meter


def check_day(store: RecordStore, meter: SimulatedMeter, hours: float) -> None:
    report = build_report(store)
    assert report.minutes_expected >= hours * 60 - 5
    assert report.minutes_collected == report.minutes_expected
    assert report.minutes_within_60_min == report.minutes_expected
    assert report.half_hours_expected >= hours * 2 - 1
    assert report.half_hours_collected == report.half_hours_expected
    assert report.unrecoverable == {}
    assert report.disagreements == 0
    assert report.runs == 2
    assert report.problems.get("failed", 0) > 0  # the outages were seen and ridden through
    minutes = list(store.intervals("minute"))
    halves = list(store.intervals("half_hour"))
    assert minutes
    assert halves
    for slot, direction, count, kwh, _ in minutes + halves:
        assert count == meter.counts(slot)[0 if direction == "normal" else 1], (slot, direction)
        assert kwh == meter.scale.to_kwh(count)


def _dongle(meter: SimulatedMeter, now: float) -> SerialEmulator:
    return make_dongle(
        MODEL, rbid=RBID, password=PASSWORD, node=meter_node(meter, now=now), now=now
    )


def _open_dongle(
    device: str,
    clock: VirtualClock,
    on_event: Callable[[BRouteEvent], None],
    timers: VirtualTimers,
) -> contextlib.AbstractAsyncContextManager[SmartMeter]:
    return open_smart_meter(
        device=device,
        rbid=RBID,
        password=PASSWORD,
        model=MODEL,
        clock=clock,
        link_clock=clock,
        timers=timers,
        timeout=0.5,
        retries=1,
        join_timeout=JOIN_GUARD_S,
        on_event=on_event,
    )


def run(coro: Awaitable[Any], guard: float) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(coro, guard)

    return asyncio.run(guarded())


@pytest.mark.parametrize(
    "hours", [pytest.param(5.0, id="5h"), pytest.param(24.0, id="a-day", marks=LONG)]
)
def test_a_day_over_the_dongle_pty(
    tmp_path: Path, hours: float, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scenario = Scenario(hours, _dongle, _open_dongle, expire="session_expiry")
    store, meter = run(record(tmp_path, scenario), hours * 120 + HANG_S)
    check_day(store, meter, hours)
    assert scenario.joins() >= 3  # the first join, after the unplug, after the restart
    assert any(isinstance(e, Reauthenticated) for e in scenario.events)  # the expiry
    store.close()
    # The B-route password is in no log line and nowhere in the store.
    assert PASSWORD not in caplog.text
    assert PASSWORD.encode().hex() not in caplog.text.lower()
    assert PASSWORD.encode() not in (tmp_path / "hems.sqlite").read_bytes()
