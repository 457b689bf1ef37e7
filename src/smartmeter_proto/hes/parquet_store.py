"""The head end's store with its readings in Parquet: a hive-partitioned dataset that Dask,
pyarrow or any Parquet engine reads, beside a small SQLite file for the collector's state.

Layout of the store folder ``DIR``:

* ``DIR/state.sqlite`` (with its ``-wal``/``-shm`` files): the :class:`~.storage.Store`
  tables that the collector needs back (meters, power events, absent entries, drops, marks,
  cursors, the run's plan, the invocation counter and the replay floors), and
  ``readings`` as a *staging* table: rows committed but not yet moved to Parquet;
* ``DIR/readings/date=YYYY-MM-DD/hour=HH/part-SSSSSSSS.parquet``: the readings. ``date``
  and ``hour`` are those of ``period_end`` in Japan Standard Time (UTC+9, no daylight
  saving), the meters' local time; ``SSSSSSSS`` numbers the move that wrote the file.

Columns of every readings file (one row per reading; the collector stores the first
arrival of a (system_title, period, period_end) only, a reader meeting a key twice takes
the earliest ``received_at``):

================ ============== =========================================================
``system_title`` string         the meter's system title, 16 upper-case hex digits
``period``       int32          capture period, s (1800: 30-minute, 300: 5-minute value)
``period_end``   int64          the meter's capture time, POSIX s (UTC)
``received_at``  float64        head-end time the reading was first stored, POSIX s
``via``          string         ``push``, ``backfill`` (read back from the profile) or ``log``
``values``       list<int64>    raw register values (before the scaler) in the capture
                                object order of the profile (``specs/cosem/profiles.yaml``)
================ ============== =========================================================

Partition columns, as a hive-aware reader adds them: ``date`` (string ``YYYY-MM-DD``) and
``hour`` (``00``..``23``; an integer once parsed, e.g. by
``pyarrow.dataset.dataset(DIR / "readings", partitioning="hive")``).

Writing: what the collector commits is durable at once, in the staging table, in the same
SQLite transaction as the replay floors and marks (:meth:`Store.commit`: commit before
acknowledge holds as for the SQLite store). When ``batch_rows`` rows are staged (and at
:meth:`ParquetStore.close`) a *move* streams them, ordered by ``period_end``, into one new
file per partition in chunks of ``chunk_rows`` (memory stays bounded whatever the batch),
fsyncs the files, renames them into place, then deletes the staged rows and records the
move number in one transaction. A process killed between the rename and that commit
leaves files whose move is not recorded: the next open removes them (the rows are still
staged), so every reading lands in exactly one file.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.dataset as ds  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from .storage import DEFAULT_MAX_BUFFERED, VIA_BACKFILL, VIA_LOG, VIA_PUSH, Store

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "PARTITIONING",
    "READINGS_DIR",
    "READINGS_SCHEMA",
    "STATE_FILE",
    "ParquetStore",
    "clear_parquet_store",
]

#: The SQLite state file and the readings dataset folder inside the store folder.
STATE_FILE: Final = "state.sqlite"
READINGS_DIR: Final = "readings"
#: Staged rows that trigger a move to Parquet (at the commit that reaches them).
DEFAULT_BATCH_ROWS: Final = 65_536
#: Rows per Arrow batch while moving (one row group each): the move's memory bound.
DEFAULT_CHUNK_ROWS: Final = 8192
#: Japan Standard Time, UTC+9 without daylight saving: the partitions' clock.
_JST_OFFSET_S: Final = 9 * 3600
_DAY_S: Final = 86_400
_HOUR_S: Final = 3600
_UNIX_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_VIA_NAMES: Final = {VIA_PUSH: "push", VIA_BACKFILL: "backfill", VIA_LOG: "log"}
_PART_GLOB: Final = "part-*.parquet"
_TMP_PREFIX: Final = ".tmp-"

READINGS_SCHEMA: Final = pa.schema(
    [
        pa.field("system_title", pa.string(), nullable=False),
        pa.field("period", pa.int32(), nullable=False),
        pa.field("period_end", pa.int64(), nullable=False),
        pa.field("received_at", pa.float64(), nullable=False),
        pa.field("via", pa.string(), nullable=False),
        pa.field("values", pa.list_(pa.int64()), nullable=False),
    ]
)
#: The hive partitioning of the readings dataset, typed (no inference).
PARTITIONING: Final = ds.partitioning(
    pa.schema([pa.field("date", pa.string()), pa.field("hour", pa.int8())]), flavor="hive"
)

_MOVES_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS parquet_moves (
    seq INTEGER PRIMARY KEY,
    rows INTEGER NOT NULL
);
"""
_STAGED: Final = (
    "SELECT system_title, period, period_end, received_at, via, active_import, "
    "active_export, other_values FROM readings"
)


def _values(imported: int | None, exported: int | None, other: str | None) -> list[int]:
    """A staged row's register values, in order (the :class:`~.storage.Store` columns)."""
    head = [v for v in (imported, exported) if v is not None]
    return head + (json.loads(other) if other else [])


class _Partition:
    """``date=YYYY-MM-DD/hour=HH`` of a capture time, cached per hour."""

    __slots__ = ("cache",)

    def __init__(self) -> None:
        self.cache: dict[int, str] = {}

    def __call__(self, period_end: int) -> tuple[int, str]:
        local_hour = (period_end + _JST_OFFSET_S) // _HOUR_S
        name = self.cache.get(local_hour)
        if name is None:
            day = date.fromordinal(_UNIX_EPOCH_ORDINAL + local_hour * _HOUR_S // _DAY_S)
            name = self.cache[local_hour] = f"date={day.isoformat()}/hour={local_hour % 24:02d}"
        return local_hour, name


def clear_parquet_store(folder: str | os.PathLike[str]) -> None:
    """Remove the store kept in ``folder`` (its state files and readings), nothing else."""
    root = Path(folder)
    for suffix in ("", "-wal", "-shm"):
        (root / f"{STATE_FILE}{suffix}").unlink(missing_ok=True)
    readings = root / READINGS_DIR
    if not readings.is_dir():
        return
    for day in readings.glob("date=*"):
        for hour in day.glob("hour=*"):
            for part in (*hour.glob(_PART_GLOB), *hour.glob(f"{_TMP_PREFIX}*")):
                part.unlink()
            _rmdir_if_empty(hour)
        _rmdir_if_empty(day)
    _rmdir_if_empty(readings)


def _rmdir_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # something else lives there: keep it
        folder.rmdir()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ParquetStore(Store):
    """A :class:`~.storage.Store` whose readings end up in the Parquet dataset under
    ``folder`` (module text); everything else stays in ``folder/state.sqlite``.

    ``folder`` is created if missing (its parent must exist). ``batch_rows``: staged rows
    that trigger a move to Parquet; ``chunk_rows``: rows per Arrow batch while moving."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
    ) -> None:
        if batch_rows < 1 or chunk_rows < 1:
            raise ValueError("batch_rows and chunk_rows must be >= 1")
        self.folder = Path(folder)
        self.folder.mkdir(exist_ok=True)
        self.readings_dir = self.folder / READINGS_DIR
        self.batch_rows = batch_rows
        self.chunk_rows = chunk_rows
        super().__init__(self.folder / STATE_FILE, max_buffered=max_buffered)
        self.db.executescript(_MOVES_SCHEMA)
        row = self.db.execute("SELECT max(seq) FROM parquet_moves").fetchone()
        self._moves = int(row[0] or 0)
        self._remove_unrecorded()
        # an upper bound of the rows staged (copies the table ignores count too); every
        # reading goes through add_reading_values (Store.add_reading calls it)
        self._staged = int(self.db.execute("SELECT count(*) FROM readings").fetchone()[0])

    # ------------------------------------------------------------------ writing
    def add_reading_values(
        self,
        system_title: bytes,
        period: int,
        period_end: int,
        received_at: float,
        via: int,
        values: tuple[int, ...],
    ) -> None:
        self._staged += 1
        super().add_reading_values(system_title, period, period_end, received_at, via, values)

    def commit(self) -> None:
        """:meth:`Store.commit`, then a move to Parquet once ``batch_rows`` are staged."""
        super().commit()
        if self._staged >= self.batch_rows:
            self.move()

    def move(self) -> int:
        """Move every committed staged row into new Parquet files (module text); rows moved."""
        seq = self._moves + 1
        name = f"part-{seq:08d}.parquet"
        partition = _Partition()
        written: list[tuple[Path, Path]] = []
        writer: Any = None
        current: int | None = None
        chunk: list[tuple[Any, ...]] = []
        moved = 0

        def write_chunk() -> None:
            if chunk:
                writer.write_table(_table(chunk))
                chunk.clear()

        try:
            for row in self.db.execute(_STAGED + " ORDER BY period_end, system_title, period"):
                hour, folder = partition(row[2])
                if hour != current:
                    if writer is not None:
                        write_chunk()
                        writer.close()
                    final = self.readings_dir / folder / name
                    final.parent.mkdir(parents=True, exist_ok=True)
                    tmp = final.with_name(_TMP_PREFIX + name)
                    writer = pq.ParquetWriter(tmp, READINGS_SCHEMA)
                    written.append((tmp, final))
                    current = hour
                chunk.append(row)
                moved += 1
                if len(chunk) >= self.chunk_rows:
                    write_chunk()
            if writer is not None:
                write_chunk()
                writer.close()
                writer = None
        finally:
            if writer is not None:  # failed mid-way: nothing of this move stays
                writer.close()
                for tmp, _ in written:
                    tmp.unlink(missing_ok=True)
        for tmp, final in written:
            _fsync(tmp)
            os.replace(tmp, final)
        for parent in {final.parent for _, final in written}:
            _fsync(parent)
        with self.db:
            self.db.execute("DELETE FROM readings")
            self.db.execute("INSERT INTO parquet_moves VALUES (?, ?)", (seq, moved))
        self._moves = seq
        self._staged = 0
        return moved

    def close(self) -> None:
        """Commit, move what is staged to Parquet, close the state database."""
        super().commit()
        if self._staged:
            self.move()
        super().close()

    def _remove_unrecorded(self) -> None:
        """Files of a move whose commit never happened (killed mid-move), and temp files."""
        if not self.readings_dir.is_dir():
            return
        for path in self.readings_dir.glob(f"date=*/hour=*/{_TMP_PREFIX}*"):
            path.unlink()
        for path in self.readings_dir.glob(f"date=*/hour=*/{_PART_GLOB}"):
            try:
                seq = int(path.stem.removeprefix("part-"))
            except ValueError:
                continue  # not one of ours
            if seq > self._moves:
                path.unlink()

    # ------------------------------------------------------------------ reading back
    def dataset(self) -> Any:
        """The readings as a :class:`pyarrow.dataset.Dataset` (None when none was moved)."""
        files = sorted(self.readings_dir.glob(f"date=*/hour=*/{_PART_GLOB}"))
        if not files:
            return None
        return ds.dataset(
            [str(f) for f in files],
            schema=READINGS_SCHEMA,
            format="parquet",
            partitioning=PARTITIONING,
            partition_base_dir=str(self.readings_dir),
        )

    def _scan(self, columns: list[str], condition: Any = None) -> Iterator[dict[str, list[Any]]]:
        """The moved rows, one Arrow batch at a time, as column lists."""
        dataset = self.dataset()
        if dataset is None:
            return
        for batch in dataset.to_batches(
            columns=columns, filter=condition, batch_size=self.chunk_rows
        ):
            yield {name: batch.column(name).to_pylist() for name in columns}

    def received_times(self, t0: float, end: float) -> Iterator[tuple[bytes, int, int, float]]:
        """(system title, period, period end, received_at) of every reading stored with
        ``t0 < period_end <= end``: the moved ones, then the staged ones."""
        self.flush()
        field = ds.field("period_end")
        titles = _Titles()
        for cols in self._scan(
            ["system_title", "period", "period_end", "received_at"], (field > t0) & (field <= end)
        ):
            yield from zip(
                map(titles, cols["system_title"]),
                cols["period"],
                cols["period_end"],
                cols["received_at"],
                strict=True,
            )
        yield from super().received_times(t0, end)  # the staged ones

    def settled_above(
        self, marks: dict[tuple[bytes, int], int]
    ) -> dict[tuple[bytes, int], list[int]]:
        out = super().settled_above(marks)  # staged readings and absent entries
        titles = _Titles()
        for cols in self._scan(["system_title", "period", "period_end"]):
            for hex_title, period, at in zip(
                cols["system_title"], cols["period"], cols["period_end"], strict=True
            ):
                key = (titles(hex_title), period)
                if at > marks.get(key, -1):
                    out.setdefault(key, []).append(at)
        for times in out.values():
            times.sort()
        return out

    def readings(self, period: int | None = None) -> dict[tuple[bytes, int, int], tuple[int, ...]]:
        staged = super().readings(period)
        condition = None if period is None else ds.field("period") == period
        titles = _Titles()
        out: dict[tuple[bytes, int, int], tuple[int, ...]] = {}
        for cols in self._scan(["system_title", "period", "period_end", "values"], condition):
            for hex_title, p, at, values in zip(
                cols["system_title"],
                cols["period"],
                cols["period_end"],
                cols["values"],
                strict=True,
            ):
                out.setdefault((titles(hex_title), p, at), tuple(values))
        for key, values in staged.items():
            out.setdefault(key, values)
        return out


class _Titles:
    """Upper-case hex system titles back to bytes, each converted once."""

    __slots__ = ("cache",)

    def __init__(self) -> None:
        self.cache: dict[str, bytes] = {}

    def __call__(self, text: str) -> bytes:
        title = self.cache.get(text)
        if title is None:
            title = self.cache[text] = bytes.fromhex(text)
        return title


def _table(rows: Iterable[tuple[Any, ...]]) -> Any:
    """Staged rows (the :data:`_STAGED` columns) as a table of :data:`READINGS_SCHEMA`."""
    titles: list[str] = []
    periods: list[int] = []
    ends: list[int] = []
    received: list[float] = []
    via: list[str] = []
    values: list[list[int]] = []
    for title, period, end, at, how, imported, exported, other in rows:
        titles.append(bytes(title).hex().upper())
        periods.append(period)
        ends.append(end)
        received.append(at)
        via.append(_VIA_NAMES.get(how, str(how)))
        values.append(_values(imported, exported, other))
    return pa.Table.from_arrays(
        [
            pa.array(titles, pa.string()),
            pa.array(periods, pa.int32()),
            pa.array(ends, pa.int64()),
            pa.array(received, pa.float64()),
            pa.array(via, pa.string()),
            pa.array(values, pa.list_(pa.int64())),
        ],
        schema=READINGS_SCHEMA,
    )
