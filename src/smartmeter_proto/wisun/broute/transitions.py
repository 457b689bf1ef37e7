"""The B-route transition table: ``(state, input kind) -> (action, next state)``.

:class:`~smartmeter_proto.wisun.broute.BRoute` looks a move up in
``TRANSITIONS`` and nowhere else; actions are named by the method of
``BRoute`` that runs them (resolved once, at import, in :mod:`~smartmeter_proto.wisun.broute`).
The state groups below are shared with the machine.
"""

from __future__ import annotations

from typing import Final

from .driver import BRouteState, In

_S = BRouteState
_SETUP: Final = (_S.RESETTING, _S.CONFIGURING, _S.SCANNING, _S.JOINING)
SESSION_STATES: Final = (_S.READY, _S.REAUTHENTICATING)
_ACTIVE: Final = _SETUP + SESSION_STATES
INERT_STATES: Final = (_S.IDLE, _S.FAILED, _S.CLOSED)


# --------------------------------------------------------------------------- the table
TRANSITIONS: dict[tuple[BRouteState, In], tuple[str, BRouteState]] = {}


def _rule(states: tuple[_S, ...], kinds: tuple[In, ...], action: str, to: _S | None = None) -> None:
    """Add ``(state, kind) -> (action, to)`` for each pair; ``to`` None keeps the state."""
    for state in states:
        for kind in kinds:
            if (state, kind) in TRANSITIONS:
                raise AssertionError(f"{state.name} x {kind.name} defined twice")
            TRANSITIONS[state, kind] = (action, state if to is None else to)


_TIMERS: Final = (In.COMMAND_TIMEOUT, In.JOIN_TIMEOUT, In.SILENCE_TIMEOUT)
NEWS: Final = (
    In.COMMAND_DONE, In.COMMAND_FAILED, In.PAN_FOUND, In.JOIN_SUCCEEDED, In.JOIN_FAILED,
    In.SESSION_EXPIRED, In.SESSION_ENDED, In.LINK_LOST, In.DATAGRAM, In.SEND_DONE, In.STRAY,
    In.NOISE, In.GARBLED, In.UNKNOWN,
)  # fmt: skip
_rule((_S.IDLE, _S.FAILED), (In.START,), "_start", _S.RESETTING)
_rule(SESSION_STATES, (In.SEND,), "_queue_send")
_rule((*_ACTIVE, _S.IDLE, _S.FAILED), (In.CLOSE,), "_close", _S.CLOSED)
_rule((_S.CLOSED,), (In.CLOSE,), "_ignore")
# The port itself is gone (dongle unplugged): whatever the dongle knew went with it, so
# every live state drops back to IDLE and waits for a start on the new port.
_rule((*_ACTIVE, _S.IDLE, _S.FAILED), (In.PORT_LOST,), "_port_lost", _S.IDLE)
_rule((_S.CLOSED,), (In.PORT_LOST,), "_ignore")
_rule(INERT_STATES, _TIMERS + NEWS, "_discard")
# the command in flight, and what any active state does alike
_rule(_ACTIVE, (In.COMMAND_DONE,), "_step_done")
_rule(_ACTIVE, (In.COMMAND_FAILED,), "_step_failed")
_rule(_ACTIVE, (In.COMMAND_TIMEOUT,), "_step_timed_out")
_rule(_SETUP, (In.STEP_ABANDONED,), "_fail_link", _S.FAILED)
_rule(SESSION_STATES, (In.STEP_ABANDONED,), "_recover", _S.RESETTING)
_rule(_ACTIVE, (In.GIVE_UP,), "_fail_link", _S.FAILED)
_rule(_ACTIVE, (In.LINK_LOST,), "_recover", _S.RESETTING)
_rule(_ACTIVE, (In.STRAY,), "_drop")
_rule(_ACTIVE, (In.NOISE,), "_ignore")
_rule(_ACTIVE, (In.GARBLED, In.UNKNOWN), "_count_garbage")
# reset -> credentials -> scan rounds -> join
_rule((_S.RESETTING,), (In.STEPS_DONE,), "_run_plan", _S.CONFIGURING)
_rule((_S.CONFIGURING,), (In.STEPS_DONE,), "_begin_scan", _S.SCANNING)
_rule((_S.SCANNING,), (In.PAN_FOUND,), "_note_pan")
_rule((_S.SCANNING,), (In.STEPS_DONE,), "_scan_round_done")
_rule((_S.SCANNING,), (In.SCAN_AGAIN,), "_begin_scan_round")
_rule((_S.SCANNING,), (In.PAN_CHOSEN,), "_begin_join", _S.JOINING)
_rule((_S.SCANNING,), (In.SCAN_EXHAUSTED,), "_fail_link", _S.FAILED)
_rule((_S.JOINING,), (In.STEPS_DONE,), "_await_join")
_rule((_S.JOINING,), (In.JOIN_SUCCEEDED,), "_joined", _S.READY)
_rule((_S.JOINING,), (In.JOIN_FAILED,), "_join_failed")
_rule((_S.JOINING,), (In.JOIN_TIMEOUT,), "_join_timed_out")
_rule((_S.JOINING,), (In.RETRY_JOIN,), "_run_plan")
_rule((_S.JOINING,), (In.JOIN_REJECTED,), "_auth_failed", _S.FAILED)
_rule(_SETUP[:3], (In.JOIN_SUCCEEDED, In.JOIN_FAILED), "_drop")
_rule((_S.RESETTING, _S.CONFIGURING, _S.JOINING), (In.PAN_FOUND,), "_drop")
_rule(_SETUP, (In.SESSION_EXPIRED, In.SESSION_ENDED, In.DATAGRAM, In.SEND_DONE), "_drop")
# the session
_rule(SESSION_STATES, (In.DATAGRAM,), "_deliver")
_rule(SESSION_STATES, (In.SEND_DONE,), "_send_done")
_rule(SESSION_STATES, (In.PAN_FOUND,), "_drop")
_rule(SESSION_STATES, (In.JOIN_SUCCEEDED,), "_reauthenticated", _S.READY)
_rule(SESSION_STATES, (In.JOIN_FAILED, In.SESSION_ENDED), "_rejoin", _S.JOINING)
_rule((_S.READY,), (In.SESSION_EXPIRED,), "_begin_reauth", _S.REAUTHENTICATING)
_rule((_S.READY,), (In.SILENCE_TIMEOUT,), "_recover", _S.RESETTING)
_rule((_S.REAUTHENTICATING,), (In.SESSION_EXPIRED,), "_ignore")
_rule((_S.REAUTHENTICATING,), (In.STEPS_DONE,), "_await_join")
_rule((_S.REAUTHENTICATING,), (In.JOIN_TIMEOUT,), "_rejoin", _S.JOINING)
