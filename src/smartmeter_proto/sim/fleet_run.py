"""Run a simulated A-route fleet against the head-end collector over real UDP on loopback.

Every meter has its own socket (its own address, as on a real network) and the collector
one; all run in one asyncio loop. Time is virtual: the runner moves a simulated clock to
the next deadline of the fleet or the collector (never by less than ``step_s``), lets them
act, then waits until every datagram sent has been read and answered before it moves on.
A simulated day therefore runs as fast as the machine allows, and the service levels do
not depend on how loaded the machine was (``max_speed`` caps the pace instead, as a
multiple of the wall clock).

Commit before acknowledge: the collector commits after every batch of datagrams it
received and at the end of every step, with the runner's clock. A run whose process was
killed continues with ``resume=True`` on the same store: the plan comes from the store,
the clock from its last commit, the collector rebuilds itself from the store, and the
fleet runs its meters to that time off the network (:meth:`.fleet.Fleet.fast_forward`),
their counters coming from ``meter_state`` (:func:`meter_state_beside`: a sibling SQLite
file of the store), so nothing the collector accepted before is sent again under the same
counter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from ..hes.collector import Collector, CollectorConfig, MeterInfo
from ..hes.storage import MEMORY, Store
from ..security_state import SqliteStateStore, StateStore
from ..transport.datagram import DatagramSocket
from .clock import VirtualClock
from .fleet import Fleet, FleetPlan, FleetStats

__all__ = [
    "HEADEND_TITLE",
    "FleetRun",
    "VirtualClock",
    "meter_state_beside",
    "plan_record",
    "run_files",
    "run_fleet",
    "stored_plan",
]

#: The head end's system title in the fleet runs (FLAG-style "HES" + serial).
HEADEND_TITLE: Final = b"HES\x00\x00\x00\x00\x01"
#: Datagrams sent before the runner lets the receivers drain (stays far below a loopback
#: socket's default receive buffer).
_CHUNK: Final = 64
_COLLECTOR_BUFFER: Final = 4 << 20
_STABLE_ROUNDS: Final = 2
#: The confirmation pass reads back what is still missing this long after the window's
#: end: after the last period's push spread (20 minutes, sim.ameter), before the settle ends.
_FINAL_PASS_AFTER_S: Final = 1800.0
#: The runner's clock in the store's collector_state table, committed with every step.
_CLOCK_STATE: Final = "runner:clock"
#: Suffix of the meters' state file beside the store.
METER_STATE_SUFFIX: Final = "-meters"


def meter_state_beside(store: Store) -> StateStore | None:
    """The fleet meters' non-volatile memory in a SQLite file beside ``store`` (None for a
    store in memory: the fleet then keeps it in memory too). WAL with synchronous NORMAL, as
    the store: a reservation survives the process being killed."""
    if store.path == MEMORY:
        return None
    db = sqlite3.connect(f"{store.path}{METER_STATE_SUFFIX}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return SqliteStateStore(db)


def stored_plan(store: Store) -> FleetPlan:
    """The plan of the run kept in ``store`` (ValueError when it holds none)."""
    saved = store.run_info().get("plan")
    if not isinstance(saved, dict):
        raise ValueError(f"{store.path} holds no fleet run to resume")
    fields = dict(saved)
    fields["start"] = datetime.fromisoformat(str(fields["start"]))
    return FleetPlan(**fields)


def plan_record(plan: FleetPlan) -> dict[str, object]:
    """The plan as the store keeps it (JSON-ready; :func:`stored_plan` reads it back)."""
    fields = dataclasses.asdict(plan)
    fields["start"] = plan.start.isoformat()
    return fields


def run_files(db: Path) -> tuple[Path, ...]:
    """The files of a run stored at ``db``: the store, its WAL files, the meters' state."""
    meters = Path(f"{db}{METER_STATE_SUFFIX}")
    return tuple(
        Path(f"{base}{suffix}") for base in (db, meters) for suffix in ("", "-wal", "-shm")
    )


@dataclass(slots=True)
class FleetRun:
    """What a run leaves: the fleet (the meters' own records), the collector and its store."""

    plan: FleetPlan
    fleet: Fleet
    collector: Collector
    store: Store
    window: tuple[float, float]
    settle_s: float = 0.0
    wall_seconds: float = 0.0
    steps: int = 0

    @property
    def stats(self) -> FleetStats:
        """What the fleet injected and sent (as :attr:`.fleet_workers.WorkerRun.stats`)."""
        return self.fleet.stats


class _Wire:
    """The sockets and the 'everything delivered' wait."""

    def __init__(self) -> None:
        self.activity = 0

    def bump(self) -> None:
        self.activity += 1

    async def quiesce(self) -> None:
        stable = 0
        while stable < _STABLE_ROUNDS:
            before = self.activity
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            stable = stable + 1 if self.activity == before else 0


async def run_fleet(
    plan: FleetPlan,
    store: Store,
    *,
    config: CollectorConfig | None = None,
    settle_s: float = 5400.0,
    step_s: float = 2.0,
    host: str = "127.0.0.1",
    max_speed: float | None = None,
    progress: Callable[[float, FleetRun], None] | None = None,
    progress_every_s: float = 900.0,
    meter_state: StateStore | None = None,
    resume: bool = False,
) -> FleetRun:
    """Simulate ``plan`` and collect it into ``store``; returns when ``settle_s`` after the
    plan's end has passed (time for the last pushes and back-fills).

    ``progress`` is called each ``progress_every_s`` simulated seconds, after a commit.
    ``meter_state``: the meters' non-volatile memory (see :class:`.fleet.Fleet`).
    ``resume``: continue the run kept in ``store`` (same plan) from its last commit."""
    # resumed before its first commit, a run starts again from the beginning
    start = store.state().get(_CLOCK_STATE, plan.t0) if resume else plan.t0
    clock = VirtualClock(start)
    wire = _Wire()
    fleet = Fleet(plan, client_system_title=HEADEND_TITLE, state=meter_state)
    if resume:
        fleet.fast_forward(start)
    collector = Collector([], store, system_title=HEADEND_TITLE, start=start, config=config)
    run = FleetRun(plan, fleet, collector, store, (plan.t0, plan.end), settle_s)
    sockets: list[DatagramSocket] = []

    def to_collector(data: bytes, source: tuple[str, int]) -> None:
        wire.bump()
        collector.receive_datagram(data, source, clock())
        send_from_collector()

    def send_from_collector() -> None:
        for data, destination in collector.datagrams_to_send():
            assert isinstance(destination, tuple)
            headend.send(data, destination)

    def to_meter(index: int) -> Callable[[bytes, tuple[str, int]], None]:
        def receive(data: bytes, source: tuple[str, int]) -> None:
            wire.bump()
            fleet.receive(index, data, source, clock())
            for member_index, out, destination in fleet.datagrams_to_send():
                assert isinstance(destination, tuple)
                sockets[member_index].send(out, destination)

        return receive

    headend = DatagramSocket.open((host, 0), to_collector, receive_buffer=_COLLECTOR_BUFFER)
    try:
        fleet.set_headend(headend.address)
        for member in fleet.members:
            sock = DatagramSocket.open((host, 0), to_meter(member.index))
            sockets.append(sock)
            member.address = sock.address
            collector.add_meter(
                MeterInfo(
                    member.system_title, member.keys, sock.address, member.five_min, member.realtime
                ),
                start,
            )
        store.add_meters((m.system_title, m.five_min, m.realtime) for m in fleet.members)
        if not resume:
            store.set_run(
                t0=plan.t0,
                end=plan.end,
                meters=plan.meters,
                loss=plan.loss,
                outage_s=plan.outage_s,
                outage_windows=fleet.stats.outage_windows,
                plan=plan_record(plan),
            )
        wall0 = time.monotonic()
        final_pass = plan.end + _FINAL_PASS_AFTER_S
        final_done = clock.now >= final_pass
        stop = plan.end + settle_s
        next_progress = clock.now + progress_every_s

        def commit() -> None:
            store.set_state(_CLOCK_STATE, clock.now)
            collector.commit()

        while clock.now < stop:
            due = [d for d in (fleet.next_deadline(), collector.next_deadline()) if d is not None]
            if not final_done:
                due.append(final_pass)
            clock.now = min(stop, max(min([*due, stop]), clock.now + step_s))
            if max_speed:
                lag = (clock.now - plan.t0) / max_speed - (time.monotonic() - wall0)
                if lag > 0:
                    await asyncio.sleep(lag)
            fleet.handle_timeout(clock.now)
            outgoing = fleet.datagrams_to_send()
            for k in range(0, len(outgoing), _CHUNK):
                for member_index, data, destination in outgoing[k : k + _CHUNK]:
                    assert isinstance(destination, tuple)
                    sockets[member_index].send(data, destination)
                await wire.quiesce()
                collector.commit()  # the batch received is on disk before anything else
            if not final_done and clock.now >= final_pass:
                final_done = True
                collector.confirm_all(plan.end, clock.now)
            collector.handle_timeout(clock.now)
            send_from_collector()
            await wire.quiesce()
            commit()
            run.steps += 1
            if progress is not None and clock.now >= next_progress:
                next_progress = clock.now + progress_every_s
                progress(clock.now, run)
        commit()
        run.wall_seconds = time.monotonic() - wall0
    finally:
        for sock in sockets:
            sock.close()
        headend.close()
    return run
