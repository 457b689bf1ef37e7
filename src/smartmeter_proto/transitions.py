"""Transitions as data: a state machine's legal moves in one table, checked in one place.

``Transitions({(state, input): next_state, ...})`` is the whole set of moves of a machine
(the habit of h11's ``_state.py``). :meth:`Transitions.next` gives the next state or raises
:class:`IllegalTransition` naming both the state and the input; a machine assigns its state
only through it, so a move the table does not list cannot happen silently, and a test can
check the table itself (every state reachable, every input used, nothing left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Generic, TypeVar

from .errors import SessionError

__all__ = ["IllegalTransition", "Transitions"]

S = TypeVar("S", bound=Enum)
I = TypeVar("I", bound=Enum)  # noqa: E741


class IllegalTransition(SessionError):
    """A machine was asked to move on an input its state does not take."""

    def __init__(self, machine: str, state: Enum, event: Enum) -> None:
        super().__init__(f"{machine}: no move from {state.name} on {event.name}")
        self.state = state
        self.event = event


class Transitions(Generic[S, I]):
    """The legal moves of the machine ``name``: ``(state, input) -> next state``."""

    def __init__(self, name: str, moves: Mapping[tuple[S, I], S]) -> None:
        self.name = name
        self.moves: dict[tuple[S, I], S] = dict(moves)

    def next(self, state: S, event: I) -> S:
        try:
            return self.moves[(state, event)]
        except KeyError:
            raise IllegalTransition(self.name, state, event) from None

    def allows(self, state: S, event: I) -> bool:
        return (state, event) in self.moves

    def reachable(self, start: S) -> set[S]:
        """The states reachable from ``start`` (``start`` included)."""
        seen = {start}
        frontier = [start]
        while frontier:
            state = frontier.pop()
            for (origin, _event), target in self.moves.items():
                if origin == state and target not in seen:
                    seen.add(target)
                    frontier.append(target)
        return seen

    def inputs_of(self, state: S) -> set[I]:
        return {event for (origin, event) in self.moves if origin == state}

    def from_every(self, states: Iterable[S], event: I, target: S) -> Transitions[S, I]:
        """A copy with ``(state, event) -> target`` added for each of ``states``."""
        moves = dict(self.moves)
        for state in states:
            moves[(state, event)] = target
        return Transitions(self.name, moves)
