"""A fleet of simulated A-route meters with fault injection (sans-IO; the runner adds sockets).

Each member is a :class:`~smartmeter_proto.sim.ameter.SimulatedAMeter` behind its own
:class:`~smartmeter_proto.aroute.udp_endpoints.MeterEndpoint` (association server, pushes to
the head end), with its own system title, keys and invocation counters. Time is the
caller's simulated POSIX time: the fleet asks for it through :meth:`Fleet.next_deadline`
and runs its meters in :meth:`Fleet.handle_timeout`, so one event loop can run thousands of
meters as fast as the machine allows (a simulated day in minutes).

Meter classes follow the next-generation service levels (``/work/shared/notes``,
METI/ANRE next-generation smart meter requirements): every meter pushes its 30-minute
values; ``five_min_share`` of the meters keep a 5-minute profile the head end collects;
``realtime_share`` of all meters (a subset of those) also push each 5-minute value.

Faults, all seeded and reproducible:

* ``loss``: each datagram, in either direction, is lost with that probability (drawn from a
  hash of the seed, the meter and its own datagram count, so a meter's losses do not depend
  on the other meters, nor on how the fleet is split over processes);
* a whole-area outage: ``outage_s`` long from ``outage_at_s``, hitting area 0 of ``areas``
  (every meter sends its Last Gasp, nothing else until restoration);
* ``drifting`` meters whose clock runs ``drift_ppm`` fast;
* ``reboots`` meters restarting once at a seeded time (association and queued pushes lost);
* ``hostile`` datagrams of each kind, sent from a meter's address at seeded times (never
  lost): a replay of the meter's last push, a forged push (fresh invocation counter, content
  not authentic), garbage bytes, and a push under a system title nobody provisioned.

A fleet may hold one shard of the plan (``shard=(k, n)``: the meters whose index is ``k``
modulo ``n``), so several processes run one plan between them (:mod:`.fleet_workers`);
:func:`roster` gives every meter's identity and class without building any meter.

Keys are derived from ``seed`` and the meter index (simulation keys, never printed); each
meter also has a master key (KEK), so the head end can re-key it (global_key_transfer).

Non-volatile memory: the meters' invocation counters (one per meter and key) and their
replay floors for the head end's requests live in ``state``, a
:class:`~smartmeter_proto.security_state.StateStore` (memory unless the caller gives a
durable one). Everything else a meter holds (profiles, power event log, registers) is a
function of the plan and time: the seeded load curve, the seeded fault schedule. A fleet
resumed after its process was killed (:meth:`Fleet.fast_forward`) therefore runs its
meters again up to the resume time off the network and gets the same measurements, while
its counters come from ``state`` and skip every value used before (no GCM IV repeats; the
head end does not refuse the resumed meters' pushes as replayed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import math
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from ..aroute.keys import replay_counters
from ..aroute.profile import Catalogue, load_catalogue
from ..aroute.udp_endpoints import MeterEndpoint
from ..hes.push import MeterKeys, posix_of
from ..security_state import MemoryStateStore, StateStore
from .ameter import SimulatedAMeter
from .load_curve import LoadCurve, mix64

__all__ = ["Fleet", "FleetMember", "FleetPlan", "FleetStats", "RosterEntry", "roster"]

#: FLAG-style manufacturer prefix of the simulated fleet's system titles (3 bytes + 5).
_MANUFACTURER: Final = b"SMP"
_SERIAL_BYTES: Final = 5
_HOUR: Final = 3600.0
#: Energy the fleet's meters have counted before the run starts (from this far back).
_HISTORY_S: Final = 86_400.0
_HOSTILE: Final = ("replayed", "forged", "garbage", "unknown_meter")
_LOSS_SCALE: Final = float(1 << 64)
#: Labels of the two loss streams in :func:`mix64` (outbound, inbound).
_OUT, _IN = 1, 2


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """What to simulate. Shares are fractions of the fleet; times are seconds."""

    meters: int
    start: datetime
    hours: float
    loss: float = 0.0
    outage_s: float = 0.0
    outage_at_s: float | None = None  # default: a third of the run, on a whole minute
    areas: int = 10
    five_min_share: float = 0.10
    realtime_share: float = 0.03
    drifting: int = 0
    drift_ppm: float = 1000.0
    reboots: int = 0
    hostile: int = 0  # of each kind: replayed, forged, garbage, unknown-meter pushes
    seed: int = 1

    def __post_init__(self) -> None:
        if self.meters < 1:
            raise ValueError("a fleet needs at least one meter")
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError("loss must be in [0, 1)")
        if self.hours <= 0 or self.outage_s < 0 or self.areas < 1:
            raise ValueError("hours must be positive, outage_s >= 0, areas >= 1")
        if not 0.0 <= self.realtime_share <= self.five_min_share <= 1.0:
            raise ValueError("need 0 <= realtime_share <= five_min_share <= 1")

    @property
    def t0(self) -> float:
        return self.start.timestamp()

    @property
    def end(self) -> float:
        return self.t0 + self.hours * _HOUR

    @property
    def outage_window(self) -> tuple[float, float] | None:
        if self.outage_s <= 0:
            return None
        at = self.outage_at_s
        if at is None:
            at = math.floor(self.hours * _HOUR / 3 / 60) * 60 + 7  # off the period boundaries
        return (self.t0 + at, self.t0 + at + self.outage_s)


@dataclass(slots=True)
class FleetMember:
    index: int
    system_title: bytes
    keys: MeterKeys
    endpoint: MeterEndpoint
    area: int
    five_min: bool
    realtime: bool
    drift: float = 0.0  # clock rate error (1e-3 = 1000 ppm fast)
    address: Hashable = None
    #: datagrams this meter put to the loss draw so far (the draw's own counter)
    draws: int = 0

    @property
    def meter(self) -> SimulatedAMeter:
        meter = self.endpoint.meter
        assert isinstance(meter, SimulatedAMeter)  # the fleet builds only these
        return meter


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """A meter of the plan as the head end is provisioned with it (no meter built)."""

    index: int
    system_title: bytes
    keys: MeterKeys
    area: int
    five_min: bool
    realtime: bool
    drift: float


def roster(plan: FleetPlan) -> list[RosterEntry]:
    """Every meter of ``plan``: title, keys (simulation keys, never shown), area, class."""
    order = random.Random(plan.seed).sample(range(plan.meters), plan.meters)  # noqa: S311
    five = set(order[: round(plan.meters * plan.five_min_share)])
    real = set(order[: round(plan.meters * plan.realtime_share)])
    drifting = set(order[-plan.drifting :]) if plan.drifting else set()
    return [
        RosterEntry(
            i,
            _MANUFACTURER + i.to_bytes(_SERIAL_BYTES, "big"),
            MeterKeys(
                _key(plan.seed, i, "ek"), _key(plan.seed, i, "ak"), _key(plan.seed, i, "kek")
            ),
            i % plan.areas,
            i in five,
            i in real,
            plan.drift_ppm * 1e-6 if i in drifting else 0.0,
        )
        for i in range(plan.meters)
    ]


@dataclass(slots=True)
class FleetStats:
    """What the fleet injected and put on the wire (ground truth of the faults)."""

    datagrams_sent: int = 0
    lost_outbound: int = 0
    lost_inbound: int = 0
    outages_injected: int = 0
    restorations: int = 0
    reboots_injected: int = 0
    pushes_dropped_by_faults: int = 0
    hostile_sent: dict[str, int] = field(default_factory=dict)
    outage_windows: list[tuple[float, float]] = field(default_factory=list)


def _key(seed: int, index: int, label: str) -> bytes:
    return hashlib.sha256(f"smartmeter-proto fleet/{seed}/{index}/{label}".encode()).digest()[:16]


def _lean(catalogue: Catalogue, keep_5min: bool) -> Catalogue:
    """The catalogue without the 1-minute profile (and the 5-minute one unless kept)."""
    drop = {"load_profile_1min"} | (set() if keep_5min else {"load_profile_5min"})
    return dataclasses.replace(
        catalogue, objects=tuple(o for o in catalogue.objects if o.name not in drop)
    )


class Fleet:
    """N meters, their schedule and the faults; datagrams in and out through the caller.

    ``state`` is the meters' non-volatile memory (counters and replay floors, see the
    module text); a fresh :class:`~smartmeter_proto.security_state.MemoryStateStore` when
    not given (a fleet that lives as long as its process)."""

    def __init__(
        self,
        plan: FleetPlan,
        *,
        client_system_title: bytes,
        headend: Hashable = None,
        state: StateStore | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.plan = plan
        self.state: StateStore = MemoryStateStore() if state is None else state
        self.stats = FleetStats()
        self._rng = random.Random(plan.seed * 7_919 + 1)  # noqa: S311 - simulation, not crypto
        part, parts = shard
        if not 0 <= part < parts:
            raise ValueError(f"shard {part} of {parts} does not exist")
        self.shard = shard
        full = load_catalogue()
        catalogues = {True: _lean(full, True), False: _lean(full, False)}
        self.members: list[FleetMember] = []
        for entry in roster(plan)[part::parts]:
            i, title, keys = entry.index, entry.system_title, entry.keys
            meter = SimulatedAMeter(
                start=plan.start,
                system_title=title,
                client_system_title=client_system_title,
                ek=keys.ek,
                ak=keys.ak,
                state=self.state,
                seed=plan.seed * 100_003 + i,
                curve=LoadCurve(seed=plan.seed * 100_003 + i, start=plan.t0 - _HISTORY_S),
                push_5min=entry.realtime,
                catalogue=catalogues[entry.five_min],
                live_registers=False,
            )
            server = meter.association_server(
                client_counters=replay_counters(self.state, title, keys.ek), master_key=keys.kek
            )
            self.members.append(
                FleetMember(
                    i,
                    title,
                    keys,
                    MeterEndpoint(meter, server, headend=headend),
                    area=entry.area,
                    five_min=entry.five_min,
                    realtime=entry.realtime,
                    drift=entry.drift,
                )
            )
        #: member index -> position in :attr:`members`
        self.position = {m.index: p for p, m in enumerate(self.members)}
        self.by_title = {m.system_title: m for m in self.members}
        self._heap: list[tuple[float, int]] = []
        self._due: dict[int, float] = {}
        self._faults: list[tuple[float, int, str, int]] = []  # (time, seq, kind, member/area)
        self._plan_faults()
        self._out: list[tuple[int, bytes, Hashable]] = []
        self._last_push: dict[int, bytes] = {}
        for member in self.members:
            self._reschedule(member)

    def fast_forward(self, until: float) -> int:
        """Run every meter and fault up to ``until`` with nothing on the network (what a
        resumed fleet does to rebuild its meters, see the module text); the datagrams are
        discarded. Returns how many."""
        discarded = 0
        while (due := self.next_deadline()) is not None and due <= until:
            self.handle_timeout(due)
            discarded += len(self.datagrams_to_send())
        self._last_push.clear()  # a hostile replay imitates only what went on the wire
        return discarded

    # ------------------------------------------------------------------ schedule
    def _plan_faults(self) -> None:
        window = self.plan.outage_window
        seq = 0
        if window is not None:
            self._faults.append((window[0], seq, "outage", 0))
            self._faults.append((window[1], seq + 1, "restore", 0))
            self.stats.outage_windows.append(window)
            seq += 2
        candidates = self._rng.sample(
            range(self.plan.meters), min(self.plan.reboots, self.plan.meters)
        )
        for index in candidates:
            at = self.plan.t0 + self._rng.uniform(0.1, 0.9) * self.plan.hours * _HOUR
            self._faults.append((round(at), seq, "reboot", index))
            seq += 1
        for kind in _HOSTILE:
            for _ in range(self.plan.hostile):
                at = self.plan.t0 + self._rng.uniform(0.05, 0.95) * self.plan.hours * _HOUR
                self._faults.append((round(at), seq, kind, self._rng.randrange(self.plan.meters)))
                seq += 1
        # every shard draws the whole schedule (the same for any split), keeps its own part
        self._faults = [
            f for f in self._faults if f[2] in ("outage", "restore") or f[3] in self.position
        ]
        heapq.heapify(self._faults)

    def meter_time(self, member: FleetMember, now: float) -> float:
        """The member's own clock at simulated time ``now``."""
        return now + (now - self.plan.t0) * member.drift

    def _true_time(self, member: FleetMember, meter_t: float) -> float:
        return self.plan.t0 + (meter_t - self.plan.t0) / (1.0 + member.drift)

    def _reschedule(self, member: FleetMember) -> None:
        due = member.endpoint.next_deadline()
        if due is None:
            self._due.pop(self.position[member.index], None)
            return
        t = self._true_time(member, due)
        at = self.position[member.index]
        if self._due.get(at) != t:
            self._due[at] = t
            heapq.heappush(self._heap, (t, at))

    def next_deadline(self) -> float | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale entry
        times = [self._heap[0][0]] if self._heap else []
        if self._faults:
            times.append(self._faults[0][0])
        return min(times) if times else None

    # ------------------------------------------------------------------ running
    def handle_timeout(self, now: float, *, on_queued: Callable[[], object] | None = None) -> None:
        """Run every fault and meter due at ``now``. ``on_queued`` is called after each
        meter run (and after the faults), so a caller may take the datagrams queued so far
        (:meth:`datagrams_to_send`) while the rest still run; they keep their order."""
        while self._faults and self._faults[0][0] <= now:
            at, _, kind, which = heapq.heappop(self._faults)
            self._fault(kind, which, at)
        if on_queued is not None:
            on_queued()
        while self._heap and self._heap[0][0] <= now:
            t, at = heapq.heappop(self._heap)
            if self._due.get(at) != t:
                continue
            del self._due[at]
            member = self.members[at]
            member.endpoint.handle_timeout(self.meter_time(member, max(t, now)))
            self._collect(member)
            if on_queued is not None:
                on_queued()

    def _fault(self, kind: str, which: int, at: float) -> None:
        if kind in _HOSTILE:
            self._hostile(kind, self.members[self.position[which]], at)
            return
        if kind == "reboot":
            member = self.members[self.position[which]]
            if member.meter.powered:
                before = member.meter.dropped_pushes
                member.endpoint.reboot(self.meter_time(member, at))
                self.stats.pushes_dropped_by_faults += member.meter.dropped_pushes - before
                self.stats.reboots_injected += 1
                self._collect(member)
            return
        for member in self.members:
            if member.area != which:
                continue
            t = self.meter_time(member, at)
            if kind == "outage" and member.meter.powered:
                before = member.meter.dropped_pushes
                member.endpoint.outage(t)
                self.stats.pushes_dropped_by_faults += member.meter.dropped_pushes - before
                self.stats.outages_injected += 1
            elif kind == "restore" and not member.meter.powered:
                member.endpoint.restore(t)
                self.stats.restorations += 1
            self._collect(member)

    def _hostile(self, kind: str, member: FleetMember, at: float) -> None:
        last = self._last_push.get(member.index)
        if kind == "garbage":
            noise = random.Random(mix64(self.plan.seed, member.index, int(at)))  # noqa: S311
            data = noise.randbytes(noise.randrange(1, 200))
        elif last is None:
            return  # nothing sent yet to imitate
        elif kind == "replayed":
            data = last
        else:
            frame = bytearray(last)
            # wrapper header (8) + general-glo-ciphering tag and title length (2) + title (8)
            if kind == "unknown_meter":
                frame[10:18] = b"XXX" + bytes(5)
            else:  # forged: a fresh counter on content the meter's keys never sealed
                counter_at = frame.index(0x30, 18) + 1  # SC 0x30 precedes the counter
                fresh = int.from_bytes(frame[counter_at : counter_at + 4], "big") + 1_000
                frame[counter_at : counter_at + 4] = (fresh & 0xFFFFFFFF).to_bytes(4, "big")
            data = bytes(frame)
        self._out.append((member.index, data, member.endpoint.headend))
        self.stats.hostile_sent[kind] = self.stats.hostile_sent.get(kind, 0) + 1

    def _collect(self, member: FleetMember) -> None:
        for data, destination in member.endpoint.datagrams_to_send():
            if destination == member.endpoint.headend and data[8:9] == b"\xdb":
                self._last_push[member.index] = data
            if self._lost(member, _OUT):
                self.stats.lost_outbound += 1
                continue
            self._out.append((member.index, data, destination))
            self.stats.datagrams_sent += 1
        self._reschedule(member)

    def _lost(self, member: FleetMember, direction: int) -> bool:
        """The loss draw of the member's next datagram (seeded, per meter: module text)."""
        if not self.plan.loss:
            return False
        member.draws += 1
        draw = mix64(self.plan.seed, member.index, direction, member.draws) / _LOSS_SCALE
        return draw < self.plan.loss

    def receive(self, index: int, data: bytes, source: Hashable, now: float) -> None:
        """A datagram for member ``index`` (subject to the injected loss)."""
        member = self.members[self.position[index]]
        if self._lost(member, _IN):
            self.stats.lost_inbound += 1
            return
        member.endpoint.receive_datagram(data, source, self.meter_time(member, now))
        self._collect(member)

    def datagrams_to_send(self) -> list[tuple[int, bytes, Hashable]]:
        """(member index, datagram, destination) queued since the last call."""
        out, self._out = self._out, []
        return out

    def measured(self, after: float, until: float) -> dict[tuple[bytes, int, int], tuple[int, ...]]:
        """What the meters captured with capture times in ``(after, until]``, from their own
        profile buffers: (system title, period, capture time) -> register values."""
        out: dict[tuple[bytes, int, int], tuple[int, ...]] = {}
        for member in self.members:
            for profile in member.meter.profiles.values():
                for row in profile.buffer:
                    at = posix_of(row[0])
                    if after < at <= until:
                        out[(member.system_title, profile.capture_period, at)] = tuple(
                            int(d.value) for d in row[1:] if isinstance(d.value, int)
                        )
        return out

    def set_headend(self, address: Hashable) -> None:
        for member in self.members:
            member.endpoint.headend = address


def utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
