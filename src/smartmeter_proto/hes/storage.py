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
* ``drops``: datagrams dropped by reason (malformed, forged, replayed, unknown meter, ...).

Readings are buffered and written with ``executemany`` on :meth:`Store.flush`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from .push import PowerEvent, ValueReading

__all__ = ["VIA_BACKFILL", "VIA_LOG", "VIA_PUSH", "Store"]

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
"""


class Store:
    """The SQLite store at ``path`` (``":memory:"`` for a throw-away one)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL" if self.path != ":memory:"
                        else "PRAGMA journal_mode=MEMORY")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._readings: list[tuple[bytes, int, int, float, int, int | None, int | None,
                                   str | None]] = []
        self._events: list[tuple[bytes, int, int, float, int]] = []
        self._absent: list[tuple[bytes, int, int, float]] = []
        self._drops: dict[str, int] = {}

    def add_meters(self, meters: Iterable[tuple[bytes, bool, bool]]) -> None:
        """(system title, five_min, realtime) of each provisioned meter."""
        self.db.executemany("INSERT OR REPLACE INTO meters VALUES (?, ?, ?)",
                            ((t, int(f), int(r)) for t, f, r in meters))
        self.db.commit()

    def add_reading(self, reading: ValueReading, received_at: float, via: int) -> None:
        values = reading.values
        self._readings.append((
            reading.system_title, reading.period, reading.period_end, received_at, via,
            values[0] if values else None, values[1] if len(values) > 1 else None,
            json.dumps(values[2:]) if len(values) > 2 else None))

    def add_event(self, event: PowerEvent, received_at: float, via: int) -> None:
        self._events.append((event.system_title, int(event.kind), event.at, received_at, via))

    def add_absent(self, system_title: bytes, period: int, period_end: int,
                   answered_at: float) -> None:
        self._absent.append((system_title, period, period_end, answered_at))

    def count_drop(self, reason: str) -> None:
        self._drops[reason] = self._drops.get(reason, 0) + 1

    def set_run(self, **values: object) -> None:
        self.db.executemany("INSERT OR REPLACE INTO run VALUES (?, ?)",
                            ((k, json.dumps(v)) for k, v in values.items()))
        self.db.commit()

    def run_info(self) -> dict[str, object]:
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM run")}

    def flush(self) -> None:
        """Write what is buffered in one transaction."""
        if not (self._readings or self._events or self._absent or self._drops):
            return
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                self._readings)
            self.db.executemany("INSERT OR IGNORE INTO power_events VALUES (?, ?, ?, ?, ?)",
                                self._events)
            self.db.executemany("INSERT OR IGNORE INTO absent VALUES (?, ?, ?, ?)",
                                self._absent)
            self.db.executemany(
                "INSERT INTO drops VALUES (?, ?) "
                "ON CONFLICT(reason) DO UPDATE SET count = count + excluded.count",
                self._drops.items())
        self._readings.clear()
        self._events.clear()
        self._absent.clear()
        self._drops.clear()

    def readings(self, period: int | None = None) -> dict[tuple[bytes, int, int], tuple[int, ...]]:
        """Stored values by (system title, period, period end), in register order."""
        self.flush()
        query = ("SELECT system_title, period, period_end, active_import, active_export, "
                 "other_values FROM readings")
        rows = (self.db.execute(query) if period is None
                else self.db.execute(query + " WHERE period = ?", (period,)))
        out: dict[tuple[bytes, int, int], tuple[int, ...]] = {}
        for title, p, at, imported, exported, other in rows:
            head = tuple(v for v in (imported, exported) if v is not None)
            out[(title, p, at)] = head + tuple(json.loads(other) if other else ())
        return out

    def drops(self) -> dict[str, int]:
        self.flush()
        return dict(self.db.execute("SELECT reason, count FROM drops ORDER BY reason"))

    def close(self) -> None:
        self.flush()
        self.db.close()
