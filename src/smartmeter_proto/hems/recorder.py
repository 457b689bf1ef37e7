"""The HEMS recorder: drives :class:`~.planner.ReadingPlanner` against a meter into a store.

A thin asyncio driver: it asks the planner what to read, reads it through a
:class:`~.meter.SmartMeter` (any transport), hands the answers back and writes
what the planner returns to the :class:`~.store.RecordStore`. Failures of the
link (timeouts, an unplugged dongle, a silent meter) are given to the planner,
which waits and back-fills; nothing here ends the run but the caller.

The recorder imports no transport: it is given an open meter, or a ``connect``
factory (``functools.partial(open_smart_meter, ...)`` from
:mod:`smartmeter_proto.transport.smart_meter`) that it calls again to reopen a
link that stopped answering (an unplugged dongle). ``on_commit`` is called after
every commit of the store (the MQTT publisher's ``notify``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import Final

from ..errors import AuthError, ProtocolError
from .meter import SmartMeter
from .planner import (
    Collected,
    PlannerEvent,
    Polled,
    Problem,
    ReadingPlanner,
    Request,
    ScaleLearnt,
    Unrecoverable,
)
from .store import RecordStore

__all__ = ["DEFAULT_REOPEN_AFTER_S", "Connect", "Recorder", "RecorderStats"]

#: Opens the link to the meter; called again after the link is lost.
Connect = Callable[[], AbstractAsyncContextManager[SmartMeter]]

log = logging.getLogger(__name__)
#: A restarted recorder looks back this far for 30-minute gaps (the meter's 45 days).
_HALF_HOUR_LOOKBACK_S: Final = 45 * 86400
#: Longest wait between two looks at the planner (wall or virtual seconds).
_MAX_IDLE_S: Final = 60.0
#: Requests failing this long (meter seconds) and the link is reopened (``connect`` given):
#: longer than a meter's usual silence (a rejoin then only fails), short enough that the
#: outage plus a join stays well inside the meter's 60-minute store of 1-minute values.
DEFAULT_REOPEN_AFTER_S: Final = 25 * 60.0
#: Wall seconds between two attempts to reopen a lost link.
_REOPEN_DELAY_S: Final = 5.0


@dataclass(slots=True)
class RecorderStats:
    requests: int = 0
    failures: int = 0
    bad_input: int = 0
    stored: int = 0
    problems: dict[str, int] = field(default_factory=dict)


class Recorder:
    """Record ``meter`` into ``store`` every ``poll_interval`` seconds (meter time).

    ``meter`` may be None when ``connect`` is given (``run`` or :meth:`open_link` opens
    it); ``clock`` is the meter's POSIX time (default: the meter's own clock); a link
    whose requests fail for ``reopen_after`` meter seconds is closed and opened again.
    """

    def __init__(
        self,
        meter: SmartMeter | None,
        store: RecordStore,
        *,
        poll_interval: float,
        transport: str = "wisun",
        connect: Connect | None = None,
        clock: Callable[[], float] | None = None,
        on_commit: Callable[[], None] | None = None,
        reopen_after: float = DEFAULT_REOPEN_AFTER_S,
    ) -> None:
        if meter is None and (connect is None or clock is None):
            raise ValueError("without a meter, give connect= and clock=")
        self._meter = meter
        self._connect = connect
        self.clock: Callable[[], float] = clock or meter.clock  # type: ignore[union-attr]
        self.on_commit = on_commit
        self.store = store
        self.stats = RecorderStats()
        self.reopen_after = reopen_after
        self._failing_since: float | None = None
        self._link: AsyncExitStack | None = None
        self._opened = 0
        now = self.clock()
        runs = store.runs()
        # A restart resumes from the store: gaps since the first run are looked for.
        start = min((r.started for r in runs), default=now)
        start = max(start, now - _HALF_HOUR_LOOKBACK_S)
        self.planner = ReadingPlanner(
            start=start,
            poll_interval=poll_interval,
            scale=store.scale(),
            collected_minutes=store.slots("minute", start),
            collected_half_hours=store.slots("half_hour", start),
        )
        store.start_run(now, transport)
        self._listener: asyncio.Task[None] | None = None

    @property
    def meter(self) -> SmartMeter:
        """The meter of the open link."""
        if self._meter is None:
            raise RuntimeError("the recorder has no open link to the meter yet")
        return self._meter

    @meter.setter
    def meter(self, meter: SmartMeter) -> None:
        self._meter = meter

    # ---------------------------------------------------------------- driving
    async def step(self) -> int:
        """Make every request due at the meter clock's now; returns how many were made."""
        made = 0
        while True:
            now = self.clock()
            request = self.planner.next_request(now)
            self._apply(self.planner.events(), now)
            if request is None:
                break
            made += 1
            self.stats.requests += 1
            self._apply(await self._ask(request), self.clock())
        self.store.touch_run(self.clock())
        self._commit()
        return made

    def _commit(self) -> None:
        self.store.commit()
        if self.on_commit is not None:
            self.on_commit()

    async def _ask(self, request: Request) -> list[PlannerEvent]:
        try:
            refused: set[int] = set()
            for epc, value in request.set:
                done = await self.meter.set({epc: value})
                refused.update(done.refused)
            done = await self.meter.get(request.get)
        except (ProtocolError, OSError) as exc:
            self.stats.failures += 1
            if self._failing_since is None:
                self._failing_since = self.clock()
            return self.planner.handle_failure(request, str(exc), self.clock())
        self._failing_since = None
        refused.update(done.refused)
        now = self.clock()
        events: list[PlannerEvent] = []
        for epc, error in done.undecodable:
            self.stats.bad_input += 1
            self.store.add_event(now, "bad_input", f"0x{epc:02X}: {error}")
        values = {epc: value.value for epc, value in done.values.items()}
        events.extend(self.planner.handle_response(request, values, refused, now))
        return events

    def _apply(self, events: list[PlannerEvent], now: float) -> None:
        for event in events:
            if isinstance(event, Collected):
                scale = self.planner.scale
                if scale is None:
                    continue
                for value in event.values:
                    self.stats.stored += self.store.add_interval(value, scale, now)
            elif isinstance(event, Polled):
                self.store.add_instant(event.reading)
            elif isinstance(event, ScaleLearnt):
                self.store.set_scale(event.scale)
                if event.identity is not None:
                    self.store.set_meta("route_b_id", event.identity.route_b_id)
                    self.store.set_meta("manufacturer_code", event.identity.manufacturer_code)
            elif isinstance(event, Unrecoverable):
                self.store.add_gaps(event.kind, event.slots, event.reason, now)
                log.warning("%d %s value(s) lost: %s", len(event.slots), event.kind, event.reason)
            elif isinstance(event, Problem):
                self.stats.problems[event.kind] = self.stats.problems.get(event.kind, 0) + 1
                if event.kind == "bad_input":
                    self.stats.bad_input += 1
                self.store.add_event(now, event.kind, event.detail)
                log.info("%s: %s", event.kind, event.detail)

    def note_join(self) -> None:
        """The link joined the meter (again)."""
        self.store.touch_run(self.clock(), joins=1)

    def note_reopen(self) -> None:
        """The serial port was opened again after it was lost."""
        self.store.touch_run(self.clock(), reopens=1)

    # ---------------------------------------------------------- notifications
    async def _listen(self) -> None:
        async for note in self.meter.client.notifications():
            values = {value.epc: value.value for value in note.values}
            now = self.clock()
            self._apply(self.planner.handle_notification(values, now), now)

    def start_listening(self) -> None:
        """Take the meter's INF (0xEA/0xEB every 30 minutes) as they come."""
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def stop(self) -> None:
        """Stop listening and commit (the link stays open: see :meth:`close_link`)."""
        await self._stop_listening()
        self._commit()

    async def _stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    # ------------------------------------------------------------------ the link
    @property
    def link_failing(self) -> bool:
        """Requests have failed for ``reopen_after`` seconds (meter time) and a ``connect``
        factory can reopen the link (an unplugged dongle, a wedged modem)."""
        return (
            self._connect is not None
            and self._failing_since is not None
            and self.clock() - self._failing_since >= self.reopen_after
        )

    async def open_link(self) -> None:
        """Open the link through ``connect`` (joins the meter); its errors are raised."""
        if self._connect is None:
            raise RuntimeError("the recorder was given a meter, not a connect factory")
        stack = AsyncExitStack()
        self.meter = await stack.enter_async_context(self._connect())
        self._link = stack
        self._failing_since = None
        if self._opened:
            self.note_reopen()
        self._opened += 1
        self.note_join()
        self._commit()
        self.start_listening()

    async def close_link(self) -> None:
        """Stop listening and close the link opened by :meth:`open_link` (if any)."""
        await self._stop_listening()
        stack, self._link = self._link, None
        if stack is not None:
            with suppress(ProtocolError, OSError):
                await stack.aclose()

    async def reopen(self) -> bool:
        """Close the failing link and open it again; False (and noted) if that failed."""
        self.store.add_event(self.clock(), "link_lost", "no answer; reopening the link")
        log.warning("no answer from the meter for %.0f s; reopening the link", self.reopen_after)
        await self.close_link()
        try:
            await self.open_link()
        except AuthError:
            raise
        except (ProtocolError, OSError) as exc:
            self.stats.failures += 1
            self.store.add_event(self.clock(), "reopen_failed", str(exc))
            self._commit()
            log.warning("reopening the link failed: %s", exc)
            return False
        return True

    async def run(self) -> None:
        """Record until cancelled, sleeping on the real clock between requests.

        With ``connect``, the link is opened here: a failure to open it the first time
        ends the run (raised); a link that stops answering is reopened (:meth:`reopen`).
        """
        try:
            if self._connect is not None:
                await self.open_link()
            else:
                self.start_listening()
            while True:
                await self.step()
                if self.link_failing and not await self.reopen():
                    await asyncio.sleep(_REOPEN_DELAY_S)
                    continue
                due = self.planner.next_deadline()
                wait = _MAX_IDLE_S if due is None else due - self.clock()
                await asyncio.sleep(min(_MAX_IDLE_S, max(0.05, wait)))
        finally:
            await self.stop()
            await self.close_link()
