"""The valve's transition table (:class:`.ValveController`): data, no logic."""

from __future__ import annotations

from enum import Enum

from ..frame import ValveAction, ValveState


class ValveInput(Enum):
    OPEN = "open"
    CLOSE = "close"
    RESERVE = "reserve"
    CANCEL = "cancel"


class TransitionAction(Enum):
    ACTUATE = "actuate"  # move the valve; ack DONE
    KEEP = "keep"  # already in the wanted position; ack DONE
    STORE = "store"  # keep the reservation; ack SCHEDULED
    UNRESERVE = "unreserve"  # drop the reservation; ack DONE


_O, _C = ValveState.OPEN, ValveState.CLOSED
#: (state, input) -> (action, next state). The only place the valve position changes.
VALVE_TRANSITIONS: dict[tuple[ValveState, ValveInput], tuple[TransitionAction, ValveState]] = {
    (_O, ValveInput.OPEN): (TransitionAction.KEEP, _O),
    (_O, ValveInput.CLOSE): (TransitionAction.ACTUATE, _C),
    (_C, ValveInput.OPEN): (TransitionAction.ACTUATE, _O),
    (_C, ValveInput.CLOSE): (TransitionAction.KEEP, _C),
    (_O, ValveInput.RESERVE): (TransitionAction.STORE, _O),
    (_C, ValveInput.RESERVE): (TransitionAction.STORE, _C),
    (_O, ValveInput.CANCEL): (TransitionAction.UNRESERVE, _O),
    (_C, ValveInput.CANCEL): (TransitionAction.UNRESERVE, _C),
}
ACTION_INPUT = {ValveAction.OPEN: ValveInput.OPEN, ValveAction.CLOSE: ValveInput.CLOSE}
