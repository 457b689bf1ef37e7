"""The HEMS record of one smart meter, in SQLite.

Schema (version 1; ``PRAGMA user_version = 1``). Times are POSIX seconds (UTC);
a slot is the meter's own time stamp (JST on the wire) of the end of the
interval, converted to POSIX. Energy is kept twice: the raw counter reading
and its kWh as an exact decimal string (count × 0xD3 × 0xE1, APPENDIX §3.3.25).

``meta(key TEXT PRIMARY KEY, value TEXT)``
    ``route_b_id`` (0xC0, hex), ``manufacturer_code`` (0x8A, hex), ``coefficient``
    (0xD3), ``unit_code`` (0xE1), ``effective_digits`` (0xD7), ``transport``.
``intervals(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, slot INTEGER,
direction TEXT, count INTEGER, kwh TEXT, source TEXT, received REAL,
UNIQUE(kind, slot, direction))``
    ``kind`` is ``'minute'`` (1-minute values) or ``'half_hour'`` (30-minute
    values); ``direction`` ``'normal'`` or ``'reverse'``; ``source`` the EPC the
    value came from (``'D0'``, ``'EE'``, ``'EA'``, ``'EB'``, ``'E2'``, ``'E4'``,
    ``'EC'``); ``received`` when it arrived. First arrival wins: a row is never
    updated, a later reading that differs goes to ``disagreements``.
``instants(id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, power_w INTEGER,
current_r_a REAL, current_t_a REAL)``
    Instantaneous power 0xE7 (W) and currents 0xE8 (A; NULL when the meter has
    no such phase).
``disagreements(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT, slot INTEGER,
direction TEXT, stored_count INTEGER, other_count INTEGER, source TEXT, at REAL)``
``gaps(kind TEXT, slot INTEGER, direction TEXT, reason TEXT, at REAL,
PRIMARY KEY(kind, slot, direction))``
    Values the meter no longer keeps when asked (``'meter retention exceeded'``)
    or does not give; a gap is never filled with an invented value.
``runs(id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL, last_seen REAL,
transport TEXT, joins INTEGER, reopens INTEGER)``
    One row per recorder run; ``joins`` counts B-route (re)joins, ``reopens``
    serial ports opened again after an unplug.
``events(id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, kind TEXT, detail TEXT)``
    Rejoins, request failures, bad input from the meter (never a secret).

Publication: ``intervals.id`` and ``instants.id`` only grow (AUTOINCREMENT), so a
publisher keeps its own cursor per table (``SELECT … WHERE id > :cursor ORDER BY
id``) in its own table beside these (e.g. ``outbox``); the recorder never
touches tables it did not create.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Final

from ..echonet.energy import EnergyScale
from .readings import Direction, Instantaneous, IntervalKind, IntervalValue

__all__ = ["SCHEMA_VERSION", "Disagreement", "RecordStore", "StoredRun"]

SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intervals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, slot INTEGER NOT NULL, direction TEXT NOT NULL,
    count INTEGER NOT NULL, kwh TEXT NOT NULL, source TEXT NOT NULL, received REAL NOT NULL,
    UNIQUE (kind, slot, direction)
);
CREATE TABLE IF NOT EXISTS instants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL, power_w INTEGER, current_r_a REAL, current_t_a REAL
);
CREATE TABLE IF NOT EXISTS disagreements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL, slot INTEGER NOT NULL, direction TEXT NOT NULL,
    stored_count INTEGER NOT NULL, other_count INTEGER NOT NULL, source TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS gaps (
    kind TEXT NOT NULL, slot INTEGER NOT NULL, direction TEXT NOT NULL,
    reason TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (kind, slot, direction)
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL, last_seen REAL NOT NULL, transport TEXT NOT NULL,
    joins INTEGER NOT NULL DEFAULT 0, reopens INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL, detail TEXT
);
"""


@dataclass(frozen=True, slots=True)
class StoredRun:
    """One recorder run: POSIX start and last activity, transport, joins and reopens."""

    started: float
    last_seen: float
    transport: str
    joins: int
    reopens: int


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A value read twice that did not agree with the stored (first) one."""

    kind: IntervalKind
    slot: int
    direction: Direction
    stored_count: int
    other_count: int
    source: str


class RecordStore:
    """The SQLite record (see the module docstring for the schema)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path)
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            self._db.close()
            raise ValueError(f"{self.path}: store schema {version}, expected {SCHEMA_VERSION}")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self._db.commit()
        self._run: int | None = None

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    def commit(self) -> None:
        self._db.commit()

    # ------------------------------------------------------------------ meta
    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def set_scale(self, scale: EnergyScale) -> None:
        self.set_meta("coefficient", str(scale.coefficient))
        self.set_meta("unit_code", str(scale.unit_code))
        self.set_meta("effective_digits", str(scale.effective_digits))

    def scale(self) -> EnergyScale | None:
        meta = self.meta()
        try:
            return EnergyScale(
                int(meta["coefficient"]), int(meta["unit_code"]), int(meta["effective_digits"])
            )
        except (KeyError, ValueError):
            return None

    # ------------------------------------------------------------------ runs
    def start_run(self, now: float, transport: str) -> None:
        cursor = self._db.execute(
            "INSERT INTO runs (started, last_seen, transport) VALUES (?, ?, ?)",
            (now, now, transport),
        )
        self._run = cursor.lastrowid
        self._db.commit()

    def touch_run(self, now: float, *, joins: int = 0, reopens: int = 0) -> None:
        if self._run is None:
            raise ValueError("no run started")
        self._db.execute(
            "UPDATE runs SET last_seen = max(last_seen, ?), joins = joins + ?, "
            "reopens = reopens + ? WHERE id = ?",
            (now, joins, reopens, self._run),
        )

    def runs(self) -> list[StoredRun]:
        rows = self._db.execute(
            "SELECT started, last_seen, transport, joins, reopens FROM runs ORDER BY id"
        )
        return [StoredRun(*row) for row in rows]

    # ------------------------------------------------------------- intervals
    def add_interval(self, value: IntervalValue, scale: EnergyScale, received: float) -> bool:
        """Store ``value`` unless its slot is known; True if stored. A differing repeat is
        recorded in ``disagreements``."""
        kwh = scale.to_kwh(value.count)
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO intervals (kind, slot, direction, count, kwh, source, received)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                value.kind,
                value.slot,
                value.direction,
                value.count,
                str(kwh),
                value.source,
                received,
            ),
        )
        if cursor.rowcount:
            self._db.execute(
                "DELETE FROM gaps WHERE kind = ? AND slot = ? AND direction = ?",
                (value.kind, value.slot, value.direction),
            )
            return True
        (stored,) = self._db.execute(
            "SELECT count FROM intervals WHERE kind = ? AND slot = ? AND direction = ?",
            (value.kind, value.slot, value.direction),
        ).fetchone()
        if stored != value.count:
            self._db.execute(
                "INSERT INTO disagreements (kind, slot, direction, stored_count, other_count,"
                " source, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    value.kind,
                    value.slot,
                    value.direction,
                    stored,
                    value.count,
                    value.source,
                    received,
                ),
            )
        return False

    def slots(self, kind: IntervalKind, since: float, direction: Direction = "normal") -> set[int]:
        """Slots of ``kind`` stored at or after ``since``."""
        rows = self._db.execute(
            "SELECT slot FROM intervals WHERE kind = ? AND direction = ? AND slot >= ?",
            (kind, direction, since),
        )
        return {row[0] for row in rows}

    def intervals(self, kind: IntervalKind) -> Iterator[tuple[int, str, int, Decimal, float]]:
        """(slot, direction, count, kWh, received) of ``kind`` in slot order."""
        rows = self._db.execute(
            "SELECT slot, direction, count, kwh, received FROM intervals WHERE kind = ? "
            "ORDER BY slot, direction",
            (kind,),
        )
        for slot, direction, count, kwh, received in rows:
            yield slot, direction, count, Decimal(kwh), received

    def disagreements(self) -> list[Disagreement]:
        rows = self._db.execute(
            "SELECT kind, slot, direction, stored_count, other_count, source FROM disagreements"
            " ORDER BY id"
        )
        return [Disagreement(*row) for row in rows]

    # ------------------------------------------------------------------ gaps
    def add_gaps(
        self,
        kind: IntervalKind,
        slots: Iterable[int],
        reason: str,
        now: float,
        direction: Direction = "normal",
    ) -> None:
        """Record slots the meter can no longer give (never filled with a guess)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO gaps (kind, slot, direction, reason, at) "
            "SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM intervals "
            "WHERE kind = ? AND slot = ? AND direction = ?)",
            [(kind, slot, direction, reason, now, kind, slot, direction) for slot in slots],
        )

    def gaps(self) -> list[tuple[str, int, str, str]]:
        """(kind, slot, direction, reason) of every unrecoverable value."""
        return list(
            self._db.execute("SELECT kind, slot, direction, reason FROM gaps ORDER BY kind, slot")
        )

    # -------------------------------------------------------------- instants
    def add_instant(self, reading: Instantaneous) -> None:
        self._db.execute(
            "INSERT INTO instants (at, power_w, current_r_a, current_t_a) VALUES (?, ?, ?, ?)",
            (reading.at, reading.power_w, reading.current_r_a, reading.current_t_a),
        )

    def instant_count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM instants").fetchone()[0])

    # ---------------------------------------------------------------- events
    def add_event(self, now: float, kind: str, detail: str = "") -> None:
        self._db.execute(
            "INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)", (now, kind, detail)
        )

    def event_counts(self) -> dict[str, int]:
        return dict(self._db.execute("SELECT kind, count(*) FROM events GROUP BY kind"))
