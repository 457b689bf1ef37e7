"""The sans-IO reading planner of a HEMS recorder: what to ask the meter next.

It takes ``now`` (POSIX seconds, the meter's time base) and the answers, and
says which request comes next: the energy scale first, then a poll of
0xE7/0xE8/0xD0 every ``poll_interval``, and back-fills of every gap it sees:
1-minute values through 0xEF/0xEE (the meter keeps 60 minutes), 30-minute values
through 0xED/0xEC, or 0xE5/0xE2/0xE4 by day where 0xEC is not served (the meter
keeps 45 days). A value older than the meter keeps is reported
:class:`Unrecoverable`, never invented. Retention: APPENDIX §3.3.25 (0xE2,
0xEC, 0xEE) and the next-generation B-route requirement (1-minute values kept
60 minutes so that a HEMS collects 100 %).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..echonet.energy import EnergyScale
from . import readings as rd
from .readings import BadReading, Instantaneous, IntervalKind, IntervalValue, MeterIdentity

__all__ = [
    "HALF_HOUR_RETENTION_S",
    "MINUTE_RETENTION_S",
    "Collected",
    "PlannerEvent",
    "Polled",
    "Problem",
    "ReadingPlanner",
    "Request",
    "RequestKind",
    "ScaleLearnt",
    "Unrecoverable",
]

#: The meter's stores: 1-minute values 60 minutes, 30-minute values 45 days.
MINUTE_RETENTION_S: Final = 3600
HALF_HOUR_RETENTION_S: Final = 45 * 86400
_MINUTE: Final = 60
_HALF_HOUR: Final = 1800
_DAY: Final = 86400
#: A half-hour is looked for this long after its end (the INF 0xEA comes at the boundary).
_HALF_HOUR_GRACE_S: Final = 300.0
#: Wait after a failed request, and before asking again for values the meter did not have.
FAILURE_BACKOFF_S: Final = 30.0
BACKFILL_RETRY_S: Final = 60.0
#: Slots older than this are held in memory neither as collected nor as missing.
_MINUTE_MEMORY_S: Final = MINUTE_RETENTION_S + 2 * _MINUTE
_RETENTION_REASON: Final = {
    "minute": "meter retention exceeded (1-minute values are kept 60 minutes)",
    "half_hour": "meter retention exceeded (30-minute values are kept 45 days)",
}
_SCALE_EPCS: Final = (0xD3, 0xD7, 0xE1, 0xC0, 0x8A)
_POLL_EPCS: Final = (0xE7, 0xE8, 0xD0)


class RequestKind(enum.Enum):
    SCALE = "scale"
    POLL = "poll"
    MINUTES = "minutes"  # set 0xEF, get 0xEE
    HALF_HOURS = "half_hours"  # set 0xED, get 0xEC
    DAY = "day"  # set 0xE5, get 0xE2 and 0xE4


@dataclass(frozen=True, slots=True)
class Request:
    """Set ``set`` (in order), then get ``get``; ``anchor`` is the slot or midnight asked."""

    kind: RequestKind
    get: tuple[int, ...]
    set: tuple[tuple[int, Any], ...] = ()
    anchor: int = 0
    slots: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Collected:
    values: tuple[IntervalValue, ...]


@dataclass(frozen=True, slots=True)
class Polled:
    reading: Instantaneous


@dataclass(frozen=True, slots=True)
class ScaleLearnt:
    scale: EnergyScale
    identity: MeterIdentity | None


@dataclass(frozen=True, slots=True)
class Unrecoverable:
    kind: IntervalKind
    slots: tuple[int, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Something went wrong and was ridden through: ``kind`` is ``bad_input``,
    ``refused`` or ``failed``."""

    kind: str
    detail: str


PlannerEvent = Collected | Polled | ScaleLearnt | Unrecoverable | Problem


class ReadingPlanner:
    """Plans the readings of one meter from ``start`` on (see the module docstring).

    ``collected_minutes``/``collected_half_hours`` are slots already stored (a
    restarted recorder resumes from its store); gaps since ``start`` are found
    and back-filled as far as the meter still keeps them.
    """

    def __init__(
        self,
        *,
        start: float,
        poll_interval: float,
        scale: EnergyScale | None = None,
        collected_minutes: Iterable[int] = (),
        collected_half_hours: Iterable[int] = (),
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self.poll_interval = poll_interval
        self.scale = scale
        self.identity: MeterIdentity | None = None
        # Slots up to these are already judged (collected or missing).
        self._minute_horizon = math.floor(start / _MINUTE) * _MINUTE
        self._half_horizon = math.floor(start / _HALF_HOUR) * _HALF_HOUR
        self._collected: dict[IntervalKind, set[int]] = {
            "minute": set(collected_minutes),
            "half_hour": set(collected_half_hours),
        }
        self._missing: dict[IntervalKind, set[int]] = {"minute": set(), "half_hour": set()}
        self._backfill_after: dict[IntervalKind, float] = {"minute": 0.0, "half_hour": 0.0}
        self._next_poll = start
        self._retry_at = 0.0
        self._in_flight: Request | None = None
        self._events: list[PlannerEvent] = []
        #: Whether the meter serves 0xEE (1-minute history) and 0xEC (30-minute pairs).
        self.serves_ee = True
        self.serves_ec = True
        #: Counts of problems by kind, requests made.
        self.problems: dict[str, int] = {}
        self.requests = 0

    # ------------------------------------------------------------------ queries
    def missing(self, kind: IntervalKind) -> frozenset[int]:
        return frozenset(self._missing[kind])

    def events(self) -> list[PlannerEvent]:
        """Events produced since the last call (unrecoverable gaps found while planning)."""
        out, self._events = self._events, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`next_request` may have something to ask (None: a request is out)."""
        if self._in_flight is not None:
            return None
        due = self._next_poll
        if self._missing["minute"] or self._missing["half_hour"]:
            due = min(due, max(self._backfill_after.values()))
        return max(due, self._retry_at)

    # ----------------------------------------------------------------- planning
    def next_request(self, now: float) -> Request | None:
        """The request to send now, or None; one request at a time."""
        if self._in_flight is not None:
            return None
        self._judge(now)
        if now < self._retry_at:
            return None
        request = self._choose(now)
        if request is not None:
            self._in_flight = request
            self.requests += 1
        return request

    def _choose(self, now: float) -> Request | None:
        if self.scale is None:
            return Request(RequestKind.SCALE, _SCALE_EPCS)
        if now >= self._next_poll:
            self._next_poll = now + self.poll_interval
            return Request(RequestKind.POLL, _POLL_EPCS)
        minutes = self._missing["minute"]
        if minutes and self.serves_ee and now >= self._backfill_after["minute"]:
            newest = max(minutes)
            span = [s for s in minutes if s > newest - rd.MAX_EE_SEGMENTS * _MINUTE]
            segments = (newest - min(span)) // _MINUTE + 1
            return Request(
                RequestKind.MINUTES,
                (0xEE,),
                ((0xEF, {"timestamp": rd.jst(newest), "segments": segments}),),
                newest,
                tuple(sorted(span)),
            )
        halves = self._missing["half_hour"]
        if halves and now >= self._backfill_after["half_hour"]:
            newest = max(halves)
            if self.serves_ec:
                span = [s for s in halves if s > newest - rd.MAX_EC_SEGMENTS * _HALF_HOUR]
                segments = (newest - min(span)) // _HALF_HOUR + 1
                return Request(
                    RequestKind.HALF_HOURS,
                    (0xEC,),
                    ((0xED, {"timestamp": rd.jst(newest), "segments": segments}),),
                    newest,
                    tuple(sorted(span)),
                )
            midnight = _midnight(newest)
            days_back = (_midnight(now) - midnight) // _DAY
            day_slots = [s for s in halves if midnight <= s < midnight + _DAY]
            return Request(
                RequestKind.DAY, (0xE2, 0xE4), ((0xE5, days_back),), midnight, tuple(day_slots)
            )
        return None

    def _judge(self, now: float) -> None:
        """Expect every slot the meter has closed; move old ones out of reach."""
        latest = math.floor((now - _MINUTE - self.poll_interval) / _MINUTE) * _MINUTE
        self._expect("minute", latest, _MINUTE, now, MINUTE_RETENTION_S)
        latest = math.floor((now - _HALF_HOUR_GRACE_S) / _HALF_HOUR) * _HALF_HOUR
        self._expect("half_hour", latest, _HALF_HOUR, now, HALF_HOUR_RETENTION_S)

    def _expect(
        self, kind: IntervalKind, latest: int, step: int, now: float, retention: float
    ) -> None:
        horizon = self._minute_horizon if kind == "minute" else self._half_horizon
        collected, missing = self._collected[kind], self._missing[kind]
        lost: list[int] = []
        for slot in range(horizon + step, latest + 1, step):
            if slot not in collected:
                if slot < now - retention:
                    lost.append(slot)
                else:
                    missing.add(slot)
        if latest > horizon:
            if kind == "minute":
                self._minute_horizon = latest
            else:
                self._half_horizon = latest
        expired = [slot for slot in missing if slot < now - retention]
        for slot in expired:
            missing.discard(slot)
        lost.extend(expired)
        if lost:
            self._events.append(Unrecoverable(kind, tuple(sorted(lost)), _RETENTION_REASON[kind]))
        memory = _MINUTE_MEMORY_S if kind == "minute" else retention + _DAY
        if len(collected) > 64:
            for slot in [s for s in collected if s < now - memory]:
                collected.discard(slot)

    # ------------------------------------------------------------------ answers
    def handle_response(
        self,
        request: Request,
        values: Mapping[int, Any],
        refused: Iterable[int],
        now: float,
    ) -> list[PlannerEvent]:
        """The meter answered ``request``: ``values`` by EPC, ``refused`` EPCs (SNA)."""
        self._done(request)
        refused = set(refused)
        out: list[PlannerEvent] = []
        try:
            if request.kind is RequestKind.SCALE:
                self.scale = rd.energy_scale(values)
                try:
                    self.identity = rd.identity(values)
                except BadReading as exc:
                    out.append(self._problem("bad_input", str(exc)))
                out.append(ScaleLearnt(self.scale, self.identity))
            elif request.kind is RequestKind.POLL:
                out.extend(self._poll(values, now))
            else:
                out.extend(self._backfilled(request, values, refused, now))
        except BadReading as exc:
            out.append(self._problem("bad_input", str(exc)))
            if request.kind is RequestKind.SCALE:
                self._retry_at = now + FAILURE_BACKOFF_S
            self._hold_backfill(request, now)
        return out

    def handle_failure(self, request: Request, reason: str, now: float) -> list[PlannerEvent]:
        """No answer (timeout, link down, unplugged): wait, then go on."""
        self._done(request)
        self._retry_at = now + FAILURE_BACKOFF_S
        return [self._problem("failed", f"{request.kind.value}: {reason}")]

    def handle_notification(self, values: Mapping[int, Any], now: float) -> list[PlannerEvent]:
        """An INF from the meter: the fixed-time readings 0xEA/0xEB every 30 minutes."""
        found: list[IntervalValue] = []
        try:
            for epc in (0xEA, 0xEB):
                if epc in values:
                    found.extend(rd.fixed_time(epc, values[epc]))
            if 0xD0 in values:
                found.extend(rd.one_minute(values[0xD0]))
        except BadReading as exc:
            return [self._problem("bad_input", str(exc))]
        return self._collect(found)

    # ----------------------------------------------------------------- helpers
    def _done(self, request: Request) -> None:
        if self._in_flight is not request:
            raise ValueError(f"no {request.kind.value} request is out")
        self._in_flight = None

    def _problem(self, kind: str, detail: str) -> Problem:
        self.problems[kind] = self.problems.get(kind, 0) + 1
        return Problem(kind, detail)

    def _hold_backfill(self, request: Request, now: float) -> None:
        if request.kind is RequestKind.MINUTES:
            self._backfill_after["minute"] = now + BACKFILL_RETRY_S
        elif request.kind in (RequestKind.HALF_HOURS, RequestKind.DAY):
            self._backfill_after["half_hour"] = now + BACKFILL_RETRY_S

    def _poll(self, values: Mapping[int, Any], now: float) -> list[PlannerEvent]:
        out: list[PlannerEvent] = []
        power = current = None
        problems: list[str] = []
        try:
            power = rd.power(values[0xE7]) if 0xE7 in values else None
        except BadReading as exc:
            problems.append(str(exc))
        try:
            current = rd.current(values[0xE8]) if 0xE8 in values else None
        except BadReading as exc:
            problems.append(str(exc))
        out.extend(self._problem("bad_input", text) for text in problems)
        if power is not None or current is not None:
            out.append(
                Polled(
                    Instantaneous(
                        now,
                        power.watts if power else None,
                        current.r_phase_a if current else None,
                        current.t_phase_a if current else None,
                    )
                )
            )
        if 0xD0 in values:
            try:
                out.extend(self._collect(rd.one_minute(values[0xD0])))
            except BadReading as exc:
                out.append(self._problem("bad_input", str(exc)))
        return out

    def _backfilled(
        self, request: Request, values: Mapping[int, Any], refused: set[int], now: float
    ) -> list[PlannerEvent]:
        out: list[PlannerEvent] = []
        if request.kind is RequestKind.MINUTES:
            if refused & {0xEE, 0xEF}:
                self.serves_ee = False
                out.append(self._problem("refused", "the meter does not serve 0xEF/0xEE"))
                return out
            found = rd.pairs_history(0xEE, values.get(0xEE), _MINUTE)
        elif request.kind is RequestKind.HALF_HOURS:
            if refused & {0xEC, 0xED}:
                self.serves_ec = False
                out.append(self._problem("refused", "the meter does not serve 0xED/0xEC"))
                return out
            found = rd.pairs_history(0xEC, values.get(0xEC), _HALF_HOUR)
        else:
            if 0xE2 in refused or 0xE5 in refused or 0xE2 not in values:
                out.append(self._problem("refused", "the meter did not give 0xE2"))
                self._hold_backfill(request, now)
                return out
            found = rd.day_history(0xE2, values[0xE2], request.anchor)
            if 0xE4 in values:
                found.extend(rd.day_history(0xE4, values[0xE4], request.anchor))
        out.extend(self._collect(found))
        kind: IntervalKind = "minute" if request.kind is RequestKind.MINUTES else "half_hour"
        if any(slot in self._missing[kind] for slot in request.slots):
            self._hold_backfill(request, now)
        return out

    def _collect(self, found: list[IntervalValue]) -> list[PlannerEvent]:
        for value in found:
            if value.direction == "normal":
                self._collected[value.kind].add(value.slot)
                self._missing[value.kind].discard(value.slot)
        return [Collected(tuple(found))] if found else []


def _midnight(posix: float) -> int:
    """The JST midnight at or before ``posix``."""
    offset = 9 * 3600
    return int((posix + offset) // _DAY * _DAY - offset)
