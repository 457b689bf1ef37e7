"""Virtual time for links on real sockets: outcomes that depend on events, never on speed.

Links served with ``run_timers=False`` arm no timers; a :class:`VirtualTimeRunner` moves a
virtual clock from deadline to deadline and waits, between two moves, until every datagram
sent has been received and answered. The outcome then depends on events only, never on how
fast (or how loaded) the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Final, Protocol

from ..errors import TransportError
from .datagram import DatagramLink

__all__ = ["DatagramCounts", "SettableClock", "TimedParty", "VirtualTimeRunner", "VirtualTimers"]

_MIN_TIMER_S: Final = 0.001
#: Loop turns a settle wait yields before it starts sleeping between checks.
_SETTLE_SPINS: Final = 8
_SETTLE_POLL_S: Final = 0.001


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


class TimedParty(Protocol):
    """Something with timers that a virtual-time runner fires instead of the event loop."""

    def next_deadline(self) -> float | None: ...

    def handle_timeout(self) -> None: ...


class VirtualTimers:
    """The timers of links opened in virtual time (a serial link and its session driver).

    A link opened with ``timers=`` arms no loop timer: it adds itself here, and whoever
    moves the virtual clock reads :meth:`next_deadline` and calls :meth:`fire` after each
    move. The parties stay registered until the link closes.
    """

    def __init__(self) -> None:
        self.parties: list[TimedParty] = []
        #: Called with a link each time it opens its port (before it writes a byte there):
        #: a runner that counts the bytes in flight starts a new count.
        self.on_port_open: list[Callable[[object], None]] = []

    def port_opened(self, link: object) -> None:
        """A registered link opened its port (again)."""
        for listener in self.on_port_open:
            listener(link)

    def add(self, party: TimedParty) -> Callable[[], None]:
        """Register ``party``; returns the function that removes it."""
        self.parties.append(party)
        return lambda: self.parties.remove(party)

    def next_deadline(self) -> float | None:
        """The earliest deadline of every party."""
        due = [d for party in self.parties if (d := party.next_deadline()) is not None]
        return min(due, default=None)

    def fire(self, now: float) -> None:
        """Let every party whose deadline is at or before ``now`` handle it."""
        for party in list(self.parties):
            deadline = party.next_deadline()
            if deadline is not None and deadline <= now:
                party.handle_timeout()


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
        links: Iterable[DatagramLink],
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
