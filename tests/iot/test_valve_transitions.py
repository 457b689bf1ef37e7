"""The valve's transition table is total: every (position, input) pair has one move."""

from __future__ import annotations

import itertools

from smartmeter_proto.iot.frame import ValveAction, ValveState
from smartmeter_proto.iot.valve.transitions import (
    ACTION_INPUT,
    VALVE_TRANSITIONS,
    TransitionAction,
    ValveInput,
)

#: The positions the controller holds (MOVING and FAULT are reported, never held).
POSITIONS = (ValveState.OPEN, ValveState.CLOSED)


def test_every_position_takes_every_input() -> None:
    assert set(VALVE_TRANSITIONS) == set(itertools.product(POSITIONS, ValveInput))


def test_only_actuation_moves_the_valve_and_every_action_is_used() -> None:
    for (state, event), (action, target) in VALVE_TRANSITIONS.items():
        if action is TransitionAction.ACTUATE:
            assert target is not state
            wanted = {ValveInput.OPEN: ValveState.OPEN, ValveInput.CLOSE: ValveState.CLOSED}
            assert target is wanted[event]
        else:
            assert target is state
    assert {action for action, _ in VALVE_TRANSITIONS.values()} == set(TransitionAction)


def test_every_wire_action_maps_to_an_input() -> None:
    assert set(ACTION_INPUT) == {ValveAction.OPEN, ValveAction.CLOSE}
