"""The recorder against the simulated meter over real UDP on loopback, in virtual meter time.

The meter node runs on a :class:`VirtualClock` moved by the test; only the
client's request timeouts are wall-clock (short guards for the outage phases).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from smartmeter_proto.hems import Recorder, RecordStore, SmartMeter, build_report
from smartmeter_proto.hems.planner import ReadingPlanner, Request, RequestKind
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.meter import SimulatedMeter, meter_node
from smartmeter_proto.transport.udp import EchonetClient, serve_node

T0 = 1_777_604_400.0  # 2026-05-01 12:00:00 JST
POLL_S = 30.0
HOST = "127.0.0.1"


@contextlib.asynccontextmanager
async def meter_online(
    meter: SimulatedMeter, clock: VirtualClock, host: str = HOST
) -> AsyncIterator[Any]:
    node = meter_node(meter, now=clock())
    async with serve_node(
        node, local=(host, 0), reply_port=None, join_group=False, clock=clock
    ) as link:
        yield link.address


async def _record(
    tmp: Path, hours: float, host: str = HOST
) -> tuple[RecordStore, SimulatedMeter, VirtualClock]:
    """``hours`` of meter time with a 10-minute outage, a 20-minute silent meter and a restart."""
    clock = VirtualClock(T0)
    meter = SimulatedMeter()
    store = RecordStore(tmp / "hems.sqlite")
    end = T0 + hours * 3600
    outages = [(T0 + 3600, T0 + 4200), (T0 + 7200, T0 + 8400)]  # unplugged 10 min, silent 20 min
    restart_at, restart_back = T0 + 3 * 3600, T0 + 3 * 3600 + 1500  # down 25 minutes
    async with EchonetClient.udp(
        local=(host, 0), timeout=0.2, retries=0, join_group=False
    ) as client:
        recorder: Recorder | None = None
        port: tuple[str, int] | None = None
        server: contextlib.AsyncExitStack | None = None
        while clock.now <= end:
            down = any(a <= clock.now < b for a, b in outages)
            if server is None and not down:
                server = contextlib.AsyncExitStack()
                port = await server.enter_async_context(meter_online(meter, clock, host))
                if recorder is not None:
                    recorder.meter.address = port
            elif server is not None and down:
                await server.aclose()
                server = None
            if recorder is None and not restart_at <= clock.now < restart_back and port:
                recorder = Recorder(
                    SmartMeter(client, port, clock=clock), store, poll_interval=POLL_S
                )
            if restart_at <= clock.now < restart_back and recorder is not None:
                await recorder.stop()
                recorder = None
            if recorder is not None:
                await recorder.step()
            clock.now += POLL_S
        if server is not None:
            await server.aclose()
    return store, meter, clock


def _check_against_meter(store: RecordStore, meter: SimulatedMeter) -> None:
    minutes = list(store.intervals("minute"))
    halves = list(store.intervals("half_hour"))
    assert minutes
    assert halves
    for slot, direction, count, kwh, _ in minutes + halves:
        assert count == meter.counts(slot)[0 if direction == "normal" else 1], (slot, direction)
        assert kwh == meter.scale.to_kwh(count)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("hours", "host"),
    [
        (5, HOST),
        pytest.param(
            5,
            "::1",
            marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this host"),
            id="5-ipv6",
        ),
        # A whole simulated day takes minutes of wall time: run with SMARTMETER_PROTO_LONG=1.
        pytest.param(
            24,
            HOST,
            id="a-day",
            marks=[
                pytest.mark.e2e,
                pytest.mark.skipif(
                    not os.environ.get("SMARTMETER_PROTO_LONG"),
                    reason="set SMARTMETER_PROTO_LONG=1",
                ),
            ],
        ),
    ],
)
def test_outages_and_restart_leave_no_gap(tmp_path: Path, hours: float, host: str) -> None:
    store, meter, _ = asyncio.run(asyncio.wait_for(_record(tmp_path, hours, host), 1200))
    report = build_report(store)
    assert report.minutes_expected >= hours * 60 - 3
    assert report.minutes_collected == report.minutes_expected
    assert report.minutes_within_60_min == report.minutes_expected
    assert report.half_hours_collected == report.half_hours_expected >= hours * 2 - 1
    assert report.unrecoverable == {}
    assert report.disagreements == 0
    assert report.runs == 2
    assert report.problems.get("failed", 0) > 0  # the outages were seen and ridden through
    _check_against_meter(store, meter)


def test_restart_after_more_than_an_hour_reports_unrecoverable_minutes(tmp_path: Path) -> None:
    async def scenario() -> RecordStore:
        clock = VirtualClock(T0)
        meter = SimulatedMeter()
        store = RecordStore(tmp_path / "hems.sqlite")
        async with (
            meter_online(meter, clock) as address,
            EchonetClient.udp(local=(HOST, 0), timeout=0.5, retries=0, join_group=False) as client,
        ):
            recorder = Recorder(
                SmartMeter(client, address, clock=clock), store, poll_interval=POLL_S
            )
            for _ in range(10):
                await recorder.step()
                clock.now += POLL_S
            await recorder.stop()
            clock.now += 2 * 3600  # the recorder was down two hours
            recorder = Recorder(
                SmartMeter(client, address, clock=clock), store, poll_interval=POLL_S
            )
            for _ in range(6):
                await recorder.step()
                clock.now += POLL_S
            await recorder.stop()
        return store

    store = asyncio.run(asyncio.wait_for(scenario(), 120))
    report = build_report(store)
    lost = sum(report.unrecoverable.values())
    assert 55 <= lost <= 65  # the first hour of the downtime is beyond the meter's store
    assert all("retention exceeded" in reason for reason in report.unrecoverable)
    assert report.minutes_collected + lost == report.minutes_expected
    assert report.half_hours_collected == report.half_hours_expected  # kept 45 days
    gap_slots = {slot for kind, slot, _, _ in store.gaps() if kind == "minute"}
    assert not gap_slots & {slot for slot, *_ in store.intervals("minute")}  # never invented


def test_bad_answers_are_counted_and_recording_goes_on() -> None:
    planner = ReadingPlanner(start=T0, poll_interval=POLL_S)
    scale_request = planner.next_request(T0)
    assert scale_request is not None
    assert scale_request.kind is RequestKind.SCALE
    events = planner.handle_response(
        scale_request, {0xE1: "0.1", 0xD7: 6, 0x8A: b"\x00\x00\x01"}, (), T0
    )
    assert planner.scale is not None
    assert events
    poll = planner.next_request(T0)
    assert poll is not None
    assert poll.kind is RequestKind.POLL
    planner.handle_response(poll, {0xE7: "garbage", 0xE8: None, 0xD0: 7}, (), T0)
    assert planner.problems["bad_input"] == 3
    # Minutes go missing; the 0xEE answer has the wrong size; then the meter refuses 0xEE.
    now = T0 + 600
    request = planner.next_request(now)
    assert request is not None
    assert request.kind is RequestKind.POLL
    planner.handle_failure(request, "timeout", now)
    now += 60
    poll = planner.next_request(now)
    assert poll is not None
    assert poll.kind is RequestKind.POLL
    planner.handle_response(poll, {}, (), now)
    backfill = planner.next_request(now)
    assert backfill is not None
    assert backfill.kind is RequestKind.MINUTES
    bad = {"timestamp": None, "segments": 3, "energy": ({"normal": 1, "reverse": 0},)}
    planner.handle_response(backfill, {0xEE: bad}, (), now)
    assert planner.problems["bad_input"] == 4
    assert planner.missing("minute")  # nothing invented
    now += 120
    half = planner.next_request(now)
    assert isinstance(half, Request)
    planner.handle_response(half, {}, (0xEE, 0xEF, 0xEC, 0xED), now)
    assert planner.problems.get("refused", 0) + planner.problems["bad_input"] >= 4


def test_record_report_command_reads_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from smartmeter_proto.cli import main

    store, _, _ = asyncio.run(asyncio.wait_for(_record(tmp_path, 1.0), 300))
    store.close()
    assert main(["record", "--report", str(tmp_path / "hems.sqlite"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["minutes_collected"] == shown["minutes_expected"] >= 55
    assert shown["minutes_percent"] == 100.0
    assert main(["record", "--report", str(tmp_path / "hems.sqlite")]) == 0
    assert "1-minute values collected" in capsys.readouterr().out
