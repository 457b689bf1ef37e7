"""Sets of sequence numbers as sorted inclusive ranges, for :mod:`.` bookkeeping."""

from __future__ import annotations

import bisect
from collections.abc import Iterator


class Ranges:
    """A set of ints held as sorted, disjoint, non-adjacent inclusive ranges."""

    __slots__ = ("_firsts", "_lasts")

    def __init__(self) -> None:
        self._firsts: list[int] = []
        self._lasts: list[int] = []

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(list(zip(self._firsts, self._lasts, strict=True)))

    def __bool__(self) -> bool:
        return bool(self._firsts)

    def count(self) -> int:
        return sum(last - first + 1 for first, last in self)

    def __contains__(self, value: int) -> bool:
        i = bisect.bisect_right(self._firsts, value) - 1
        return i >= 0 and value <= self._lasts[i]

    def add(self, first: int, last: int) -> None:
        lo = bisect.bisect_left(self._lasts, first - 1)
        hi = bisect.bisect_right(self._firsts, last + 1)
        if lo < hi:
            first = min(first, self._firsts[lo])
            last = max(last, self._lasts[hi - 1])
        self._firsts[lo:hi] = [first]
        self._lasts[lo:hi] = [last]

    def remove(self, first: int, last: int) -> list[tuple[int, int]]:
        """Take ``first..last`` out; return the ranges that were actually removed."""
        lo = bisect.bisect_left(self._lasts, first)
        hi = bisect.bisect_right(self._firsts, last)
        if lo >= hi:
            return []
        removed = [
            (max(f, first), min(la, last))
            for f, la in zip(self._firsts[lo:hi], self._lasts[lo:hi], strict=True)
        ]
        keep_f: list[int] = []
        keep_l: list[int] = []
        if self._firsts[lo] < first:
            keep_f.append(self._firsts[lo])
            keep_l.append(first - 1)
        if self._lasts[hi - 1] > last:
            keep_f.append(last + 1)
            keep_l.append(self._lasts[hi - 1])
        self._firsts[lo:hi] = keep_f
        self._lasts[lo:hi] = keep_l
        return removed

    def within(self, first: int, last: int) -> list[tuple[int, int]]:
        """The parts of the set inside ``first..last``."""
        lo = bisect.bisect_left(self._lasts, first)
        hi = bisect.bisect_right(self._firsts, last)
        return [
            (max(f, first), min(la, last))
            for f, la in zip(self._firsts[lo:hi], self._lasts[lo:hi], strict=True)
        ]
