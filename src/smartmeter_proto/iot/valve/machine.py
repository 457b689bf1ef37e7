"""Gas/water valve control over the IoT route: device side and head-end side, sans-IO.

Every valve frame is an ``iot.frame`` message inside a COSE_Encrypt0 (``iot.cose``). The
external AAD is ``[meter id, direction tag, seq]`` and the envelope seq must equal the COSE
Partial IV, so a frame cannot be moved to another meter, reflected back to its sender or
renumbered. A command takes effect only after it authenticated, passed the replay window,
decoded, named this meter and a gas/water kind, and was neither a duplicate nor stale.

:class:`ValveController` (meter) applies commands through one transition table;
:class:`ValveCommander` (head-end) numbers commands, retries them with the same command id
(the meter deduplicates) and keeps the valve state and reservation the meter last reported.
Time is a POSIX float ``now`` passed in; nothing here reads a clock or does I/O.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from ...errors import SessionError
from ...security_state import StateStore
from .. import cose
from ..frame import (
    AckResult,
    MeterKind,
    Route,
    ValveAck,
    ValveAction,
    ValveCancel,
    ValveCommand,
    ValveReservation,
    ValveState,
    ValveStatus,
)
from .channel import DOWNLINK_TAG, UPLINK_TAG, ValveChannelState
from .events import (
    Acknowledged,
    CommandDuplicate,
    Event,
    GaveUp,
    Rejected,
    RejectReason,
    ReservationCancelled,
    ReservationExpired,
    ReservationFired,
    ReservationStored,
    StatusReported,
    UnmatchedAck,
    ValveChanged,
)
from .transitions import ACTION_INPUT, VALVE_TRANSITIONS, TransitionAction, ValveInput

__all__ = [
    "DEFAULT_LATE_TOLERANCE_S",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_REMEMBERED_IDS",
    "DEFAULT_RETRY_INTERVAL_S",
    "ValveCommander",
    "ValveController",
]

#: A reservation whose activation time is further in the past than this is refused (s).
DEFAULT_LATE_TOLERANCE_S = 60.0
#: Command ids remembered for deduplication (oldest forgotten first).
DEFAULT_REMEMBERED_IDS = 1024
#: Head-end retry policy: first wait, doubled after each retry; total sends per command.
DEFAULT_RETRY_INTERVAL_S = 30.0
DEFAULT_MAX_ATTEMPTS = 4


# --------------------------------------------------------------------------- device side


@dataclass(frozen=True, slots=True)
class _Handled:
    """A command id already answered: what it asked for and the ack it got."""

    fingerprint: tuple[int, int | None] | None  # (action, activate_at); None = cancel tombstone
    result: AckResult


class ValveController:
    """Meter-side valve: applies authentic, fresh commands; answers with protected frames.

    ``keys_by_kid`` verify the head-end; ``send_kid``/``send_key`` protect the answers and
    must differ from them. ``state_store`` keeps the send counter of ``send_kid`` and the replay
    floors across restarts (:mod:`~smartmeter_proto.iot.sequence`); it has no default.
    """

    def __init__(
        self,
        meter_id: str | bytes,
        kind: MeterKind,
        *,
        keys_by_kid: Mapping[bytes, bytes],
        send_kid: bytes,
        send_key: bytes,
        common_iv: bytes,
        state_store: StateStore,
        replay_window: cose.ReplayWindow | None = None,
        route: Route = Route.A_IOT,
        state: ValveState = ValveState.CLOSED,
        late_tolerance_s: float = DEFAULT_LATE_TOLERANCE_S,
        remembered_ids: int = DEFAULT_REMEMBERED_IDS,
    ) -> None:
        if state not in (ValveState.OPEN, ValveState.CLOSED):
            raise ValueError(f"initial state must be OPEN or CLOSED, got {state!r}")
        if late_tolerance_s < 0 or remembered_ids < 1:
            raise ValueError("late_tolerance_s must be >= 0 and remembered_ids >= 1")
        self._channel = ValveChannelState(
            meter_id, kind, route, keys_by_kid, send_kid, send_key, common_iv,
            replay_window, state_store, (UPLINK_TAG, DOWNLINK_TAG),
        )  # fmt: skip
        self._state: ValveState = state
        self._pending: ValveReservation | None = None
        self._late = late_tolerance_s
        self._remembered = remembered_ids
        self._commands: OrderedDict[int, _Handled] = OrderedDict()
        self._cancels: OrderedDict[int, AckResult] = OrderedDict()
        self._outbox: list[bytes] = []
        self.counters: Counter[str] = Counter()

    @property
    def state(self) -> ValveState:
        return self._state

    @property
    def pending(self) -> ValveReservation | None:
        return self._pending

    @property
    def next_seq(self) -> int:
        return self._channel.next_seq

    def frames_to_send(self) -> list[bytes]:
        """Protected acks and statuses queued since the last call, in order."""
        out, self._outbox = self._outbox, []
        return out

    def status_frame(self, now: float) -> bytes:
        """A protected :class:`ValveStatus` (state and pending reservation) with a fresh seq."""
        del now  # the status carries no time; kept for a uniform call shape
        return self._channel.seal(lambda h: ValveStatus(h, self._state, self._pending))

    def next_deadline(self) -> float | None:
        return None if self._pending is None else float(self._pending.activate_at)

    def handle_timeout(self, now: float) -> list[Event]:
        """Fire the reservation if its time has come (or drop it if far overdue)."""
        r = self._pending
        if r is None or now < r.activate_at:
            return []
        self._pending = None
        if now - r.activate_at > self._late:
            self.counters["expired"] += 1
            self._queue_status()
            return [ReservationExpired(r)]
        events: list[Event] = [ReservationFired(r)]
        events.extend(self._step(ACTION_INPUT[ValveAction(r.action)], r.command_id))
        self._queue_status()
        return events

    def receive(self, data: bytes, now: float) -> list[Event]:
        """Handle one protected frame from the head-end."""
        opened = self._channel.open(data)
        if isinstance(opened, RejectReason):
            return [self._reject(opened)]  # nothing authentic to answer
        msg, _seq = opened
        if isinstance(msg, ValveCommand):
            return self._command(msg, now)
        if isinstance(msg, ValveCancel):
            return self._cancel(msg.command_id)
        return [self._reject(RejectReason.UNEXPECTED_MESSAGE)]

    # -------------------------------------------------------------------- internals

    def _reject(self, reason: RejectReason, command_id: int | None = None) -> Rejected:
        self.counters[reason.value] += 1
        return Rejected(reason, command_id)

    def _ack(self, command_id: int, result: AckResult) -> None:
        self._outbox.append(self._channel.seal(lambda h: ValveAck(h, command_id, result)))

    def _queue_status(self) -> None:
        self._outbox.append(self.status_frame(0.0))

    def _remember(self, command_id: int, handled: _Handled) -> None:
        self._commands[command_id] = handled
        while len(self._commands) > self._remembered:
            self._commands.popitem(last=False)

    def _step(self, event_input: ValveInput, command_id: int) -> list[Event]:
        """Look up the transition table and apply the state change it names."""
        try:
            action, next_state = VALVE_TRANSITIONS[(self._state, event_input)]
        except KeyError:
            raise SessionError(f"no transition for {self._state.name} on {event_input}") from None
        previous, self._state = self._state, next_state
        if action is TransitionAction.ACTUATE:
            self.counters["actuated"] += 1
            return [ValveChanged(previous, next_state, command_id)]
        return []

    def _command(self, msg: ValveCommand, now: float) -> list[Event]:
        cid = msg.command_id
        fingerprint = (int(msg.action), msg.activate_at)
        known = self._commands.get(cid)
        if known is not None:
            self._ack(cid, known.result)
            if known.fingerprint is None:
                return [self._reject(RejectReason.CANCELLED, cid)]
            if known.fingerprint != fingerprint:
                return [self._reject(RejectReason.ID_REUSED, cid)]
            self.counters["duplicate"] += 1
            return [CommandDuplicate(cid, known.result)]
        result, events = self._decide(msg, now)
        self._remember(cid, _Handled(fingerprint, result))
        self._ack(cid, result)
        if result in (AckResult.DONE, AckResult.SCHEDULED):
            self.counters["accepted"] += 1
            self._queue_status()
        return events

    def _decide(self, msg: ValveCommand, now: float) -> tuple[AckResult, list[Event]]:
        cid = msg.command_id
        if msg.action not in ACTION_INPUT:
            return AckResult.REJECTED_UNSAFE, [self._reject(RejectReason.UNKNOWN_ACTION, cid)]
        action = ValveAction(msg.action)
        at = msg.activate_at
        if at is not None and now - at > self._late:
            return AckResult.TOO_LATE, [self._reject(RejectReason.TOO_LATE, cid)]
        if at is None or at <= now:
            return AckResult.DONE, self._step(ACTION_INPUT[action], cid)
        if self._pending is not None:
            return AckResult.REJECTED_BUSY, [self._reject(RejectReason.BUSY, cid)]
        self._step(ValveInput.RESERVE, cid)
        self._pending = ValveReservation(cid, action, at)
        return AckResult.SCHEDULED, [ReservationStored(self._pending)]

    def _cancel(self, cid: int) -> list[Event]:
        known = self._cancels.get(cid)
        if known is not None:  # retransmitted cancel: same answer, nothing changes
            self._ack(cid, known)
            self.counters["duplicate"] += 1
            return [CommandDuplicate(cid, known)]
        events: list[Event]
        if self._pending is not None and self._pending.command_id == cid:
            cancelled = self._pending
            self._step(ValveInput.CANCEL, cid)
            self._pending = None
            result, events = AckResult.DONE, [ReservationCancelled(cancelled)]
        elif cid in self._commands:
            done = self._commands[cid].result in (AckResult.DONE, AckResult.SCHEDULED)
            result = AckResult.TOO_LATE if done else AckResult.NOT_FOUND
            reason = RejectReason.TOO_LATE if done else RejectReason.NOT_FOUND
            events = [self._reject(reason, cid)]
        else:
            # Tombstone: should the command arrive after its cancel, it must not run.
            self._remember(cid, _Handled(None, AckResult.NOT_FOUND))
            result, events = AckResult.NOT_FOUND, [self._reject(RejectReason.NOT_FOUND, cid)]
        self._cancels[cid] = result
        while len(self._cancels) > self._remembered:
            self._cancels.popitem(last=False)
        self._ack(cid, result)
        if result is AckResult.DONE:
            self._queue_status()
        return events


# ------------------------------------------------------------------------- head-end side


@dataclass(slots=True)
class _Outstanding:
    command_id: int
    cancel: bool
    action: ValveAction
    activate_at: int | None
    attempts: int
    deadline: float
    interval: float


class ValveCommander:
    """Head-end side for one meter: sends commands/cancels, retries them, tracks answers.

    ``keys_by_kid`` verify the meter; ``send_kid``/``send_key`` protect commands and must
    differ from them. Retries re-send the same command id under a fresh seq. ``state_store``
    keeps the send counter and the replay floors across restarts (:mod:`..sequence`).
    """

    def __init__(
        self,
        meter_id: str | bytes,
        kind: MeterKind,
        *,
        keys_by_kid: Mapping[bytes, bytes],
        send_kid: bytes,
        send_key: bytes,
        common_iv: bytes,
        state_store: StateStore,
        replay_window: cose.ReplayWindow | None = None,
        route: Route = Route.A_IOT,
        first_command_id: int = 1,
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if retry_interval_s <= 0 or max_attempts < 1 or first_command_id < 0:
            raise ValueError("need retry_interval_s > 0, max_attempts >= 1, first_command_id >= 0")
        self._channel = ValveChannelState(
            meter_id, kind, route, keys_by_kid, send_kid, send_key, common_iv,
            replay_window, state_store, (DOWNLINK_TAG, UPLINK_TAG),
        )  # fmt: skip
        self._next_id = first_command_id
        self._interval = retry_interval_s
        self._max_attempts = max_attempts
        self._outstanding: dict[int, _Outstanding] = {}
        self._reservations: set[int] = set()
        self._outbox: list[bytes] = []
        self._state: ValveState | int | None = None
        self._pending: ValveReservation | None = None
        self._status_seq = -1
        self.counters: Counter[str] = Counter()

    @property
    def next_seq(self) -> int:
        return self._channel.next_seq

    def state(self) -> ValveState | int | None:
        """The valve state the meter last reported, or None before any status."""
        return self._state

    def pending(self) -> ValveReservation | None:
        """The reservation the meter last reported as pending."""
        return self._pending

    def outstanding(self) -> list[int]:
        """Command ids sent and not yet answered."""
        return sorted(self._outstanding)

    def command(self, action: ValveAction, activate_at: int | None, now: float) -> bytes:
        """A protected :class:`ValveCommand` with a fresh command id; retried until acked."""
        if action not in (ValveAction.OPEN, ValveAction.CLOSE):
            raise ValueError(f"unknown valve action {action!r}")
        if activate_at is not None and activate_at < 0:
            raise ValueError("activate_at must be a POSIX time >= 0")
        cid = self._next_id
        self._next_id += 1
        if activate_at is not None:
            self._reservations.add(cid)
        return self._send(_Outstanding(cid, False, action, activate_at, 1, 0.0, 0.0), now)

    def cancel(self, command_id: int, now: float) -> bytes:
        """A protected :class:`ValveCancel` of reservation ``command_id``; ends its retries."""
        if command_id not in self._reservations:
            raise ValueError(f"command {command_id} is not a reservation sent from here")
        return self._send(_Outstanding(command_id, True, ValveAction.CLOSE, None, 1, 0.0, 0.0), now)

    def frames_to_send(self) -> list[bytes]:
        """Retransmissions queued by :meth:`handle_timeout`."""
        out, self._outbox = self._outbox, []
        return out

    def next_deadline(self) -> float | None:
        return min((o.deadline for o in self._outstanding.values()), default=None)

    def handle_timeout(self, now: float) -> list[Event]:
        events: list[Event] = []
        for o in sorted(self._outstanding.values(), key=lambda o: o.deadline):
            if now < o.deadline:
                continue
            if o.attempts >= self._max_attempts:
                del self._outstanding[o.command_id]
                self.counters["gave_up"] += 1
                events.append(GaveUp(o.command_id, o.cancel))
                continue
            o.attempts += 1
            o.interval *= 2
            o.deadline = now + o.interval
            self.counters["retries"] += 1
            self._outbox.append(self._seal(o))
        return events

    def receive(self, data: bytes, now: float) -> list[Event]:
        """Handle one protected ack or status from the meter."""
        del now
        opened = self._channel.open(data)
        if isinstance(opened, RejectReason):
            return [self._reject(opened)]
        msg, seq = opened
        if isinstance(msg, ValveAck):
            return [self._ack(msg)]
        if isinstance(msg, ValveStatus):
            if seq < self._status_seq:
                return [self._reject(RejectReason.STALE_STATUS)]
            self._status_seq = seq
            self._state, self._pending = msg.state, msg.pending
            return [StatusReported(msg.state, msg.pending)]
        return [self._reject(RejectReason.UNEXPECTED_MESSAGE)]

    # -------------------------------------------------------------------- internals

    def _reject(self, reason: RejectReason) -> Rejected:
        self.counters[reason.value] += 1
        return Rejected(reason)

    def _seal(self, o: _Outstanding) -> bytes:
        if o.cancel:
            return self._channel.seal(lambda h: ValveCancel(h, o.command_id))
        return self._channel.seal(lambda h: ValveCommand(h, o.command_id, o.action, o.activate_at))

    def _send(self, o: _Outstanding, now: float) -> bytes:
        o.interval = self._interval
        o.deadline = now + self._interval
        self._outstanding[o.command_id] = o
        return self._seal(o)

    def _ack(self, msg: ValveAck) -> Event:
        o = self._outstanding.get(msg.command_id)
        # A late SCHEDULED for the command is no answer to its cancel.
        if o is None or (o.cancel and msg.result == AckResult.SCHEDULED):
            self.counters["unmatched_ack"] += 1
            return UnmatchedAck(msg.command_id, msg.result)
        del self._outstanding[msg.command_id]
        self.counters["acked"] += 1
        return Acknowledged(msg.command_id, msg.result, o.cancel)
