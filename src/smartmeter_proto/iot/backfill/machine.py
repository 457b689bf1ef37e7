"""Sequence-numbered readings and gap back-fill for IoT meters (gas, water, special meters).

Sans-IO: plain Python values in, plain values out; no clock, no codec. The meter
side (:class:`MeterStore`) numbers each reading with a per-meter sequence number
starting at 1 and keeps a bounded history; the head-end side (:class:`BackfillCollector`)
spots gaps in the numbers, asks the meter to re-send them and tracks what is
still missing. Requirement (METI next-generation smart meter study, summarised
in /work/shared/notes/requirements.md): confirmed values from external devices
reach 100 % eventually by re-polling; a device without storage sends its latest
value and is never re-polled for what it cannot have.

Exchange rule this module assumes: one :class:`BackfillDue` gets at most one
answer, the kept readings of the range from its lowest kept seq upwards, capped
at the meter's ``max_per_answer`` (:meth:`MeterStore.range`). A seq at the
bottom of the range left out of an answer is therefore gone from the meter
(evicted, or never stored) and is reported :class:`Unrecoverable` at once:
asking again cannot bring it back. The top of the range left out (the answer
cap) is simply asked for again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...errors import SessionError
from .ranges import Ranges
from .records import FIRST_SEQ as FIRST_SEQ
from .records import (
    BackfillDue,
    Completeness,
    DuplicateReading,
    Event,
    FleetCompleteness,
    GapDetected,
    GapFilled,
    LossReason,
    MeterReading,
    NewReading,
    RequestAbandoned,
    Unrecoverable,
)
from .store import DEFAULT_MAX_PER_ANSWER

__all__ = ["BackfillCollector"]


@dataclass(slots=True)
class _Pending:
    first: int
    last: int
    attempts: int
    deadline: float


@dataclass(slots=True)
class _Meter:
    meter_id: str
    readings: dict[int, MeterReading] = field(default_factory=dict)
    expected: int = 0
    missing: Ranges = field(default_factory=Ranges)
    gone: Ranges = field(default_factory=Ranges)
    unanswered: Ranges = field(default_factory=Ranges)
    pending: list[_Pending] = field(default_factory=list)
    #: Whether the meter ever answered a back-fill request.
    answers_backfill: bool = False
    #: Requests abandoned since the meter last answered one; bounds re-polling a mute meter.
    silent_rounds: int = 0
    #: Left alone after an abandoned request, until it shows life.
    stalled: bool = False
    duplicates: int = 0


class BackfillCollector:
    """Head-end side: detects gaps per meter and back-fills them, sans-IO.

    ``request_timeout`` (s) before a request is sent again; ``retry_limit``
    re-sends before it is abandoned; ``max_range`` seqs per request;
    ``max_outstanding`` requests in flight per meter.

    An abandoned request leaves the meter alone until it shows life again (a
    reading, an announcement, an answer). A meter that never answered any
    request and lets ``retry_limit + 1`` rounds go unanswered is taken for one
    without back-fill: its gaps are reported :class:`Unrecoverable`
    (``NO_ANSWER``) rather than re-polled forever, and asked for again only if
    it answers after all (a late answer) or :meth:`retry_unrecoverable` is called.
    """

    def __init__(
        self,
        *,
        request_timeout: float = 10.0,
        max_range: int = DEFAULT_MAX_PER_ANSWER,
        max_outstanding: int = 4,
        retry_limit: int = 3,
    ) -> None:
        if request_timeout <= 0 or max_range < 1 or max_outstanding < 1 or retry_limit < 0:
            raise ValueError(
                "need request_timeout > 0, max_range >= 1, max_outstanding >= 1, retry_limit >= 0"
            )
        self.request_timeout = request_timeout
        self.max_range = max_range
        self.max_outstanding = max_outstanding
        self.retry_limit = retry_limit
        self._meters: dict[str, _Meter] = {}
        self._outbox: list[BackfillDue] = []

    # -- input -------------------------------------------------------------------------

    def receive_reading(self, reading: MeterReading, now: float) -> list[Event]:
        """A live reading arrived (in order or not, possibly twice)."""
        meter = self._meter(reading.meter_id)
        events = self._store(meter, reading, backfilled=False)
        meter.stalled = False
        events += self._plan(meter, now)
        return events

    def note_latest(self, meter_id: str, seq: int, now: float) -> list[Event]:
        """The meter announced (heartbeat, status) that its newest seq is ``seq``."""
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        meter = self._meter(meter_id)
        events: list[Event] = []
        if seq > meter.expected:
            events.append(self._extend(meter, seq))
        meter.stalled = False
        events += self._plan(meter, now)
        return events

    def receive_backfill(
        self,
        meter_id: str,
        readings: Iterable[MeterReading],
        now: float,
        *,
        request: BackfillDue | None = None,
    ) -> list[Event]:
        """The meter answered a back-fill request.

        Pass ``request`` when the answer names the range it answers (needed to
        place an empty answer when several requests are in flight); otherwise the
        answer is matched to the in-flight requests its seqs fall in.
        """
        answer = sorted(readings, key=lambda r: r.seq)
        for reading in answer:
            if reading.meter_id != meter_id:
                raise SessionError(
                    f"back-fill answer from {meter_id!r} carries a reading of {reading.meter_id!r}"
                )
        meter = self._meter(meter_id)
        answered = self._answered(meter, answer, request)
        events: list[Event] = []
        for reading in answer:
            events.extend(self._store(meter, reading, backfilled=True))
        meter.silent_rounds = 0
        if not meter.answers_backfill:  # any answer, even late, shows it does back-fill
            meter.answers_backfill = True
            events.extend(self._revive(meter, meter.unanswered))
        for pending in answered:
            if pending not in meter.pending:
                continue  # every seq it asked for has arrived
            meter.pending.remove(pending)
            in_range = [r.seq for r in answer if pending.first <= r.seq <= pending.last]
            gone_to = min(in_range) - 1 if in_range else pending.last
            if gone_to >= pending.first:
                events.extend(self._lose(meter, pending.first, gone_to, LossReason.GONE_FROM_METER))
        meter.stalled = False
        events += self._plan(meter, now)
        return events

    # -- output and timers ---------------------------------------------------------------

    def requests_to_send(self) -> list[BackfillDue]:
        """Hand over the requests to transmit now (each once; re-sends come back after timeouts)."""
        out, self._outbox = self._outbox, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` is due next, or None."""
        deadlines = [p.deadline for m in self._meters.values() for p in m.pending]
        return min(deadlines, default=None)

    def handle_timeout(self, now: float) -> list[Event]:
        """Re-send overdue requests; abandon those out of retries."""
        events: list[Event] = []
        for meter in self._meters.values():
            overdue = [p for p in meter.pending if p.deadline <= now]
            for pending in overdue:
                meter.pending.remove(pending)
                still = meter.missing.within(pending.first, pending.last)
                if not still:
                    continue
                first, last = still[0][0], still[-1][1]
                if pending.attempts <= self.retry_limit:
                    self._send(meter, first, last, pending.attempts + 1, now)
                    continue
                events.append(RequestAbandoned(meter.meter_id, first, last, pending.attempts))
                meter.silent_rounds += 1
                if not meter.answers_backfill and meter.silent_rounds > self.retry_limit:
                    events.extend(self._lose(meter, first, last, LossReason.NO_ANSWER))
                else:
                    meter.stalled = True
            if overdue:
                events += self._plan(meter, now)
        return events

    def retry_unrecoverable(
        self, meter_id: str, now: float, *, include_gone: bool = False
    ) -> list[Event]:
        """Ask again for what was given up (e.g. after an area's restoration).

        ``NO_ANSWER`` ranges always; ``GONE_FROM_METER`` ones too if ``include_gone``.
        Returns a :class:`GapDetected` per range put back.
        """
        meter = self._meter(meter_id)
        events = self._revive(meter, meter.unanswered)
        if include_gone:
            events.extend(self._revive(meter, meter.gone))
        meter.silent_rounds = 0
        meter.stalled = False
        events += self._plan(meter, now)
        return events

    # -- reports -------------------------------------------------------------------------

    def meters(self) -> list[str]:
        """Every meter heard of, in first-heard order."""
        return list(self._meters)

    def stored(self, meter_id: str) -> dict[int, MeterReading]:
        """The readings held for ``meter_id`` by seq (a copy)."""
        meter = self._meters.get(meter_id)
        return {} if meter is None else dict(meter.readings)

    def duplicates(self, meter_id: str) -> int:
        """How many already-held readings of ``meter_id`` arrived again."""
        meter = self._meters.get(meter_id)
        return 0 if meter is None else meter.duplicates

    def in_flight(self, meter_id: str) -> list[BackfillDue]:
        """The requests of ``meter_id`` waiting for an answer."""
        meter = self._meters.get(meter_id)
        pending = [] if meter is None else meter.pending
        return [BackfillDue(meter_id, p.first, p.last) for p in pending]

    def completeness(self, meter_id: str) -> Completeness:
        """What is held of seqs ``1..expected`` for ``meter_id``."""
        meter = self._meters.get(meter_id) or _Meter(meter_id)
        received = len(meter.readings)
        expected = meter.expected
        missing = Ranges()
        for first, last in meter.missing:
            missing.add(first, last)
        lost = Ranges()
        for first, last in (*meter.gone, *meter.unanswered):
            missing.add(first, last)
            lost.add(first, last)
        return Completeness(
            meter_id=meter_id,
            received=received,
            expected=expected,
            missing_ranges=tuple(missing),
            unrecoverable_ranges=tuple(lost),
            ratio=received / expected if expected else 1.0,
        )

    def fleet_completeness(self) -> FleetCompleteness:
        """:meth:`completeness` summed over every meter."""
        reports = [self.completeness(m) for m in self._meters]
        received = sum(r.received for r in reports)
        expected = sum(r.expected for r in reports)
        return FleetCompleteness(
            meters=len(reports),
            received=received,
            expected=expected,
            unrecoverable=sum(m.gone.count() + m.unanswered.count() for m in self._meters.values()),
            incomplete_meters=tuple(r.meter_id for r in reports if r.received < r.expected),
            ratio=received / expected if expected else 1.0,
        )

    # -- internals -----------------------------------------------------------------------

    def _meter(self, meter_id: str) -> _Meter:
        meter = self._meters.get(meter_id)
        if meter is None:
            meter = self._meters[meter_id] = _Meter(meter_id)
        return meter

    def _extend(self, meter: _Meter, seq: int) -> GapDetected:
        gap = GapDetected(meter.meter_id, meter.expected + 1, seq)
        meter.missing.add(gap.first, gap.last)
        meter.expected = seq
        return gap

    def _store(self, meter: _Meter, reading: MeterReading, *, backfilled: bool) -> list[Event]:
        held = meter.readings.get(reading.seq)
        if held is not None:
            meter.duplicates += 1
            conflicting = (held.value, held.time) != (reading.value, reading.time)
            return [DuplicateReading(reading, conflicting)]
        events: list[Event] = []
        seq = reading.seq
        meter.readings[seq] = reading
        if seq > meter.expected:
            if seq > meter.expected + 1:
                events.append(self._extend(meter, seq - 1))
            meter.expected = seq
            events.append(NewReading(reading))
            return events
        meter.missing.remove(seq, seq)
        meter.gone.remove(seq, seq)
        meter.unanswered.remove(seq, seq)
        events.append(GapFilled(reading, backfilled))
        meter.pending = [p for p in meter.pending if meter.missing.within(p.first, p.last)]
        return events

    def _answered(
        self, meter: _Meter, answer: list[MeterReading], request: BackfillDue | None
    ) -> list[_Pending]:
        if request is not None:
            return [p for p in meter.pending if (p.first, p.last) == (request.first, request.last)][
                :1
            ]
        if not answer:
            return list(meter.pending) if len(meter.pending) == 1 else []
        return [p for p in meter.pending if any(p.first <= r.seq <= p.last for r in answer)]

    def _lose(self, meter: _Meter, first: int, last: int, reason: LossReason) -> list[Event]:
        events: list[Event] = []
        lost = meter.gone if reason is LossReason.GONE_FROM_METER else meter.unanswered
        for lo, hi in meter.missing.remove(first, last):
            lost.add(lo, hi)
            events.append(Unrecoverable(meter.meter_id, lo, hi, reason))
        meter.pending = [p for p in meter.pending if meter.missing.within(p.first, p.last)]
        return events

    def _revive(self, meter: _Meter, lost: Ranges) -> list[Event]:
        events: list[Event] = []
        for first, last in lost:
            lost.remove(first, last)
            meter.missing.add(first, last)
            events.append(GapDetected(meter.meter_id, first, last))
        return events

    def _send(self, meter: _Meter, first: int, last: int, attempts: int, now: float) -> None:
        meter.pending.append(_Pending(first, last, attempts, now + self.request_timeout))
        self._outbox.append(BackfillDue(meter.meter_id, first, last))

    def _plan(self, meter: _Meter, now: float) -> list[Event]:
        """Fill the meter's free request slots with the oldest unrequested gaps.

        A meter taken for one without back-fill is not asked: its gaps are given up.
        """
        mute = not meter.answers_backfill and meter.silent_rounds > self.retry_limit
        if not mute and (meter.stalled or len(meter.pending) >= self.max_outstanding):
            return []
        free = Ranges()
        for first, last in meter.missing:
            free.add(first, last)
        for pending in meter.pending:
            free.remove(pending.first, pending.last)
        if mute:
            return [e for r in free for e in self._lose(meter, *r, LossReason.NO_ANSWER)]
        for first, last in free:
            while first <= last:
                if len(meter.pending) >= self.max_outstanding:
                    return []
                top = min(last, first + self.max_range - 1)
                self._send(meter, first, top, 1, now)
                first = top + 1
        return []


#: The former name of :class:`BackfillCollector` (kept for one release; ``hes.Collector`` is
#: the A-route's).
Collector = BackfillCollector
