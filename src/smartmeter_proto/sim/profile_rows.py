"""A compact profile buffer for simulated meters: raw values in, ``Data`` rows out.

A :class:`~smartmeter_proto.aroute.cosem.ProfileGeneric` keeps its entries as tuples of
:class:`~smartmeter_proto.aroute.axdr.Data` (Blue Book class 7, attribute 2). A fleet of
100 000 meters captures about five million entries a day, so a simulated meter swaps in
:class:`CompactRows`: each entry is stored as the tuple of its raw values, the column types
once for the buffer, and the ``Data`` tuples are built again only when the buffer is read
(a back-fill, rare). Same sequence behaviour as the list it replaces (FIFO trimming, clear,
slices), so the profile object does not know the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableSequence
from typing import Any, overload

from ..aroute.axdr import Data, DataType

__all__ = ["CompactRows"]

_Row = tuple[Data, ...]


class CompactRows(MutableSequence[_Row]):
    """Profile entries as raw-value tuples under one shared tuple of column types."""

    __slots__ = ("_rows", "_types")

    def __init__(self, rows: Iterable[_Row] = ()) -> None:
        self._types: tuple[DataType, ...] | None = None
        #: raw values, or the Data row itself when its types differ from the buffer's
        self._rows: list[tuple[Any, ...]] = []
        for row in rows:
            self.append(row)

    def _pack(self, row: _Row) -> tuple[Any, ...]:
        types = tuple(d.type for d in row)
        if self._types is None:
            self._types = types
        if types != self._types or any(isinstance(d.value, tuple) for d in row):
            return (row,)  # a row of another shape: kept as it is (tagged by the 1-tuple)
        return tuple(d.value for d in row)

    def _unpack(self, raw: tuple[Any, ...]) -> _Row:
        types = self._types
        if types is None or len(raw) != len(types) or (len(raw) == 1 and isinstance(raw[0], tuple)):
            row: _Row = raw[0]
            return row
        return tuple(Data(t, v) for t, v in zip(types, raw, strict=True))

    @overload
    def __getitem__(self, index: int) -> _Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[_Row]: ...

    def __getitem__(self, index: int | slice) -> _Row | list[_Row]:
        if isinstance(index, slice):
            return [self._unpack(r) for r in self._rows[index]]
        return self._unpack(self._rows[index])

    @overload
    def __setitem__(self, index: int, value: _Row) -> None: ...

    @overload
    def __setitem__(self, index: slice, value: Iterable[_Row]) -> None: ...

    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            self._rows[index] = [self._pack(tuple(r)) for r in value]
        else:
            self._rows[index] = self._pack(tuple(value))

    def __delitem__(self, index: int | slice) -> None:
        del self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[_Row]:
        return (self._unpack(r) for r in self._rows)

    def insert(self, index: int, value: _Row) -> None:
        self._rows.insert(index, self._pack(tuple(value)))

    def append(self, value: _Row) -> None:
        self._rows.append(self._pack(tuple(value)))

    def clear(self) -> None:
        self._rows.clear()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Iterable) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CompactRows({len(self._rows)} entries)"
