"""Meter side of back-fill (:mod:`.`): numbered readings in a bounded history."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from itertools import islice
from typing import Any, Final

from .records import FIRST_SEQ, MeterReading

__all__ = ["DEFAULT_CAPACITY", "DEFAULT_MAX_PER_ANSWER", "MeterStore"]

#: Readings a meter keeps by default: 60, after the next-generation requirement that
#: 1-minute values stay 60 minutes in the meter so gaps can be recovered 100 %
#: (METI smart meter study 2024 functions; see /work/shared/notes/requirements.md).
DEFAULT_CAPACITY: Final = 60
#: Readings per back-fill answer by default; the collector's ``max_range`` should not exceed it.
DEFAULT_MAX_PER_ANSWER: Final = 32


class MeterStore:
    """Meter side: numbers readings and keeps the newest ``capacity`` of them.

    ``capacity`` 0 keeps nothing (a device without storage: :meth:`latest` only);
    ``max_per_answer`` caps the readings one :meth:`range` answer carries.
    """

    def __init__(
        self,
        meter_id: str,
        capacity: int = DEFAULT_CAPACITY,
        *,
        max_per_answer: int = DEFAULT_MAX_PER_ANSWER,
    ) -> None:
        if capacity < 0 or max_per_answer < 1:
            raise ValueError("capacity must be >= 0 and max_per_answer >= 1")
        self.meter_id = meter_id
        self.capacity = capacity
        self.max_per_answer = max_per_answer
        self.evicted = 0
        self._kept: deque[MeterReading] = deque()
        self._latest: MeterReading | None = None

    @property
    def latest_seq(self) -> int:
        """The seq of the newest reading, 0 before the first."""
        return 0 if self._latest is None else self._latest.seq

    @property
    def oldest_kept_seq(self) -> int | None:
        """The lowest seq still kept, or None when nothing is kept."""
        return self._kept[0].seq if self._kept else None

    def record(self, value: Any, now: float) -> MeterReading:
        """Number ``value`` with the next seq, keep it (evicting the oldest when full)."""
        reading = MeterReading(self.meter_id, self.latest_seq + 1, now, value)
        self._latest = reading
        if self.capacity:
            if len(self._kept) == self.capacity:
                self._kept.popleft()
                self.evicted += 1
            self._kept.append(reading)
        return reading

    def latest(self) -> MeterReading | None:
        """The newest reading, kept or not (what a storeless device sends)."""
        return self._latest

    def range(self, first: int, last: int) -> list[MeterReading]:
        """Answer a back-fill request: kept readings of ``first..last``, lowest first.

        Clipped to what is kept and to ``max_per_answer``; what is cut off at the
        top is for a later request. An empty list says none of it is kept.
        """
        if not FIRST_SEQ <= first <= last:
            raise ValueError(f"need {FIRST_SEQ} <= first <= last, got {first}..{last}")
        if not self._kept:
            return []
        oldest = self._kept[0].seq
        low = max(first, oldest)
        high = min(last, self._kept[-1].seq, low + self.max_per_answer - 1)
        if low > high:
            return []
        return list(islice(self._kept, low - oldest, high - oldest + 1))

    def chunks(self, first: int, last: int) -> Iterator[list[MeterReading]]:
        """Every answer needed to cover ``first..last``, each within ``max_per_answer``."""
        low = first
        while low <= last:
            answer = self.range(low, last)
            if not answer:
                return
            yield answer
            low = answer[-1].seq + 1
