"""The valve's transition table (:class:`.valve.ValveController`): data, no logic."""

from __future__ import annotations

from enum import Enum

from .frame import ValveAction, ValveState


class _Input(Enum):
    OPEN = "open"
    CLOSE = "close"
    RESERVE = "reserve"
    CANCEL = "cancel"


class _Action(Enum):
    ACTUATE = "actuate"  # move the valve; ack DONE
    KEEP = "keep"  # already in the wanted position; ack DONE
    STORE = "store"  # keep the reservation; ack SCHEDULED
    UNRESERVE = "unreserve"  # drop the reservation; ack DONE


_O, _C = ValveState.OPEN, ValveState.CLOSED
#: (state, input) -> (action, next state). The only place the valve position changes.
_TRANSITIONS: dict[tuple[ValveState, _Input], tuple[_Action, ValveState]] = {
    (_O, _Input.OPEN): (_Action.KEEP, _O),
    (_O, _Input.CLOSE): (_Action.ACTUATE, _C),
    (_C, _Input.OPEN): (_Action.ACTUATE, _O),
    (_C, _Input.CLOSE): (_Action.KEEP, _C),
    (_O, _Input.RESERVE): (_Action.STORE, _O),
    (_C, _Input.RESERVE): (_Action.STORE, _C),
    (_O, _Input.CANCEL): (_Action.UNRESERVE, _O),
    (_C, _Input.CANCEL): (_Action.UNRESERVE, _C),
}
_ACTION_INPUT = {ValveAction.OPEN: _Input.OPEN, ValveAction.CLOSE: _Input.CLOSE}
