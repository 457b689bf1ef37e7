"""A fleet split over worker processes, all pushing to one collector over real UDP.

Worker ``k`` of ``n`` runs the meters whose index is ``k`` modulo ``n``
(:class:`.fleet.Fleet` with ``shard=(k, n)``) in its own process and event loop; the runner
(:func:`run_fleet_workers`, in the collector's process) moves the virtual clock. Each step:
the runner sends the step time to every worker over its control pipe, the workers run their
meters up to it and hand their datagrams to the kernel in chunks the runner paces (so the
collector's receive buffer never overflows; the first chunk goes while the meters still run,
so the collector reads it meanwhile), the collector reads them, its timers fire, its
requests go out, and the runner polls the workers' datagram counts until every datagram
sent has been read and answered (no datagram in flight), then commits and moves on.

Addresses: over IPv4 loopback every meter has its own address ``127.a.b.c`` (from its index)
on its worker's port, as a meter on a real network has its own; a meter's socket is opened
only while the head end talks to it (opened before the first request reaches it, closed
after ``socket_cap`` more recent ones, at a quiet point), so 100 000 meters need neither
100 000 file descriptors nor their memory. Pushes leave from the worker's own socket (the
head end finds a push's meter by its system title, never by its address). Another host
(``::1``) gives each meter its own socket on a kernel-chosen port, opened at the start.

Determinism: what each meter measures, pushes and loses is a function of the plan alone
(seeded per meter, whatever the split: :mod:`.fleet`). With several workers the order in
which the collector reads the datagrams of one step from different workers is not fixed,
so which meters win a back-fill session slot in a step, and therefore the simulated time a
back-filled value is stored at, may differ between runs; the values stored do not.

^C: the workers ignore SIGINT; the runner stops them (control pipe closed: each closes its
sockets and exits), joins them, and the interrupt goes on to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import multiprocessing
import signal
import sqlite3
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Final

from ..hes.collector import Collector, CollectorConfig, MeterInfo
from ..hes.storage import Store
from ..security_state import SqliteStateStore, StateStore
from ..transport.datagram import DatagramSocket
from .clock import VirtualClock
from .fleet import Fleet, FleetPlan, FleetStats, roster
from .fleet_run import plan_record

__all__ = [
    "WorkerFailed",
    "WorkerRun",
    "meter_address",
    "open_meter_state",
    "prepare_meter_state",
    "run_fleet_workers",
]

#: Datagrams a worker sends before the collector drains them (far below its receive buffer).
_CHUNK: Final = 256
#: Datagrams a worker's step gathers before it hands them to the kernel while its meters
#: still run (fewer wake-ups of the collector's process than one at a time).
_EARLY_GROUP: Final = 8
_COLLECTOR_BUFFER: Final = 4 << 20
#: Meter sockets a worker keeps open at most (the rest are opened again when needed).
SOCKET_CAP: Final = 2048
#: First meter address over IPv4 loopback (127.1.0.0 + index; 127.0.0.0/8 is all loopback,
#: RFC 1122 3.2.1.3).
_FIRST_METER_V4: Final = int(ipaddress.IPv4Address("127.1.0.0"))
_MAX_METERS_V4: Final = (1 << 24) - (1 << 16) - 2
_FINAL_PASS_AFTER_S: Final = 1800.0
_CLOCK_STATE: Final = "runner:clock"
_STABLE_POLLS: Final = 2
#: How often a runner waiting for a worker looks whether it is still alive (a hang guard).
_WORKER_SILENCE_S: Final = 5.0


def meter_address(index: int, port: int) -> tuple[str, int]:
    """The IPv4 loopback address of meter ``index`` on its worker's ``port``."""
    if not 0 <= index < _MAX_METERS_V4:
        raise ValueError(f"no loopback address for meter {index}")
    return (str(ipaddress.IPv4Address(_FIRST_METER_V4 + index)), port)


# ---------------------------------------------------------------------------- worker side
class _Worker:
    """One shard of the fleet on its sockets, driven through the control pipe."""

    def __init__(self, fleet: Fleet, host: str, headend: tuple[str, int]) -> None:
        self.fleet = fleet
        self.host = host
        self.headend = headend
        self.now = 0.0
        self.lazy = host.startswith("127.")
        self.sent = 0
        self.received = 0
        self.outbox: list[tuple[int, bytes, tuple[str, int]]] = []
        self._budget = 0  # datagrams the running step may still send (see step)
        self.sockets: dict[int, DatagramSocket] = {}
        self.push_socket = DatagramSocket.open((host, 0), self._unexpected)
        self.port = self.push_socket.address[1]
        if not self.lazy:
            for member in fleet.members:
                self.open(member.index)

    def _unexpected(self, data: bytes, source: tuple[str, int]) -> None:
        self.received += 1  # nothing is sent to the push socket; counted, dropped

    def open(self, index: int) -> None:
        if index in self.sockets:
            return
        local = meter_address(index, self.port) if self.lazy else (self.host, 0)
        sock = DatagramSocket.open(local, self._receiver(index))
        self.sockets[index] = sock
        self.fleet.members[self.fleet.position[index]].address = sock.address

    def _receiver(self, index: int) -> Callable[[bytes, tuple[str, int]], None]:
        def receive(data: bytes, source: tuple[str, int]) -> None:
            self.received += 1
            self.fleet.receive(index, data, source, self.now)
            self.queue()
            self.flush(len(self.outbox))  # answers go at once (the head end waits for them)

        return receive

    def addresses(self) -> dict[int, tuple[str, int]]:
        if self.lazy:
            return {m.index: meter_address(m.index, self.port) for m in self.fleet.members}
        return {i: s.address for i, s in self.sockets.items()}

    def queue(self) -> None:
        for index, data, destination in self.fleet.datagrams_to_send():
            assert isinstance(destination, tuple)
            self.outbox.append((index, data, destination))

    def flush(self, limit: int) -> int:
        out, self.outbox = self.outbox[:limit], self.outbox[limit:]
        for index, data, destination in out:
            sock = self.sockets.get(index, self.push_socket)
            sock.send(data, destination)
            self.sent += 1
        return len(self.outbox)

    def step(self, now: float, limit: int) -> tuple[float | None, int]:
        """Run the meters up to ``now``: (next deadline, datagrams left in the outbox).

        Up to ``limit`` datagrams go to the kernel while the meters still run, in groups of
        :data:`_EARLY_GROUP`, so the collector reads them while this process works (the
        two overlap on a multi-core machine); the rest wait for the runner's 'send'. The
        order of the datagrams is the order the meters made them, as when all are sent
        after the step."""
        self.now = now
        self._budget = limit
        self.fleet.handle_timeout(now, on_queued=self._send_early)
        self.queue()
        left = self.flush(self._budget)
        return self.fleet.next_deadline(), left

    def _send_early(self) -> None:
        """The datagrams queued so far, once a group is ready, while the budget lasts."""
        if self._budget <= 0:
            return
        self.queue()
        if len(self.outbox) >= _EARLY_GROUP:
            count = min(self._budget, len(self.outbox))
            self.flush(count)
            self._budget -= count

    def close_sockets(self, indices: list[int]) -> None:
        for index in indices:
            sock = self.sockets.pop(index, None)
            if sock is not None:
                sock.close()

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        self.sockets.clear()
        self.push_socket.close()


def prepare_meter_state(path: str | None) -> None:
    """Put the meters' state database in WAL mode with its table, before any worker opens it.

    Two processes making a new database WAL at once can deadlock on the lock upgrade, and
    SQLite then answers one of them "database is locked" at once, whatever its busy
    timeout (seen about once in 50 first opens by two processes). Once the file is WAL and
    its table exists, a worker's open only reads, and its writes wait in the busy handler.
    """
    if path is None:
        return
    db = sqlite3.connect(path, timeout=60.0)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        SqliteStateStore(db)
    finally:
        db.close()


def open_meter_state(path: str | None) -> StateStore | None:
    """A worker's connection to the state database the runner prepared."""
    if path is None:
        return None
    db = sqlite3.connect(path, timeout=60.0)
    db.execute("PRAGMA synchronous=NORMAL")
    return SqliteStateStore(db)


def _worker_main(
    conn: Connection,
    plan: FleetPlan,
    shard: tuple[int, int],
    host: str,
    headend: tuple[str, int],
    client_title: bytes,
    state_path: str | None,
    resume_at: float | None,
) -> None:
    """A worker process: build the shard, then serve the runner's commands until 'stop'.

    A failure goes to the runner as one ``("failed", text)`` reply, which it raises as
    :class:`WorkerFailed`; the worker exits 1 without a traceback of its own.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the runner stops the workers on ^C
    try:
        asyncio.run(_serve(conn, plan, shard, host, headend, client_title, state_path, resume_at))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return  # the runner is gone: nobody to tell
    except Exception as exc:  # any failure: reported to the runner, which decides
        with contextlib.suppress(OSError):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        sys.exit(1)


async def _serve(
    conn: Connection,
    plan: FleetPlan,
    shard: tuple[int, int],
    host: str,
    headend: tuple[str, int],
    client_title: bytes,
    state_path: str | None,
    resume_at: float | None,
) -> None:
    fleet = Fleet(
        plan,
        client_system_title=client_title,
        headend=headend,
        state=open_meter_state(state_path),
        shard=shard,
    )
    if resume_at is not None:
        fleet.fast_forward(resume_at)
    worker = _Worker(fleet, host, headend)
    loop = asyncio.get_running_loop()
    commands: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            while conn.poll():
                commands.put_nowait(conn.recv())
        except (EOFError, OSError):
            commands.put_nowait(("stop",))

    loop.add_reader(conn.fileno(), readable)
    try:
        conn.send(("ready", worker.addresses(), fleet.next_deadline()))
        while True:
            command = await commands.get()
            match command:
                case ("step", now, limit):
                    deadline, left = worker.step(now, limit)
                    conn.send(("stepped", deadline, left, worker.sent))
                case ("send", limit):
                    conn.send(("sent", worker.flush(limit), worker.sent))
                case ("status",):
                    conn.send(("status", worker.sent, worker.received, len(worker.outbox)))
                case ("open", indices, closing):
                    worker.close_sockets(closing)
                    for index in indices:
                        worker.open(index)
                    conn.send(("opened",))
                case ("stop",):
                    conn.send(("stats", fleet.stats))
                    return
    finally:
        loop.remove_reader(conn.fileno())
        worker.close()


# ---------------------------------------------------------------------------- runner side
class WorkerFailed(OSError):
    """A worker process failed or ended before the run did (its reason in one line)."""


@dataclass(slots=True)
class WorkerRun:
    """What a run on worker processes leaves: the plan, the collector, the fleet's stats
    (added up over the workers) and its figures."""

    plan: FleetPlan
    collector: Collector
    store: Store
    window: tuple[float, float]
    workers: int
    stats: FleetStats = field(default_factory=FleetStats)
    settle_s: float = 0.0
    wall_seconds: float = 0.0
    steps: int = 0


class _Handle:
    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.sent = 0  # datagrams the worker handed to the kernel
        self.to_worker = 0  # datagrams the head end sent to its meters
        self.answered = 0  # of those, read by the worker (at the last status)
        self.deadline: float | None = None
        self.open: OrderedDict[int, None] = OrderedDict()

    def ask(self, *command: object) -> Any:
        self.conn.send(command)
        return self.conn.recv()


def _merge(into: FleetStats, part: FleetStats) -> None:
    into.datagrams_sent += part.datagrams_sent
    into.lost_outbound += part.lost_outbound
    into.lost_inbound += part.lost_inbound
    into.outages_injected += part.outages_injected
    into.restorations += part.restorations
    into.reboots_injected += part.reboots_injected
    into.pushes_dropped_by_faults += part.pushes_dropped_by_faults
    for kind, count in part.hostile_sent.items():
        into.hostile_sent[kind] = into.hostile_sent.get(kind, 0) + count
    if not into.outage_windows:
        into.outage_windows.extend(part.outage_windows)


async def run_fleet_workers(
    plan: FleetPlan,
    store: Store,
    *,
    workers: int,
    headend_title: bytes,
    config: CollectorConfig | None = None,
    settle_s: float = 5400.0,
    step_s: float = 2.0,
    host: str = "127.0.0.1",
    max_speed: float | None = None,
    progress: Callable[[float, WorkerRun], None] | None = None,
    progress_every_s: float = 900.0,
    meter_state_path: str | None = None,
    resume: bool = False,
    socket_cap: int = SOCKET_CAP,
) -> WorkerRun:
    """Simulate ``plan`` on ``workers`` processes and collect it into ``store`` (the same
    steps, commits and confirmation pass as :func:`.fleet_run.run_fleet`)."""
    if workers < 1:
        raise ValueError("at least one worker process")
    start = store.state().get(_CLOCK_STATE, plan.t0) if resume else plan.t0
    clock = VirtualClock(start)
    collector = Collector([], store, system_title=headend_title, start=start, config=config)
    run = WorkerRun(plan, collector, store, (plan.t0, plan.end), workers, settle_s=settle_s)
    prepare_meter_state(meter_state_path)
    context = multiprocessing.get_context("spawn")
    handles: list[_Handle] = []
    owner: dict[tuple[str, int], tuple[_Handle, int]] = {}
    state = {"received": 0}

    deferred: list[tuple[bytes, Any]] = []  # for meters whose socket is not open yet
    arrived = asyncio.Event()

    def to_collector(data: bytes, source: tuple[str, int]) -> None:
        state["received"] += 1
        arrived.set()
        collector.receive_datagram(data, source, clock())
        for out, destination in collector.datagrams_to_send():
            assert isinstance(destination, tuple)
            handle, index = owner[destination]
            if lazy and index not in handle.open:
                deferred.append((out, destination))
                continue
            handle.to_worker += 1
            headend.send(out, destination)

    lazy = host.startswith("127.")
    headend = DatagramSocket.open(
        (host, 0), to_collector, receive_buffer=_COLLECTOR_BUFFER, batch=1024
    )
    try:
        for k in range(workers):
            parent, child = context.Pipe()
            process = context.Process(
                target=_worker_main,
                name=f"fleet-worker-{k}",
                daemon=True,
                args=(
                    child,
                    plan,
                    (k, workers),
                    host,
                    headend.address,
                    headend_title,
                    meter_state_path,
                    start if resume else None,
                ),
            )
            process.start()
            child.close()
            handles.append(_Handle(process, parent))
        for handle in handles:
            _, addresses, deadline = await _reply(handle)
            handle.deadline = deadline
            for index, address in addresses.items():
                owner[tuple(address)] = (handle, index)
        by_index = {index: address for address, (_, index) in owner.items()}
        for entry in roster(plan):
            collector.add_meter(
                MeterInfo(
                    entry.system_title,
                    entry.keys,
                    by_index[entry.index],
                    entry.five_min,
                    entry.realtime,
                ),
                start,
            )
        store.add_meters((e.system_title, e.five_min, e.realtime) for e in roster(plan))
        if not resume:
            windows = [plan.outage_window] if plan.outage_window else []
            store.set_run(
                t0=plan.t0,
                end=plan.end,
                meters=plan.meters,
                loss=plan.loss,
                outage_s=plan.outage_s,
                outage_windows=windows,
                plan=plan_record(plan),
                workers=workers,
            )

        async def received_all() -> None:
            """Until the collector has read every datagram the workers handed the kernel."""
            while state["received"] < sum(h.sent for h in handles):
                arrived.clear()
                await arrived.wait()

        async def quiet() -> None:
            """Until every datagram sent has been read (and answered) everywhere."""
            stable = 0
            last: tuple[int, ...] = ()
            while stable < _STABLE_POLLS and not deferred:
                await asyncio.sleep(0)
                counts = [state["received"]]
                busy = False
                for handle in handles:
                    _, sent, received, pending = await _ask(handle, "status")
                    handle.sent = sent
                    handle.answered = received
                    counts += [sent, received]
                    busy |= received < handle.to_worker or pending > 0
                busy |= state["received"] < sum(h.sent for h in handles)
                snapshot = tuple(counts)
                stable = stable + 1 if not busy and snapshot == last else 0
                last = snapshot
                await asyncio.sleep(0)

        async def drain_workers(left: dict[_Handle, int]) -> None:
            """The workers' queued datagrams, a chunk each at a time, read by the collector."""
            await received_all()
            collector.commit()  # the batch received is on disk before anything else
            pending = [h for h, n in left.items() if n]
            while pending:
                for handle in pending:
                    handle.conn.send(("send", _CHUNK))
                still = []
                for handle in pending:
                    _, more, sent = await _reply(handle)
                    handle.sent = sent
                    if more:
                        still.append(handle)
                await received_all()
                collector.commit()
                pending = still

        async def send_from_collector() -> None:
            out = [*deferred, *collector.datagrams_to_send()]
            deferred.clear()
            if lazy:
                opening: dict[_Handle, list[int]] = {}
                for _, destination in out:
                    assert isinstance(destination, tuple)
                    handle, index = owner[destination]
                    if index in handle.open:
                        handle.open.move_to_end(index)
                    else:
                        handle.open[index] = None
                        opening.setdefault(handle, []).append(index)
                for handle, indices in opening.items():
                    await _ask(handle, "open", indices, [])
            for data, destination in out:
                assert isinstance(destination, tuple)
                handle, _ = owner[destination]
                handle.to_worker += 1
                headend.send(data, destination)

        async def trim_sockets() -> None:
            for handle in handles:
                if len(handle.open) > socket_cap:
                    closing = [
                        handle.open.popitem(last=False)[0]
                        for _ in range(len(handle.open) - socket_cap)
                    ]
                    await _ask(handle, "open", [], closing)

        wall0 = time.monotonic()
        final_pass = plan.end + _FINAL_PASS_AFTER_S
        final_done = clock.now >= final_pass
        stop = plan.end + settle_s
        next_progress = clock.now + progress_every_s
        while clock.now < stop:
            due = [
                d
                for d in (*(h.deadline for h in handles), collector.next_deadline())
                if d is not None
            ]
            if not final_done:
                due.append(final_pass)
            clock.now = min(stop, max(min([*due, stop]), clock.now + step_s))
            if max_speed:
                lag = (clock.now - plan.t0) / max_speed - (time.monotonic() - wall0)
                if lag > 0:
                    await asyncio.sleep(lag)
            for handle in handles:
                handle.conn.send(("step", clock.now, _CHUNK))
            left: dict[_Handle, int] = {}
            for handle in handles:
                _, handle.deadline, left[handle], handle.sent = await _reply(handle)
            await drain_workers(left)
            if not final_done and clock.now >= final_pass:
                final_done = True
                collector.confirm_all(plan.end, clock.now)
            collector.handle_timeout(clock.now)
            requested = sum(h.to_worker for h in handles)
            await send_from_collector()
            if (
                deferred
                or sum(h.to_worker for h in handles) != requested
                or any(h.to_worker != h.answered for h in handles)
            ):
                await quiet()  # requests went out: wait for every answer (and what follows)
            while deferred:  # answers that led to requests for meters not yet open
                await send_from_collector()
                await quiet()
            await trim_sockets()
            store.set_state(_CLOCK_STATE, clock.now)
            collector.commit()
            run.steps += 1
            if progress is not None and clock.now >= next_progress:
                next_progress = clock.now + progress_every_s
                progress(clock.now, run)
        store.set_state(_CLOCK_STATE, clock.now)
        collector.commit()
        run.wall_seconds = time.monotonic() - wall0
        for handle in handles:
            _, stats = await _ask(handle, "stop")
            _merge(run.stats, stats)
    finally:
        headend.close()
        for handle in handles:
            with contextlib.suppress(OSError):
                handle.conn.close()
        for handle in handles:
            handle.process.join(timeout=30)
            if handle.process.is_alive():
                handle.process.kill()
                handle.process.join()
    return run


async def _reply(handle: _Handle) -> Any:
    """The worker's next reply; the loop (and the collector's socket) runs meanwhile."""
    if not handle.conn.poll():
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = handle.conn.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            while not ready.done():
                try:
                    await asyncio.wait_for(asyncio.shield(ready), _WORKER_SILENCE_S)
                except TimeoutError:
                    if not handle.process.is_alive():
                        raise WorkerFailed(
                            f"{handle.process.name} ended (exit code {handle.process.exitcode})"
                        ) from None
        finally:
            loop.remove_reader(fd)
    try:
        reply = handle.conn.recv()
    except (EOFError, OSError):
        handle.process.join(timeout=_WORKER_SILENCE_S)
        raise WorkerFailed(
            f"{handle.process.name} ended (exit code {handle.process.exitcode})"
        ) from None
    if reply[0] == "failed":
        raise WorkerFailed(f"{handle.process.name} failed: {reply[1]}")
    return reply


async def _ask(handle: _Handle, *command: object) -> Any:
    handle.conn.send(command)
    return await _reply(handle)
