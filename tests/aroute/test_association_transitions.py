"""The association machines' tables: every state reachable, every input used, gaps refused."""

from __future__ import annotations

import itertools

import pytest

from smartmeter_proto.aroute.association.client import (
    CLIENT_TRANSITIONS,
    ClientInput,
    ClientState,
)
from smartmeter_proto.aroute.association.server import (
    SERVER_TRANSITIONS,
    ServerInput,
    ServerState,
)
from smartmeter_proto.errors import SessionError
from smartmeter_proto.transitions import IllegalTransition, Transitions

TABLES = [
    (CLIENT_TRANSITIONS, ClientState, ClientInput, ClientState.IDLE),
    (SERVER_TRANSITIONS, ServerState, ServerInput, ServerState.IDLE),
]


@pytest.mark.parametrize(("table", "states", "inputs", "start"), TABLES)
def test_every_state_is_reachable_and_every_input_used(
    table: Transitions, states: type, inputs: type, start: object
) -> None:
    assert table.reachable(start) == set(states)
    assert {event for (_state, event) in table.moves} == set(inputs)


@pytest.mark.parametrize(("table", "states", "inputs", "start"), TABLES)
def test_a_pair_the_table_lacks_is_refused_by_name(
    table: Transitions, states: type, inputs: type, start: object
) -> None:
    for state, event in itertools.product(states, inputs):
        if table.allows(state, event):
            assert table.next(state, event) in set(states)
            continue
        with pytest.raises(IllegalTransition) as caught:
            table.next(state, event)
        assert state.name in str(caught.value)
        assert event.name in str(caught.value)
        assert isinstance(caught.value, SessionError)


def test_every_state_can_be_reset() -> None:
    for state in ClientState:
        assert CLIENT_TRANSITIONS.next(state, ClientInput.RESET) is ClientState.IDLE
    for server_state in ServerState:
        assert SERVER_TRANSITIONS.next(server_state, ServerInput.RESET) is ServerState.IDLE


def test_the_client_associates_only_from_idle_and_releases_only_when_associated() -> None:
    assert CLIENT_TRANSITIONS.inputs_of(ClientState.IDLE) == {
        ClientInput.ASSOCIATE,
        ClientInput.RESET,
    }
    assert CLIENT_TRANSITIONS.inputs_of(ClientState.ASSOCIATED) == {
        ClientInput.RELEASE,
        ClientInput.RESET,
    }
    # HLS: the challenge is answered only from ASSOCIATING, verified only from HLS_PENDING.
    assert not CLIENT_TRANSITIONS.allows(ClientState.ASSOCIATED, ClientInput.VERIFIED)
    assert not SERVER_TRANSITIONS.allows(ServerState.IDLE, ServerInput.VERIFIED)
    assert not SERVER_TRANSITIONS.allows(ServerState.ASSOCIATED, ServerInput.VERIFIED)
