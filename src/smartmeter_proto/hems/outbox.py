"""The MQTT outbox: publication cursors kept in the recorder's own SQLite file.

Readings are stored first and published from the store. The store's ``instants`` and
``intervals`` ids only grow (AUTOINCREMENT; see :mod:`.store`), so each is a stream with a
cursor: the id of the last row whose publication the broker acknowledged (MQTT 3.1.1,
4.3.2: QoS 1, PUBACK), per broker target. Reading from the cursors after a restart or a
broker outage publishes everything not yet acknowledged, in store order, so nothing is lost
and the only duplicates are rows published but not acknowledged when the link or the
process went down (at-least-once).

Table (created when missing, beside the store's tables, which it never touches)::

    mqtt_publication(target TEXT,                  -- mqtt://[user@]host:port, no password
                     stream TEXT,                  -- 'instants' or 'intervals'
                     last_id INTEGER NOT NULL,
                     updated_at REAL NOT NULL,     -- POSIX seconds
                     PRIMARY KEY (target, stream))
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Final, Protocol

from .ha_discovery import StoredReading

__all__ = ["CURSOR_TABLE", "STREAMS", "PublicationCursor", "ReadingFeed", "StoreFeed"]

CURSOR_TABLE: Final = "mqtt_publication"
#: The store tables published, in the order they are drained.
STREAMS: Final = ("instants", "intervals")

_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS {CURSOR_TABLE} (
    target TEXT NOT NULL, stream TEXT NOT NULL, last_id INTEGER NOT NULL,
    updated_at REAL NOT NULL, PRIMARY KEY (target, stream)
)
"""

# intervals (kind, direction) -> quantity of ha_discovery.SENSORS.
_INTERVAL_QUANTITY: Final = {
    ("half_hour", "normal"): "energy_normal_kwh",
    ("half_hour", "reverse"): "energy_reverse_kwh",
    ("minute", "normal"): "energy_normal_1min_kwh",
    ("minute", "reverse"): "energy_reverse_1min_kwh",
}


class ReadingFeed(Protocol):
    """The store seen by the outbox: rows of one stream in ascending id order."""

    def readings_after(self, stream: str, reading_id: int, limit: int) -> Sequence[StoredReading]:
        """At most ``limit`` rows of ``stream`` whose id is greater than ``reading_id``."""
        ...


class StoreFeed:
    """A :class:`ReadingFeed` over the ``instants`` and ``intervals`` tables of :mod:`.store`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def readings_after(self, stream: str, reading_id: int, limit: int) -> list[StoredReading]:
        if stream == "instants":
            rows = self._connection.execute(
                "SELECT id, at, power_w, current_r_a, current_t_a FROM instants "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (reading_id, limit),
            ).fetchall()
            out = []
            for row_id, at, power, current_r, current_t in rows:
                named = (
                    ("instantaneous_power_w", power),
                    ("instantaneous_current_r_a", current_r),
                    ("instantaneous_current_t_a", current_t),
                )
                values = tuple((name, float(v)) for name, v in named if v is not None)
                out.append(StoredReading("instants", int(row_id), float(at), values))
            return out
        if stream == "intervals":
            rows = self._connection.execute(
                "SELECT id, kind, direction, slot, kwh FROM intervals "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (reading_id, limit),
            ).fetchall()
            out = []
            for row_id, kind, direction, slot, kwh in rows:
                quantity = _INTERVAL_QUANTITY.get((kind, direction))
                values = ((quantity, float(kwh)),) if quantity else ()
                out.append(StoredReading("intervals", int(row_id), float(slot), values))
            return out
        raise ValueError(f"no stream {stream!r}: expected one of {', '.join(STREAMS)}")


class PublicationCursor:
    """Per stream, the last row id acknowledged by one broker target, kept in SQLite."""

    def __init__(self, connection: sqlite3.Connection, target: str) -> None:
        userinfo, at, _ = target.partition("//")[2].partition("@")
        if at and ":" in userinfo:
            raise ValueError("the cursor's target must not carry a password")
        self._connection = connection
        self.target = target
        with connection:
            connection.execute(_SCHEMA)

    def load(self) -> dict[str, int]:
        """The last acknowledged id of each stream (0 before anything was published)."""
        rows = self._connection.execute(
            f"SELECT stream, last_id FROM {CURSOR_TABLE} WHERE target = ?",  # noqa: S608
            (self.target,),
        )
        found = {str(stream): int(last) for stream, last in rows}
        return {stream: found.get(stream, 0) for stream in STREAMS}

    def save(self, stream: str, last_id: int) -> None:
        """Record ``last_id`` of ``stream`` as acknowledged (committed at once)."""
        with self._connection:
            self._connection.execute(
                f"INSERT INTO {CURSOR_TABLE} (target, stream, last_id, updated_at) "  # noqa: S608
                "VALUES (?, ?, ?, ?) ON CONFLICT(target, stream) DO UPDATE SET "
                "last_id = excluded.last_id, updated_at = excluded.updated_at",
                (self.target, stream, last_id, time.time()),
            )
