"""IoT route over UDP (A-route(IoT)): any sans-IO endpoint on an asyncio-dgram socket.

An endpoint has ``receive_datagram(data, source, now)``,
``datagrams_to_send() -> [(bytes, (host, port))]``, ``next_deadline()`` and
``handle_timeout(now)`` — the head-end (:class:`~smartmeter_proto.iot.headend.HeadEnd`)
and the simulated meters (:class:`~smartmeter_proto.sim.iotmeter.SimulatedIotMeter`)
both are. The adapter only moves bytes and fires timers.

With ``run_timers=False`` the link arms no timers: a :class:`VirtualTimeRunner` moves a
virtual clock from deadline to deadline and waits, between two moves, until every datagram
sent has been received and answered. The outcome then depends on events only, never on
how fast (or how loaded) the machine is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from contextlib import asynccontextmanager, suppress
from typing import Any, Final, Protocol

import asyncio_dgram
from asyncio_dgram.aio import DatagramServer, TransportClosed

from ..errors import TransportError

__all__ = [
    "DatagramCounts",
    "DatagramEndpoint",
    "SettableClock",
    "UDPEndpointLink",
    "VirtualTimeRunner",
    "serve_endpoint",
]

log = logging.getLogger(__name__)
_MIN_TIMER_S: Final = 0.001
#: Loop turns a settle wait yields before it starts sleeping between checks.
_SETTLE_SPINS: Final = 8
_SETTLE_POLL_S: Final = 0.001


class DatagramEndpoint(Protocol):
    def receive_datagram(self, data: bytes, source: Hashable, now: float) -> Any: ...

    def datagrams_to_send(self) -> list[tuple[bytes, Hashable]]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timeout(self, now: float) -> Any: ...


class DatagramCounts(Protocol):
    """A party to a virtual-time run: datagrams it sent, and received and answered."""

    @property
    def sent(self) -> int: ...

    @property
    def received(self) -> int: ...


class SettableClock(Protocol):
    """A clock the runner moves (``sim.clock.VirtualClock`` is one)."""

    now: float

    def __call__(self) -> float: ...


class UDPEndpointLink:
    """Runs one endpoint on one UDP socket; ``send_filter`` may drop outgoing datagrams.

    ``run_timers=False``: no loop timer is armed; the caller moves ``clock`` and calls
    :meth:`handle_timeout` (see :class:`VirtualTimeRunner`).
    """

    def __init__(
        self,
        endpoint: DatagramEndpoint,
        stream: DatagramServer,
        *,
        clock: Callable[[], float],
        send_filter: Callable[[bytes, Hashable], bool] | None = None,
        time_scale: float = 1.0,
        run_timers: bool = True,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.endpoint = endpoint
        self._stream = stream
        self._clock = clock
        self._scale = time_scale
        self._run_timers = run_timers
        self._filter = send_filter
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0
        self.filtered = 0
        #: Datagrams received and handled, the endpoint's answers already sent.
        self.received = 0

    @property
    def address(self) -> tuple[str, int]:
        name: Any = self._stream.sockname
        return (str(name[0]), int(name[1]))

    async def run(self) -> None:
        self._arm()
        while True:
            try:
                data, source = await self._stream.recv()
            except TransportClosed:
                return
            except OSError as exc:
                log.debug("socket error: %s", exc)
                continue
            peer: Any = source
            self.endpoint.receive_datagram(data, (str(peer[0]), int(peer[1])), self._clock())
            await self._flush()
            self.received += 1

    async def _flush(self) -> None:
        for data, dest in self.endpoint.datagrams_to_send():
            if self._filter is not None and not self._filter(data, dest):
                self.filtered += 1
                continue
            if not isinstance(dest, tuple):
                raise TransportError(f"not a UDP address: {dest!r}")
            try:
                await self._stream.send(data, (str(dest[0]), int(dest[1])))
                self.sent += 1
            except OSError as exc:
                log.debug("send to %s failed: %s", dest, exc)
        self._arm()

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        deadline = self.endpoint.next_deadline()
        self._timer = None
        if deadline is not None and self._run_timers:
            delay = max(_MIN_TIMER_S, (deadline - self._clock()) / self._scale)
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def kick(self) -> None:
        """Send what the endpoint queued outside a receive or a timer (a caller's request)."""
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def idle(self) -> bool:
        """No send of the link is pending (a :meth:`kick` or a timer's)."""
        return not self._tasks

    async def handle_timeout(self) -> None:
        """Fire the endpoint's timers at the clock's time and send what they queued."""
        self.endpoint.handle_timeout(self._clock())
        await self._flush()

    def _fire(self) -> None:
        self._timer = None
        self.endpoint.handle_timeout(self._clock())
        task = asyncio.get_running_loop().create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()


@asynccontextmanager
async def serve_endpoint(
    endpoint: DatagramEndpoint,
    local: tuple[str, int],
    *,
    clock: Callable[[], float] = time.time,
    send_filter: Callable[[bytes, Hashable], bool] | None = None,
    time_scale: float = 1.0,
    run_timers: bool = True,
) -> AsyncIterator[UDPEndpointLink]:
    """Bind ``local`` and run ``endpoint`` on it until the block exits.

    ``clock`` is the endpoint's time; with ``time_scale`` > 1 it runs that much faster
    than the wall clock (timers are armed for the scaled delay). ``run_timers=False``
    leaves the timers to the caller (:class:`VirtualTimeRunner`).
    """
    try:
        stream = await asyncio_dgram.bind(local)
    except OSError as exc:
        raise TransportError(f"cannot bind {local}: {exc}") from exc
    if not isinstance(stream, DatagramServer):
        stream.close()
        raise TransportError("expected an unconnected UDP socket")
    link = UDPEndpointLink(
        endpoint,
        stream,
        clock=clock,
        send_filter=send_filter,
        time_scale=time_scale,
        run_timers=run_timers,
    )
    reader = asyncio.get_running_loop().create_task(link.run())
    try:
        yield link
    finally:
        link.stop()
        reader.cancel()
        with suppress(asyncio.CancelledError, TransportClosed):
            await reader
        stream.close()


class VirtualTimeRunner:
    """Moves a virtual clock over links served with ``run_timers=False``, as fast as events go.

    Before each move it waits until every datagram sent by a party has been received and
    answered (the counts balance) and no link has a send pending; then it moves ``clock``
    to the earliest deadline of the links' endpoints and fires the links due. ``peers``
    are further parties on the same wire that run their own sockets (a relay), counted
    the same way. Time moves by at least ``resolution`` when a deadline is already past.
    ``settle_timeout`` (wall seconds) only guards against a datagram that never arrives.
    """

    def __init__(
        self,
        clock: SettableClock,
        links: Iterable[UDPEndpointLink],
        *,
        peers: Iterable[DatagramCounts] = (),
        resolution: float = _MIN_TIMER_S,
        settle_timeout: float = 30.0,
    ) -> None:
        self.clock = clock
        self.links = list(links)
        self.peers = list(peers)
        self.resolution = resolution
        self.settle_timeout = settle_timeout
        #: Clock moves made so far.
        self.steps = 0

    def _in_flight(self) -> int:
        parties: list[DatagramCounts] = [*self.links, *self.peers]
        return sum(p.sent for p in parties) - sum(p.received for p in parties)

    def _settled(self) -> bool:
        return all(link.idle for link in self.links) and self._in_flight() == 0

    async def settle(self) -> None:
        """Wait until every datagram sent has been received and answered."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settle_timeout
        spins = 0
        while not self._settled():
            if loop.time() > give_up:
                raise TransportError(
                    f"{self._in_flight()} datagram(s) still in flight after {self.settle_timeout} s"
                )
            spins += 1
            await asyncio.sleep(0 if spins <= _SETTLE_SPINS else _SETTLE_POLL_S)

    def next_deadline(self) -> float | None:
        """The earliest deadline of the links' endpoints."""
        due = [d for link in self.links if (d := link.endpoint.next_deadline()) is not None]
        return min(due, default=None)

    async def step(self, limit: float) -> bool:
        """Settle, then move the clock to the next deadline and fire it, unless that deadline
        is past ``limit``; False when there was nothing to fire."""
        await self.settle()
        due = self.next_deadline()
        if due is None or due > limit:
            return False
        now = self.clock.now
        self.clock.now = due if due > now else now + self.resolution
        self.steps += 1
        for link in self.links:
            deadline = link.endpoint.next_deadline()
            if deadline is not None and deadline <= self.clock.now:
                await link.handle_timeout()
        await self.settle()
        return True

    async def run_until(self, until: float) -> None:
        """Fire every deadline up to ``until`` in order, then leave the clock at ``until``."""
        while await self.step(until):
            pass
        self.clock.now = max(self.clock.now, until)

    async def wait_for(self, condition: Callable[[], bool], *, within: float) -> None:
        """Fire deadlines in order until ``condition()`` holds (checked after each settle).

        Raises :class:`TimeoutError` when it still does not hold ``within`` seconds of
        virtual time later, or when nothing is left to fire.
        """
        limit = self.clock.now + within
        await self.settle()
        while not condition():
            if not await self.step(limit):
                raise TimeoutError(
                    f"condition not met within {within} s of virtual time "
                    f"(clock at {self.clock.now:.3f}, next deadline {self.next_deadline()})"
                )
