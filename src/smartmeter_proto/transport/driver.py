"""Asyncio driver for the sans-IO ECHONET Lite session, independent of the link.

The driver resolves the futures of pending requests and queues notifications. Who moves
the datagrams and fires the session's timers is the link's choice:

* a datagram link (:class:`~.datagram.DatagramLink`, UDP) runs the session as its
  endpoint and hands the driver the session's events; the driver is given the link as its
  ``carrier`` and asks it to flush after a request starts;
* a link that carries datagrams inside another protocol (a Wi-SUN dongle, a G3-PLC
  modem) gives the driver a coroutine that transmits one datagram and calls
  :meth:`SessionDriver.feed` for each one received; the driver then runs the timers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from ..echonet.events import (
    Address,
    Event,
    FrameDropped,
    NodeDiscovered,
    Notification,
    RequestDone,
    RequestFailed,
)
from ..echonet.session import Session

__all__ = ["SessionDriver"]

log = logging.getLogger(__name__)

Sender = Callable[[bytes, Address], Awaitable[None]]


class Carrier(Protocol):
    """A link that runs the session itself (:class:`~.datagram.DatagramLink`)."""

    def send(self, data: bytes, destination: Any) -> None: ...

    def flush(self) -> None: ...

    def add_tap(self, tap: Callable[[bytes, tuple[str, int]], None]) -> Callable[[], None]: ...


_NOTIFICATION_BACKLOG: Final = 1024
#: A deadline already past is fired on the next loop turn, never in a busy loop.
_MIN_TIMER_S: Final = 0.001


class SessionDriver:
    """Runs a :class:`Session` on the event loop; ``send`` transmits one datagram.

    Received notifications (INF 0x73 and INFC 0x74, ECHONET Lite 3.2.5) wait in
    :attr:`notifications` for a reader. At most ``notification_backlog`` of them are
    kept: when the queue is full the oldest one is dropped for the new one and
    :attr:`dropped_notifications` counts it, so a HEMS that never reads
    ``client.notifications()`` holds a bounded amount of memory.
    """

    def __init__(
        self,
        session: Session,
        send: Sender | None = None,
        *,
        carrier: Carrier | None = None,
        clock: Callable[[], float] = time.time,
        notification_backlog: int = _NOTIFICATION_BACKLOG,
        run_timers: bool = True,
    ) -> None:
        if notification_backlog < 1:  # asyncio.Queue(0) would be unbounded
            raise ValueError("notification_backlog must be at least 1")
        if (send is None) == (carrier is None):
            raise ValueError("give the driver either send or carrier")
        self.session = session
        self._send = send
        self._carrier = carrier
        self.clock = clock
        #: False: no loop timer is armed; a virtual-time runner calls :meth:`handle_timeout`.
        self.run_timers = run_timers
        self._waiters: dict[int, asyncio.Future[RequestDone]] = {}
        self.notifications: asyncio.Queue[Notification] = asyncio.Queue(notification_backlog)
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()
        self._running = False
        self._taps: list[Callable[[bytes, Address], None]] = []
        #: Notifications dropped, oldest first, because nobody read them in time.
        self.dropped_notifications = 0

    def start(self) -> None:
        self._running = True
        self._reschedule()

    async def stop(self) -> None:
        self._running = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._flushes):
            task.cancel()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.cancel()
        self._waiters.clear()

    def add_tap(self, tap: Callable[[bytes, Address], None]) -> Callable[[], None]:
        """See every received datagram before the session does (diagnostics, conformance).

        Returns a function that removes the tap.
        """
        if self._carrier is not None:
            return self._carrier.add_tap(tap)
        self._taps.append(tap)
        return lambda: self._taps.remove(tap)

    async def send_raw(self, data: bytes, dest: Address) -> None:
        """Transmit ``data`` as is, outside the session (a test frame, a fuzz input)."""
        if self._carrier is not None:
            self._carrier.send(data, dest)
        else:
            assert self._send is not None
            await self._send(data, dest)

    async def feed(self, data: bytes, source: Address) -> None:
        """Hand one received datagram to the session (a link without a carrier)."""
        for tap in self._taps:
            tap(data, source)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rx %s %s", source, data.hex())
        self.dispatch(self.session.receive_datagram(data, source, self.clock()))
        await self.flush()

    async def request(self, start: Callable[[float], int]) -> RequestDone | RequestFailed:
        """Run ``start(now) -> request id`` on the session and wait for the outcome."""
        request_id = start(self.clock())
        waiter: asyncio.Future[RequestDone] = asyncio.get_running_loop().create_future()
        self._waiters[request_id] = waiter
        self._reschedule()
        await self.flush()
        try:
            return await waiter
        except _Failed as failed:
            return failed.event
        finally:
            self._waiters.pop(request_id, None)

    async def flush(self) -> None:
        """Transmit everything the session has queued."""
        if self._carrier is not None:
            self._carrier.flush()
            return
        assert self._send is not None
        async with self._send_lock:
            for data, dest in self.session.datagrams_to_send():
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("tx %s %s", dest, data.hex())
                await self._send(data, dest)

    def dispatch(self, events: list[Event]) -> None:
        """Resolve the requests and queue the notifications ``events`` tell of."""
        for event in events:
            if isinstance(event, RequestDone | RequestFailed):
                waiter = self._waiters.get(event.request_id)
                if waiter is not None and not waiter.done():
                    if isinstance(event, RequestDone):
                        waiter.set_result(event)
                    else:
                        waiter.set_exception(_Failed(event))
            elif isinstance(event, Notification):
                if self.notifications.full():
                    self.notifications.get_nowait()
                    self.dropped_notifications += 1
                self.notifications.put_nowait(event)
            elif isinstance(event, NodeDiscovered):
                log.debug("learnt node %s: %s", event.node.address, event.node.instances)
            elif isinstance(event, FrameDropped):
                log.debug(
                    "dropped datagram from %s: %s %s", event.source, event.reason, event.error or ""
                )
        self._reschedule()

    def _reschedule(self) -> None:
        """Arm one loop timer for the session's next deadline."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.session.next_deadline()
        if deadline is None or not self._running or self._carrier is not None:
            return
        if not self.run_timers:
            return
        delay = max(_MIN_TIMER_S, deadline - self.clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def next_deadline(self) -> float | None:
        """The session's next deadline (what a virtual-time runner moves the clock to)."""
        if not self._running or self._carrier is not None:  # a carrier runs its own timers
            return None
        return self.session.next_deadline()

    def handle_timeout(self) -> None:
        """Fire the session's timers due at ``clock()`` and send what they queue."""
        if self._running and self._carrier is None:
            self._fire()

    def _fire(self) -> None:
        self._timer = None
        self.dispatch(self.session.handle_timeout(self.clock()))
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)


class _Failed(Exception):
    def __init__(self, event: RequestFailed) -> None:
        super().__init__(event.reason)
        self.event = event
