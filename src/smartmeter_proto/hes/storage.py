"""The head end's store: one embedded SQLite database (no server), written in batches.

Tables (times are POSIX seconds; ``period_end`` is the meter's capture time):

* ``meters``: each provisioned meter's system title and class (5-minute, real-time);
* ``readings``: one row per (meter, period, period_end) with its raw register values, the
  simulated time it was first stored (``received_at``) and how (``via``: push or back-fill).
  The first arrival wins: a later copy never moves ``received_at``;
* ``power_events``: Last Gasp (kind 1) and restoration (kind 2) per meter, from pushes or
  read back from the meter's power event log;
* ``absent``: entries a meter answered it does not have (a back-fill range came back
  without them), so the collector stops asking;
* ``drops``: datagrams dropped by reason (malformed, forged, replayed, unknown meter, ...);
* ``marks``: per meter and period, the capture time up to which everything is settled
  (stored or absent), so a restarted collector reads only what lies above it;
* ``collector_state``: the collector's own cursors (next gap check per period, next pull);
* ``security_state`` (:class:`~smartmeter_proto.security_state.SqliteStateStore` on the same
  connection): the head end's invocation counter and the meters' replay floors.

Rows are buffered and written with ``executemany`` by :meth:`Store.commit`, in one
transaction with the replay floors and marks written since the last commit: what the
collector considers collected is on disk together with what protects it from a replay.
The replay floors of :meth:`Store.replay_floors` wait in memory too, the highest per
meter, and are written with the rows. When ``max_buffered`` rows wait, they and the floors
are written into the open transaction (memory stays bounded); only a commit makes them
durable, so a process killed before it loses them all together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

from ..security_state import ReplayFloors, SqliteStateStore
from .push import PowerEvent, ValueReading

__all__ = ["DEFAULT_MAX_BUFFERED", "MEMORY", "VIA_BACKFILL", "VIA_LOG", "VIA_PUSH", "Store"]

VIA_PUSH: Final = 0
VIA_BACKFILL: Final = 1
VIA_LOG: Final = 2

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meters (
    system_title BLOB PRIMARY KEY,
    five_min INTEGER NOT NULL,
    realtime INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readings (
    system_title BLOB NOT NULL,
    period INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    received_at REAL NOT NULL,
    via INTEGER NOT NULL,
    active_import INTEGER,
    active_export INTEGER,
    other_values TEXT,
    PRIMARY KEY (system_title, period, period_end)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS power_events (
    system_title BLOB NOT NULL,
    kind INTEGER NOT NULL,
    at INTEGER NOT NULL,
    received_at REAL NOT NULL,
    via INTEGER NOT NULL,
    PRIMARY KEY (system_title, kind, at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS absent (
    system_title BLOB NOT NULL,
    period INTEGER NOT NULL,
    period_end INTEGER NOT NULL,
    answered_at REAL NOT NULL,
    PRIMARY KEY (system_title, period, period_end)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drops (
    reason TEXT PRIMARY KEY,
    count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS run (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS marks (
    system_title BLOB NOT NULL,
    period INTEGER NOT NULL,
    mark INTEGER NOT NULL,
    PRIMARY KEY (system_title, period)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS collector_state (
    name TEXT PRIMARY KEY,
    value REAL NOT NULL
) WITHOUT ROWID;
"""
#: Path that selects a throw-away database living in memory (say so explicitly).
MEMORY: Final = ":memory:"
#: Rows buffered before they are written into the open transaction (not committed).
DEFAULT_MAX_BUFFERED: Final = 8192
#: Page cache of the store's connection, KiB (SQLite ``PRAGMA cache_size``, negative:
#: KiB; its default is 2 MiB). The collector writes each meter's rows into that meter's
#: part of the B-trees, so a commit touches about one page per meter heard from.
_CACHE_KIB: Final = 128 * 1024
#: WAL pages before SQLite copies them back into the database (``PRAGMA
#: wal_autocheckpoint``; its default is 1000). A page rewritten by many commits in a row is
#: copied back once per checkpoint, so fewer checkpoints write less; durability is the same
#: (https://www.sqlite.org/wal.html, "Automatic Checkpoint").
_WAL_AUTOCHECKPOINT_PAGES: Final = 16384
_INSERT_READING: Final = "INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_EVENT: Final = "INSERT OR IGNORE INTO power_events VALUES (?, ?, ?, ?, ?)"
_INSERT_ABSENT: Final = "INSERT OR IGNORE INTO absent VALUES (?, ?, ?, ?)"
_ReadingRow = tuple[bytes, int, int, float, int, int | None, int | None, str | None]
#: "[%d, %d, ...]" by count: the JSON text ``json.dumps`` gives a tuple of ints, built
#: without the encoder (register values are ints, never bools).
_INT_LISTS: dict[int, str] = {}


def _int_list(values: tuple[int, ...]) -> str:
    """``json.dumps(values)`` of a tuple of plain ints."""
    template = _INT_LISTS.get(len(values))
    if template is None:
        template = _INT_LISTS[len(values)] = "[" + ", ".join(["%d"] * len(values)) + "]"
    return template % values


class _PendingFloors(ReplayFloors):
    """Replay floors whose records wait in memory, the highest per peer, until the store
    writes them with the rows they protect (:meth:`Store.commit`); reads see them.

    ``waiting`` is the store's list of the floors with records waiting: a floors object
    joins it with its first waiting record, so a commit visits only those (a head end
    has one floors object per meter key, and commits after every batch of datagrams)."""

    __slots__ = ("pending", "waiting")

    def __init__(
        self, store: SqliteStateStore, namespace: str, waiting: list[_PendingFloors]
    ) -> None:
        super().__init__(store, namespace, durable=False)
        self.pending: dict[bytes | str, int] = {}
        self.waiting = waiting

    def floor(self, peer: bytes | str) -> int | None:
        stored = super().floor(peer)
        waiting = self.pending.get(peer)
        if waiting is None or (stored is not None and stored >= waiting):
            return stored
        return waiting

    def record(self, peer: bytes | str, counter: int) -> None:
        if type(counter) is not int or counter < 0:  # as the store would refuse it
            raise ValueError(f"a stored counter is a non-negative int, not {counter!r}")
        pending = self.pending
        if counter > pending.get(peer, -1):
            if not pending:
                self.waiting.append(self)
            pending[peer] = counter

    def write_pending(self) -> None:
        """The waiting floors into the open transaction (the store commits them); the
        caller takes this object off the store's ``waiting`` list."""
        if self.pending:
            super().record_many(self.pending.items())
            self.pending.clear()


class Store:
    """The SQLite store at ``path``; :data:`MEMORY` (``":memory:"``) for a throw-away one,
    which a restarted collector cannot resume from, so it must be asked for by name.

    WAL with ``synchronous=NORMAL``: a commit survives the process being killed (what a
    restart needs); a power loss may lose the last commits, never the database."""

    def __init__(self, path: str | Path, *, max_buffered: int = DEFAULT_MAX_BUFFERED) -> None:
        self.path = str(path)
        if not self.path:
            raise ValueError(f"a store needs a path (or {MEMORY!r} for a throw-away one)")
        if max_buffered < 1:
            raise ValueError("max_buffered must be >= 1")
        self.max_buffered = max_buffered
        self.db = sqlite3.connect(self.path)
        self.db.execute(
            "PRAGMA journal_mode=WAL" if self.path != MEMORY else "PRAGMA journal_mode=MEMORY"
        )
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
        self.db.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT_PAGES}")
        self.db.executescript(_SCHEMA)
        #: Counters and replay floors, on this connection: they commit with the readings.
        self.security_state = SqliteStateStore(self.db)
        #: the replay floors with records waiting to be written (see _PendingFloors)
        self._floors_waiting: list[_PendingFloors] = []
        self._readings: list[_ReadingRow] = []
        self._events: list[tuple[bytes, int, int, float, int]] = []
        self._absent: list[tuple[bytes, int, int, float]] = []
        self._drops: dict[str, int] = {}
        self._marks: dict[tuple[bytes, int], int] = {}
        self._state: dict[str, float] = {}

    def replay_floors(self, namespace: str) -> ReplayFloors:
        """Replay floors in :attr:`security_state` under ``namespace`` whose records are
        written with the buffered rows, in the same transaction (never before them)."""
        return _PendingFloors(self.security_state, namespace, self._floors_waiting)

    def add_meters(self, meters: Iterable[tuple[bytes, bool, bool]]) -> None:
        """(system title, five_min, realtime) of each provisioned meter."""
        self.db.executemany(
            "INSERT OR REPLACE INTO meters VALUES (?, ?, ?)",
            ((t, int(f), int(r)) for t, f, r in meters),
        )
        self.db.commit()

    def add_reading(self, reading: ValueReading, received_at: float, via: int) -> None:
        self.add_reading_values(
            reading.system_title,
            reading.period,
            reading.period_end,
            received_at,
            via,
            reading.values,
        )

    def add_reading_values(
        self,
        system_title: bytes,
        period: int,
        period_end: int,
        received_at: float,
        via: int,
        values: tuple[int, ...],
    ) -> None:
        """:meth:`add_reading` from plain values (the collector's push path builds no
        :class:`ValueReading`)."""
        rows = self._readings
        count = len(values)
        if count == 2:
            rows.append(
                (system_title, period, period_end, received_at, via, values[0], values[1], None)
            )
        else:
            rows.append(
                (
                    system_title,
                    period,
                    period_end,
                    received_at,
                    via,
                    values[0] if count else None,
                    values[1] if count > 1 else None,
                    _int_list(values[2:]) if count > 2 else None,
                )
            )
        if len(rows) >= self.max_buffered:
            self._write_buffered()

    def add_event(self, event: PowerEvent, received_at: float, via: int) -> None:
        self._events.append((event.system_title, int(event.kind), event.at, received_at, via))
        if len(self._events) >= self.max_buffered:
            self._write_buffered()

    def add_absent(
        self, system_title: bytes, period: int, period_end: int, answered_at: float
    ) -> None:
        self._absent.append((system_title, period, period_end, answered_at))
        if len(self._absent) >= self.max_buffered:
            self._write_buffered()

    def count_drop(self, reason: str) -> None:
        self._drops[reason] = self._drops.get(reason, 0) + 1

    def set_mark(self, system_title: bytes, period: int, mark: int) -> None:
        """Everything of ``period`` up to capture time ``mark`` is settled (next commit)."""
        self._marks[(system_title, period)] = mark

    def set_state(self, name: str, value: float) -> None:
        """A collector cursor, written with the next commit."""
        self._state[name] = value

    def set_run(self, **values: object) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO run VALUES (?, ?)",
            ((k, json.dumps(v)) for k, v in values.items()),
        )
        self.db.commit()

    def run_info(self) -> dict[str, object]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM run")}

    def flush(self) -> None:
        """Write what is buffered in one transaction (see :meth:`commit`)."""
        self.commit()

    def _write_buffered(self) -> None:
        """Rows and replay floors into the open transaction (one executemany per table),
        not committed: :meth:`commit` makes them durable, a kill loses them together."""
        if self._readings:
            self.db.executemany(_INSERT_READING, self._readings)
            self._readings.clear()
        if self._events:
            self.db.executemany(_INSERT_EVENT, self._events)
            self._events.clear()
        if self._absent:
            self.db.executemany(_INSERT_ABSENT, self._absent)
            self._absent.clear()
        if self._floors_waiting:
            for floors in self._floors_waiting:
                floors.write_pending()
            self._floors_waiting.clear()

    def commit(self) -> None:
        """Write what is buffered and commit it, with every deferred write made on this
        connection since the last commit (replay floors), in one transaction."""
        with self.db:
            self._write_buffered()
            self.db.executemany(
                "INSERT INTO drops VALUES (?, ?) "
                "ON CONFLICT(reason) DO UPDATE SET count = count + excluded.count",
                self._drops.items(),
            )
            self.db.executemany(
                "INSERT INTO marks VALUES (?, ?, ?) ON CONFLICT(system_title, period) "
                "DO UPDATE SET mark = max(mark, excluded.mark)",
                ((t, p, m) for (t, p), m in self._marks.items()),
            )
            self.db.executemany(
                "INSERT OR REPLACE INTO collector_state VALUES (?, ?)", self._state.items()
            )
        self._drops.clear()
        self._marks.clear()
        self._state.clear()

    # ------------------------------------------------------------------ reading back
    def marks(self) -> dict[tuple[bytes, int], int]:
        """Committed marks by (system title, period)."""
        return {(t, p): m for t, p, m in self.db.execute("SELECT * FROM marks")}

    def state(self) -> dict[str, float]:
        """Committed collector cursors."""
        return dict(self.db.execute("SELECT name, value FROM collector_state"))

    def settled_above(
        self, marks: dict[tuple[bytes, int], int]
    ) -> dict[tuple[bytes, int], list[int]]:
        """Capture times stored or answered absent above each (system title, period)'s mark
        (every capture time when a pair has no mark), ascending."""
        out: dict[tuple[bytes, int], list[int]] = {}
        for table in ("readings", "absent"):
            query = f"SELECT system_title, period, period_end FROM {table}"  # noqa: S608
            for title, period, at in self.db.execute(query):
                key = (title, period)
                if at > marks.get(key, -1):
                    out.setdefault(key, []).append(at)
        for times in out.values():
            times.sort()
        return out

    def received_times(self, t0: float, end: float) -> Iterator[tuple[bytes, int, int, float]]:
        """(system title, period, period end, received_at) of every stored reading with
        ``t0 < period_end <= end`` (what the service levels are computed from)."""
        self.flush()
        yield from self.db.execute(
            "SELECT system_title, period, period_end, received_at FROM readings "
            "WHERE period_end > ? AND period_end <= ?",
            (t0, end),
        )

    def power_events(self) -> list[tuple[bytes, int, int, int]]:
        """(system title, kind, at, via) of every stored power event, in time order."""
        return list(
            self.db.execute(
                "SELECT system_title, kind, at, via FROM power_events "
                "ORDER BY system_title, at, kind"
            )
        )

    def readings(self, period: int | None = None) -> dict[tuple[bytes, int, int], tuple[int, ...]]:
        """Stored values by (system title, period, period end), in register order."""
        self.flush()
        query = (
            "SELECT system_title, period, period_end, active_import, active_export, "
            "other_values FROM readings"
        )
        rows = (
            self.db.execute(query)
            if period is None
            else self.db.execute(query + " WHERE period = ?", (period,))
        )
        out: dict[tuple[bytes, int, int], tuple[int, ...]] = {}
        for title, p, at, imported, exported, other in rows:
            head = tuple(v for v in (imported, exported) if v is not None)
            out[(title, p, at)] = head + tuple(json.loads(other) if other else ())
        return out

    def drops(self) -> dict[str, int]:
        self.flush()
        return dict(self.db.execute("SELECT reason, count FROM drops ORDER BY reason"))

    def close(self) -> None:
        self.commit()
        self.db.close()
