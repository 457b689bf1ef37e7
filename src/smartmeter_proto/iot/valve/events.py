"""Events and reject reasons of valve control (:mod:`.`): frozen records, no logic."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..frame import AckResult, ValveReservation, ValveState

__all__ = [
    "Acknowledged",
    "CommandDuplicate",
    "Event",
    "GaveUp",
    "RejectReason",
    "Rejected",
    "ReservationCancelled",
    "ReservationExpired",
    "ReservationFired",
    "ReservationStored",
    "StatusReported",
    "UnmatchedAck",
    "ValveChanged",
]


class RejectReason(StrEnum):
    """Why an incoming frame or command had no effect."""

    MALFORMED = "malformed"  # COSE or frame DecodeError
    AUTH_FAILED = "auth-failed"  # unknown kid, wrong key, flipped bit
    REPLAY = "replay"  # seq already seen or older than the replay window
    SEQ_MISMATCH = "seq-mismatch"  # envelope seq differs from the COSE Partial IV
    WRONG_METER = "wrong-meter"
    WRONG_KIND = "wrong-kind"
    UNEXPECTED_MESSAGE = "unexpected-message"
    UNKNOWN_ACTION = "unknown-action"
    TOO_LATE = "too-late"  # activation time passed by more than the tolerance
    BUSY = "busy"  # a reservation is already pending
    NOT_FOUND = "not-found"  # cancel of an id with no pending reservation
    ID_REUSED = "id-reused"  # known command id with different content
    CANCELLED = "cancelled"  # command arrived after a cancel of its id
    STALE_STATUS = "stale-status"  # status older than one already applied


# ------------------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame or command changed nothing; ``command_id`` when one was readable."""

    reason: RejectReason
    command_id: int | None = None


@dataclass(frozen=True, slots=True)
class ValveChanged:
    """The valve moved from ``previous`` to ``state`` because of ``command_id``."""

    previous: ValveState
    state: ValveState
    command_id: int


@dataclass(frozen=True, slots=True)
class ReservationStored:
    reservation: ValveReservation


@dataclass(frozen=True, slots=True)
class ReservationCancelled:
    reservation: ValveReservation


@dataclass(frozen=True, slots=True)
class ReservationFired:
    reservation: ValveReservation


@dataclass(frozen=True, slots=True)
class ReservationExpired:
    """The timer ran more than the tolerance after ``activate_at``: dropped, not applied."""

    reservation: ValveReservation


@dataclass(frozen=True, slots=True)
class CommandDuplicate:
    """A command id already handled came again: same ack re-sent, nothing changed."""

    command_id: int
    result: AckResult


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """Head-end: the meter answered ``command_id`` (a command or, if ``cancel``, a cancel)."""

    command_id: int
    result: AckResult | int
    cancel: bool


@dataclass(frozen=True, slots=True)
class UnmatchedAck:
    """Head-end: an authentic ack for nothing outstanding (late or duplicate answer)."""

    command_id: int
    result: AckResult | int


@dataclass(frozen=True, slots=True)
class StatusReported:
    state: ValveState | int
    pending: ValveReservation | None


@dataclass(frozen=True, slots=True)
class GaveUp:
    """Head-end: no answer to ``command_id`` after every attempt."""

    command_id: int
    cancel: bool


Event = (
    Rejected
    | ValveChanged
    | ReservationStored
    | ReservationCancelled
    | ReservationFired
    | ReservationExpired
    | CommandDuplicate
    | Acknowledged
    | UnmatchedAck
    | StatusReported
    | GaveUp
)
