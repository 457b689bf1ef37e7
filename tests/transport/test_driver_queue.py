"""The driver's notification queue is bounded: a HEMS that never reads it keeps a fixed size.

Datagrams go through :meth:`SessionDriver.feed`, the entry every link adapter uses; the
session decodes them as it would from a socket. Time is a :class:`VirtualClock`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Final, TypeVar

import pytest

from smartmeter_proto.echonet import frame as el
from smartmeter_proto.echonet.events import Address
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.session import Session
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.transport.driver import SessionDriver

_T = TypeVar("_T")
#: Generous: only guards against a hang, never decides an outcome.
_HANG_GUARD_S: Final = 30.0
METER: Final = ("127.0.0.81", 3610)
METER_EOJ: Final = EOJ(0x02, 0x88, 0x01)
CONTROLLER_EOJ: Final = EOJ(0x05, 0xFF, 0x01)


def run(coro: Awaitable[_T]) -> _T:
    async def bounded() -> _T:
        return await asyncio.wait_for(coro, _HANG_GUARD_S)

    return asyncio.run(bounded())


def inf(tid: int) -> bytes:
    """An INF (0x73) of the instantaneous power 0xE7 carrying ``tid`` as its value."""
    value = Property(0xE7, tid.to_bytes(4, "big"))
    return el.encode(Frame(tid, METER_EOJ, CONTROLLER_EOJ, ESV.INF, (value,)))


async def _flood(backlog: int | None, count: int) -> SessionDriver:
    sent: list[tuple[bytes, Address]] = []

    async def send(data: bytes, dest: Address) -> None:
        sent.append((data, dest))

    clock = VirtualClock(1_000.0)
    if backlog is None:
        driver = SessionDriver(Session(), send, clock=clock)
    else:
        driver = SessionDriver(Session(), send, clock=clock, notification_backlog=backlog)
    driver.start()
    try:
        for tid in range(1, count + 1):
            await driver.feed(inf(tid), METER)
    finally:
        await driver.stop()
    assert sent == []  # an INF asks for no answer
    return driver


def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    driver = run(_flood(4, 10))
    assert driver.notifications.qsize() == 4
    assert driver.dropped_notifications == 6
    kept = [driver.notifications.get_nowait().frame.tid for _ in range(4)]
    assert kept == [7, 8, 9, 10]  # the newest survive, in order


def test_the_default_bound_holds_under_an_unread_flood() -> None:
    driver = run(_flood(None, 1030))
    assert driver.notifications.maxsize == 1024
    assert driver.notifications.qsize() == 1024
    assert driver.dropped_notifications == 6
    assert driver.notifications.get_nowait().frame.tid == 7


def test_a_queue_that_is_read_drops_nothing() -> None:
    async def scenario() -> list[int]:
        driver = await _flood(4, 4)
        seen = [driver.notifications.get_nowait().frame.tid for _ in range(4)]
        assert driver.dropped_notifications == 0
        return seen

    assert run(scenario()) == [1, 2, 3, 4]


@pytest.mark.parametrize("backlog", [0, -1])
def test_an_unbounded_backlog_is_refused(backlog: int) -> None:
    async def send(data: bytes, dest: Address) -> None:
        raise AssertionError("nothing is sent")

    with pytest.raises(ValueError, match="at least 1"):
        SessionDriver(Session(), send, notification_backlog=backlog)
