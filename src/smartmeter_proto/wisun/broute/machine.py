"""Sans-IO B-route link over a Wi-SUN dongle: reset, credentials, scan, join, session.

:class:`BRoute` takes serial bytes and time in and hands back events and the
bytes to write (the events: :mod:`~smartmeter_proto.wisun.broute.events`); it never sleeps or reads
a clock. What it does next is the transition table ``TRANSITIONS``
(:mod:`~smartmeter_proto.wisun.broute.transitions`), a dict ``(state, input kind) -> (action, next
state)`` looked up in :meth:`BRoute._dispatch` and nowhere else. The codec
half is a driver (:mod:`.skstack`, :mod:`.j11`): it turns the
steps of each state's plan into command bytes and the dongle's messages into
:class:`Input` values.

Rules: one command in flight, each with a timeout; a timeout or a retryable
failure (SKSTACK ``FAIL ER10``, J11 busy) resends it up to ``command_retries``
times, then the setup fails (``LinkError``) or a session recovers. A join
fails for good when the meter refused the credentials and is retried up to
``max_join_attempts`` times when the dongle reports no answer. A dongle
reset, a lost link or a meter silent for ``silence_timeout`` after a send
re-runs everything from the reset, at most ``max_recoveries`` times in a
row. No event, repr or exception carries the B-route ID or password.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ...errors import SessionError
from .driver import (
    MAX_PAYLOAD,
    BRouteState,
    Driver,
    In,
    Input,
    JoinFailure,
    LinkContext,
    PanInfo,
    Step,
    canonical_ipv6,
)
from .events import (
    AuthFailed,
    BRouteEvent,
    BRouteStats,
    DroppedInput,
    EchonetReceived,
    Joined,
    LinkError,
    Reauthenticated,
    ScanFinished,
    SendConfirmed,
    StateChanged,
)
from .j11 import J11Driver
from .skstack import SkStackDriver
from .transitions import INERT_STATES, SESSION_STATES, TRANSITIONS

__all__ = ["BRoute"]

#: Scan duration codes both families take (SKSCAN 0..14, J11 active scan 1..14).
_MIN_DURATION, _MAX_DURATION = 1, 14


# --------------------------------------------------------------------------- the machine
@dataclass(slots=True)
class _Pending:
    """The command in flight; ``data`` keeps the driver's masked type for secrets."""

    step: Step
    data: bytes = field(repr=False)
    deadline: float
    attempts: int = 1


@dataclass(slots=True)
class _Outgoing:
    payload: bytes = field(repr=False)
    dest: str
    confirmed: bool = False


def _make_driver(model: str, rbid: str, password: str) -> Driver:
    if model.lower() == "j11":
        return J11Driver(rbid, password)
    return SkStackDriver(model, rbid, password)


class BRoute:
    """The B-route link of one dongle; ``model`` is bp35a1, bp35c2, rl7023 or j11.

    ``driver`` replaces the model's own (the G3-PLC modem driver takes its
    credentials itself; ``rbid``/``password`` are then unused).

    Events caused by :meth:`start`, :meth:`send_echonet` and :meth:`close` come
    with the next :meth:`receive_data` or :meth:`handle_timeout`.
    """

    def __init__(
        self,
        *,
        model: str,
        rbid: str,
        password: str,
        scan_durations: tuple[int, ...] = (4, 5, 6, 7, 8),
        max_scan_rounds: int = 5,
        command_timeout: float = 5.0,
        join_timeout: float = 45.0,
        max_join_attempts: int = 3,
        command_retries: int = 2,
        silence_timeout: float | None = 180.0,
        max_recoveries: int = 3,
        driver: Driver | None = None,
    ) -> None:
        if not scan_durations or not all(
            _MIN_DURATION <= d <= _MAX_DURATION for d in scan_durations
        ):
            raise ValueError(f"scan durations are codes {_MIN_DURATION}..{_MAX_DURATION}")
        if max_scan_rounds < 1 or max_join_attempts < 1 or command_retries < 0:
            raise ValueError("need max_scan_rounds >= 1, max_join_attempts >= 1, retries >= 0")
        if command_timeout <= 0 or join_timeout <= 0 or max_recoveries < 0:
            raise ValueError("timeouts must be positive and max_recoveries >= 0")
        if silence_timeout is not None and silence_timeout <= 0:
            raise ValueError("silence_timeout must be positive or None")
        self.model = model
        self._driver = driver or _make_driver(model, rbid, password)
        self.state = BRouteState.IDLE
        self.stats = BRouteStats()
        self._durations = scan_durations
        self._max_rounds = max_scan_rounds
        self._max_joins = max_join_attempts
        self._max_attempts = 1 + command_retries
        self._silence_timeout = silence_timeout
        self._max_recoveries = max_recoveries
        self._link = LinkContext(command_timeout, join_timeout)
        self._events: list[BRouteEvent] = []
        self._out = bytearray()
        self._pending: _Pending | None = None
        self._plan: deque[Step] = deque()
        self._plan_active = False
        self._round = 0
        self._found: dict[tuple[bytes, int, int], PanInfo] = {}
        self._join_attempt = 0
        self._join_deadline: float | None = None
        self._silence_deadline: float | None = None
        self._recoveries = 0
        self._sends: deque[_Outgoing] = deque()
        self._sending: _Outgoing | None = None
        self._left = BRouteState.IDLE

    def __repr__(self) -> str:
        return f"BRoute(model={self.model!r}, state={self.state.name})"

    # ------------------------------------------------------------------ public API
    def start(self, now: float) -> None:
        """Reset the dongle, set the credentials, scan, pick the best PAN and join it."""
        self._call(Input(In.START), now)

    def close(self, now: float) -> None:
        """End the PANA session if one is up (SKTERM / J11 terminate PANA); final."""
        self._call(Input(In.CLOSE), now)

    def port_lost(self, now: float) -> list[BRouteEvent]:
        """The serial port went away (dongle unplugged): back to IDLE from any state.

        The dongle lost its PAN, PANA session and every command with its power, so
        nothing in flight is kept: the command and join timers stop and each queued
        send ends in ``SendConfirmed(False)``. :meth:`start` then joins again on the
        new port. Ignored once CLOSED. Returns the events at once: no bytes follow
        from a port that is gone.
        """
        self._call(Input(In.PORT_LOST), now)
        return self._take_events()

    def send_echonet(self, payload: bytes, now: float, *, dest: str | None = None) -> None:
        """Send ``payload`` to UDP 3610 of the meter (or ``dest``) in READY; queued while
        REAUTHENTICATING; SessionError in any other state. Each call ends in exactly one
        :class:`SendConfirmed`, in call order."""
        if not 1 <= len(payload) <= MAX_PAYLOAD:
            raise ValueError(f"an ECHONET Lite payload is 1..{MAX_PAYLOAD} bytes")
        try:
            target = canonical_ipv6(dest) if dest is not None else self._link.meter_ipv6
        except ValueError:
            raise ValueError(f"not an IPv6 address: {dest!r}") from None
        self._call(Input(In.SEND, payload=bytes(payload), address=target or ""), now)

    def receive_data(self, data: bytes, now: float) -> list[BRouteEvent]:
        """Feed serial bytes in any chunking; return the events they cause."""
        driver = self._driver
        driver.feed(data)
        while (inputs := driver.next_inputs(self._in_flight())) is not None:
            for item in inputs:
                self._dispatch(item, now)
        return self._take_events()

    def data_to_send(self) -> bytes:
        """Bytes to write to the dongle (handed over once)."""
        out, self._out = bytes(self._out), bytearray()
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` is due next, or None."""
        pending = self._pending.deadline if self._pending is not None else None
        times = [t for t in (pending, self._join_deadline, self._silence_deadline) if t is not None]
        return min(times) if times else None

    def handle_timeout(self, now: float) -> list[BRouteEvent]:
        """Fire the timers due at ``now``."""
        if self._pending is not None and self._pending.deadline <= now:
            self._dispatch(Input(In.COMMAND_TIMEOUT), now)
        if self._join_deadline is not None and self._join_deadline <= now:
            self._join_deadline = None
            self._dispatch(Input(In.JOIN_TIMEOUT), now)
        if self._silence_deadline is not None and self._silence_deadline <= now:
            self._silence_deadline = None
            self._dispatch(Input(In.SILENCE_TIMEOUT), now)
        return self._take_events()

    # ------------------------------------------------------------------ the one lookup
    def _call(self, item: Input, now: float) -> None:
        """A caller's input: misuse raises and leaves the machine as it was."""
        if (self.state, item.kind) not in TRANSITIONS:
            raise SessionError(f"{item.kind.value} is not allowed in state {self.state.name}")
        self._dispatch(item, now)

    def _dispatch(self, first: Input, now: float) -> None:
        """Run ``first`` and the follow-ups its actions hand back, each through the table."""
        queue: deque[Input] = deque((first,))
        while queue:
            item = queue.popleft()
            rule = TRANSITIONS.get((self.state, item.kind))
            if rule is None:  # illegal move: the dongle or a timer broke the exchange
                reason = f"illegal input {item.kind.name} in state {self.state.name}"
                self._move(BRouteState.FAILED)
                self._emit(LinkError(reason))
                return
            action, target = rule
            self._move(target)
            follow = _ACTIONS[action](self, item, now)
            if follow is not None:
                queue.append(follow)

    def _move(self, target: BRouteState) -> None:
        old = self._left = self.state
        if target is old:
            return
        self.state = target
        self._plan_active = False
        self._emit(StateChanged(old, target))
        if old is BRouteState.READY:
            self._silence_deadline = None  # armed again by the next send in READY
        if old in SESSION_STATES and target not in SESSION_STATES:
            self._abandon_sends()
        if target not in (BRouteState.JOINING, BRouteState.REAUTHENTICATING):
            self._join_deadline = None
        if target in INERT_STATES:
            self._pending = None

    # ------------------------------------------------------------------ helpers
    def _in_flight(self) -> Step | None:
        return self._pending.step if self._pending is not None else None

    def _emit(self, event: BRouteEvent) -> None:
        self._events.append(event)

    def _take_events(self) -> list[BRouteEvent]:
        events, self._events = self._events, []
        return events

    def _issue(self, step: Step, now: float) -> None:
        data = self._driver.encode(step, self._link)
        self._pending = _Pending(step, data, now + self._driver.timeout(step, self._link))
        self._out += data

    def _advance(self, now: float) -> Input | None:
        """With nothing in flight: the plan's next step, the end of the plan, or a send."""
        if self._pending is not None:
            return None
        if self._plan_active:
            if self._plan:
                self._issue(self._plan.popleft(), now)
                return None
            self._plan_active = False
            return Input(In.STEPS_DONE)
        if self.state is BRouteState.READY and self._sends:
            out = self._sending = self._sends.popleft()
            self._link.payload, self._link.dest = out.payload, out.dest
            self._issue(Step.SEND, now)
            if self._silence_timeout is not None and self._silence_deadline is None:
                self._silence_deadline = now + self._silence_timeout
        return None

    def _confirm(self, ok: bool) -> None:
        if self._sending is not None and not self._sending.confirmed:
            self._sending.confirmed = True
            self._emit(SendConfirmed(ok))

    def _requeue_send(self) -> Input | None:
        self._pending = None
        if self._sending is not None and not self._sending.confirmed:
            self._sends.appendleft(self._sending)
        self._sending = None
        self.stats.retries += 1
        return None

    def _abandon_sends(self) -> None:
        if self._pending is not None and self._pending.step is Step.SEND:
            self._pending = None
        self._confirm(False)
        self._sending = None
        for _ in range(len(self._sends)):
            self._sends.popleft()
            self._emit(SendConfirmed(False))

    # ------------------------------------------------------------------ actions
    def _run_plan(self, _item: Input, now: float) -> Input | None:
        """Start this state's plan; it supersedes a plan step still in flight."""
        if self._pending is not None and self._pending.step is not Step.SEND:
            self._pending = None
        self._plan = deque(self._driver.plan(self.state))
        self._plan_active = True
        return self._advance(now)

    def _start(self, item: Input, now: float) -> Input | None:
        self._recoveries = 0
        return self._begin_reset(item, now)

    def _begin_reset(self, item: Input, now: float) -> Input | None:
        self._link.pan = self._link.meter_ipv6 = None
        return self._run_plan(item, now)

    def _step_done(self, item: Input, now: float) -> Input | None:
        if self._pending is None:
            return Input(In.STRAY, reason="completion with nothing in flight")
        step, self._pending = self._pending.step, None
        if item.meter_ipv6 is not None:
            self._link.meter_ipv6 = item.meter_ipv6
        if item.pan is not None:
            self._link.pan = item.pan
        if step is Step.SEND:
            self._confirm(True)  # accepted without a transmit report
            self._sending = None
        return self._advance(now)

    def _step_failed(self, item: Input, now: float) -> Input | None:
        if self._pending is None:
            return Input(In.STRAY, reason=f"failure with nothing in flight ({item.reason})")
        if self._pending.step is Step.SEND and self.state is BRouteState.REAUTHENTICATING:
            # Sent just before the session expired (FAIL ER10 while re-authenticating):
            # keep it for when the session is back instead of resetting the dongle.
            return self._requeue_send()
        if item.retryable:
            return self._retry(item.reason, now)
        step, self._pending = self._pending.step, None
        return Input(In.STEP_ABANDONED, reason=f"{step.value}: {item.reason}")

    def _step_timed_out(self, _item: Input, now: float) -> Input | None:
        return self._retry("no answer", now)

    def _retry(self, reason: str, now: float) -> Input | None:
        pending = self._pending
        assert pending is not None
        if pending.step is not Step.SEND and not self._plan_active:
            self._pending = None  # a plan step overtaken by events (joined early): let it go
            return self._advance(now)
        if pending.attempts >= self._max_attempts:
            self._pending = None
            why = f"{pending.step.value}: {reason} after {pending.attempts} tries"
            return Input(In.STEP_ABANDONED, reason=why)
        pending.attempts += 1
        pending.deadline = now + self._driver.timeout(pending.step, self._link)
        self.stats.retries += 1
        self._out += pending.data
        return None

    def _begin_scan(self, item: Input, now: float) -> Input | None:
        self._round = 0
        return self._begin_scan_round(item, now)

    def _begin_scan_round(self, item: Input, now: float) -> Input | None:
        self._link.duration = self._durations[min(self._round, len(self._durations) - 1)]
        self._found.clear()
        return self._run_plan(item, now)

    def _note_pan(self, item: Input, _now: float) -> Input | None:
        pan = item.pan
        if pan is not None:
            key = (pan.mac, pan.channel, pan.pan_id)
            known = self._found.get(key)
            if known is None or pan.quality > known.quality:
                self._found[key] = pan
        return None

    def _scan_round_done(self, _item: Input, _now: float) -> Input | None:
        found = tuple(self._found.values())
        self._emit(ScanFinished(found, self._link.duration))
        self._round += 1
        if found:
            self._link.pan = max(found, key=lambda pan: pan.quality)
            return Input(In.PAN_CHOSEN)
        if self._round < self._max_rounds:
            return Input(In.SCAN_AGAIN)
        return Input(In.SCAN_EXHAUSTED, reason=f"no PAN found in {self._round} scan rounds")

    def _begin_join(self, item: Input, now: float) -> Input | None:
        self._join_attempt = 1
        return self._run_plan(item, now)

    def _rejoin(self, item: Input, now: float) -> Input | None:
        self.stats.rejoins += 1
        return self._begin_join(item, now)

    def _await_join(self, _item: Input, now: float) -> Input | None:
        self._join_deadline = now + self._link.join_timeout
        return None

    def _join_timed_out(self, _item: Input, _now: float) -> Input | None:
        why = f"no PANA result within {self._link.join_timeout:g} s"
        return Input(In.JOIN_FAILED, failure=JoinFailure.UNANSWERED, reason=why)

    def _join_failed(self, item: Input, _now: float) -> Input | None:
        self._join_deadline = None
        if item.failure is JoinFailure.REJECTED:
            return Input(In.JOIN_REJECTED, reason=item.reason)
        if self._join_attempt < self._max_joins:
            self._join_attempt += 1
            self.stats.join_retries += 1
            return Input(In.RETRY_JOIN)
        return Input(In.GIVE_UP, reason=f"{item.reason} ({self._join_attempt} attempts)")

    def _joined(self, item: Input, now: float) -> Input | None:
        pan, address = self._link.pan, self._link.meter_ipv6 or item.meter_ipv6
        if pan is None or address is None:
            return Input(In.GIVE_UP, reason="PANA succeeded before the meter was known")
        self._link.meter_ipv6 = address
        self._recoveries = 0
        self._emit(Joined(address, pan.mac, pan.channel, pan.pan_id))
        return self._advance(now)

    def _begin_reauth(self, item: Input, now: float) -> Input | None:
        self._join_deadline = now + self._link.join_timeout
        return self._run_plan(item, now)

    def _reauthenticated(self, _item: Input, now: float) -> Input | None:
        self.stats.reauths += 1
        self._emit(Reauthenticated())
        return self._advance(now)

    def _recover(self, item: Input, now: float) -> Input | None:
        self.stats.recoveries += 1
        self._recoveries += 1
        if self._recoveries > self._max_recoveries:
            why = f"{item.describe()}; gave up after {self._max_recoveries} recoveries"
            return Input(In.GIVE_UP, reason=why)
        return self._begin_reset(item, now)

    def _port_lost(self, _item: Input, _now: float) -> Input | None:
        # Nothing the old dongle was doing survives it: the command in flight, the plan,
        # every timer, the sends (each confirmed failed) and what it knew of the PAN.
        self._abandon_sends()
        self._pending = None
        self._join_deadline = None
        self._plan.clear()
        self._plan_active = False
        self._silence_deadline = None
        self._link.pan = self._link.meter_ipv6 = None
        return None

    def _fail_link(self, item: Input, _now: float) -> Input | None:
        self._emit(LinkError(item.reason or item.kind.value))
        return None

    def _auth_failed(self, item: Input, _now: float) -> Input | None:
        self._emit(AuthFailed(item.reason))
        return None

    def _close(self, _item: Input, _now: float) -> Input | None:
        if self._left in SESSION_STATES:
            self._out += self._driver.encode(Step.TERMINATE, self._link)
        return None

    def _queue_send(self, item: Input, now: float) -> Input | None:
        self._sends.append(_Outgoing(item.payload, item.address))
        return self._advance(now)

    def _send_done(self, item: Input, _now: float) -> Input | None:
        if self._sending is None or self._sending.confirmed:
            return Input(In.STRAY, reason="transmit report with no send in flight")
        self._confirm(item.ok)
        return None

    def _deliver(self, item: Input, _now: float) -> Input | None:
        self._silence_deadline = None
        self._emit(EchonetReceived(item.payload, item.address, item.multicast))
        return None

    def _drop(self, item: Input, _now: float) -> Input | None:
        self.stats.dropped += 1
        self._emit(DroppedInput(f"{item.describe()} (state {self.state.name})"))
        return None

    def _discard(self, _item: Input, _now: float) -> Input | None:
        self.stats.dropped += 1
        return None

    def _ignore(self, _item: Input, _now: float) -> Input | None:
        self.stats.ignored += 1
        return None

    def _count_garbage(self, item: Input, _now: float) -> Input | None:
        if item.kind is In.UNKNOWN:
            self.stats.unknown += 1
        else:
            self.stats.garbled += 1
        return None


_Action = Callable[[BRoute, Input, float], "Input | None"]
#: The actions the table names, resolved once: a misspelt one fails at import.
_ACTIONS: Final[dict[str, _Action]] = {
    name: getattr(BRoute, name) for name in sorted({a for a, _ in TRANSITIONS.values()})
}
