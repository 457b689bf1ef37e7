"""Records of back-fill (:mod:`.`): readings, requests, events and completeness reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

__all__ = [
    "FIRST_SEQ",
    "BackfillDue",
    "Completeness",
    "DuplicateReading",
    "Event",
    "FleetCompleteness",
    "GapDetected",
    "GapFilled",
    "LossReason",
    "MeterReading",
    "NewReading",
    "RequestAbandoned",
    "Unrecoverable",
]

#: The first sequence number a meter assigns.
FIRST_SEQ: Final = 1


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One metered value: ``seq`` counts from 1 per meter, ``time`` is the meter's clock (s)."""

    meter_id: str
    seq: int
    time: float
    value: Any

    def __post_init__(self) -> None:
        if self.seq < FIRST_SEQ:
            raise ValueError(f"seq must be >= {FIRST_SEQ}, got {self.seq}")


@dataclass(frozen=True, slots=True)
class BackfillDue:
    """Ask ``meter_id`` to re-send readings ``first`` to ``last`` (inclusive)."""

    meter_id: str
    first: int
    last: int

    def __post_init__(self) -> None:
        if not FIRST_SEQ <= self.first <= self.last:
            raise ValueError(f"need {FIRST_SEQ} <= first <= last, got {self.first}..{self.last}")


class LossReason(IntEnum):
    """Why a range will never be collected."""

    #: The meter answered without it: evicted from its store, or it has no store.
    GONE_FROM_METER = 1
    #: The meter never answered back-fill requests for it (``retry_limit`` rounds).
    NO_ANSWER = 2


@dataclass(frozen=True, slots=True)
class NewReading:
    """A reading with the next expected seq (or higher, after a :class:`GapDetected`)."""

    reading: MeterReading


@dataclass(frozen=True, slots=True)
class GapFilled:
    """A reading that was missing arrived: late, reordered, or back-filled."""

    reading: MeterReading
    backfilled: bool


@dataclass(frozen=True, slots=True)
class DuplicateReading:
    """A seq already held arrived again; ignored. ``conflicting`` if its value or time differ."""

    reading: MeterReading
    conflicting: bool


@dataclass(frozen=True, slots=True)
class GapDetected:
    """Seqs ``first``..``last`` are now known to exist and are missing."""

    meter_id: str
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class Unrecoverable:
    """Seqs ``first``..``last`` will not be asked for again."""

    meter_id: str
    first: int
    last: int
    reason: LossReason


@dataclass(frozen=True, slots=True)
class RequestAbandoned:
    """A request went unanswered ``attempts`` times; the meter is left alone until it shows life."""

    meter_id: str
    first: int
    last: int
    attempts: int


Event = NewReading | GapFilled | DuplicateReading | GapDetected | Unrecoverable | RequestAbandoned


@dataclass(frozen=True, slots=True)
class Completeness:
    """Collection state of one meter: seqs ``1..expected``, of which ``received`` are held."""

    meter_id: str
    received: int
    expected: int
    missing_ranges: tuple[tuple[int, int], ...]
    unrecoverable_ranges: tuple[tuple[int, int], ...]
    ratio: float


@dataclass(frozen=True, slots=True)
class FleetCompleteness:
    """Collection state summed over every meter the collector has heard of."""

    meters: int
    received: int
    expected: int
    unrecoverable: int
    incomplete_meters: tuple[str, ...]
    ratio: float


#: Former names, kept for one release (``iot.frame`` has the wire messages of these names).
Reading = MeterReading
BackfillRequest = BackfillDue
