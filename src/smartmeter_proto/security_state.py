"""Durable security state: send counters that are never reused and replay floors that survive.

An AES-GCM invocation counter (DLMS Green Book, suite 0: IV = system title ‖ IC) and an
AES-CCM partial IV (COSE, RFC 9052 §3.1; RFC 9053 §4.2 forbids nonce reuse under one key)
are nonces: a value handed out once must never be handed out again under the same key,
across restarts and crashes. :class:`SendCounter` does what IPsec and TLS stacks do: it
*reserves* a block of values by writing the block's end durably before the first value of
the block is used, then hands values out of memory. A crash skips the unused rest of the
block; it never repeats a value. At the last value it refuses with :class:`CounterExhausted`
(the key must be replaced), it never wraps.

:class:`ReplayFloors` keeps, per peer, the highest counter accepted from *authenticated*
data, so that traffic captured before a restart is refused as replayed after it.

Where the state lives is the caller's choice through a :class:`StateStore`: SQLite
(:class:`SqliteStateStore`, the head-end's store), a small JSON file
(:class:`FileStateStore`, the simulators) or memory (:class:`MemoryStateStore`, for tests
and for runs that never outlive their process). Every store keeps values monotonic: a write
never lowers a stored value.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

from .errors import SessionError

__all__ = [
    "DLMS_INVOCATION_COUNTER_LIMIT",
    "CounterExhausted",
    "FileStateStore",
    "MemoryStateStore",
    "ReplayFloors",
    "SendCounter",
    "SqliteStateStore",
    "StateStore",
]

#: The DLMS/COSEM invocation counter is 4 bytes (Green Book, initialization vector). The
#: last value, 2^32 - 1, is never used: reaching it means the key must be replaced.
DLMS_INVOCATION_COUNTER_LIMIT: Final = 0xFFFF_FFFF
#: Values reserved per durable write by default.
DEFAULT_BLOCK: Final = 1024


class CounterExhausted(SessionError):
    """A send counter reached its last value: nothing more may be sent under this key."""


@runtime_checkable
class StateStore(Protocol):
    """Named non-negative integers that survive a restart.

    ``write(name, value, durable=True)`` must not return before the value is on stable
    storage. ``durable=False`` lets the store defer the write to its next commit (used for
    replay floors committed together with the data they protect). A store never lowers a
    value: writing a smaller value than the stored one leaves the stored one.
    """

    def read(self, name: str) -> int | None: ...

    def write(self, name: str, value: int, *, durable: bool = True) -> None: ...

    def write_many(self, items: Iterable[tuple[str, int]], *, durable: bool = True) -> None:
        """``write`` of each (name, value), made durable together (one commit)."""
        ...

    def commit(self) -> None: ...


class MemoryStateStore:
    """A store that lives as long as its process: for tests and throw-away simulations."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    def read(self, name: str) -> int | None:
        return self._values.get(name)

    def write(self, name: str, value: int, *, durable: bool = True) -> None:
        _check_value(value)
        if value > self._values.get(name, -1):
            self._values[name] = value

    def write_many(self, items: Iterable[tuple[str, int]], *, durable: bool = True) -> None:
        for name, value in items:
            self.write(name, value)

    def commit(self) -> None:
        return None

    def names(self) -> list[str]:
        return sorted(self._values)


class FileStateStore:
    """A JSON file of names and values, replaced atomically (write, fsync, rename, fsync dir)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._values: dict[str, int] = {}
        self._dirty = False
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"cannot read the state file {self.path}: {exc}") from None
            if not isinstance(loaded, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in loaded.items()
            ):
                raise ValueError(f"the state file {self.path} is not a map of names to counters")
            self._values = dict(loaded)

    def read(self, name: str) -> int | None:
        return self._values.get(name)

    def write(self, name: str, value: int, *, durable: bool = True) -> None:
        _check_value(value)
        with self._lock:
            if value > self._values.get(name, -1):
                self._values[name] = value
                self._dirty = True
            if durable:
                self._flush()

    def write_many(self, items: Iterable[tuple[str, int]], *, durable: bool = True) -> None:
        for name, value in items:
            self.write(name, value, durable=False)
        if durable:
            self.commit()

    def commit(self) -> None:
        with self._lock:
            self._flush()

    def _flush(self) -> None:
        if not self._dirty:
            return
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(self._values, out, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._dirty = False


_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS security_state "
    "(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID"
)
_UPSERT: Final = (
    "INSERT INTO security_state (name, value) VALUES (?, ?) "
    "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)"
)


class SqliteStateStore:
    """The ``security_state`` table of an SQLite database.

    Give it the path of a database or an open connection (the head-end shares the
    connection of its reading store, so replay floors written with ``durable=False`` are
    committed in the same transaction as the readings they protect).
    """

    def __init__(self, database: str | os.PathLike[str] | sqlite3.Connection) -> None:
        if isinstance(database, sqlite3.Connection):
            self._db = database
            self._owned = False
        else:
            self._db = sqlite3.connect(os.fspath(database))
            self._owned = True
        self._db.execute(_SCHEMA)
        self._db.commit()

    def read(self, name: str) -> int | None:
        row = self._db.execute("SELECT value FROM security_state WHERE name = ?", (name,))
        found = row.fetchone()
        return None if found is None else int(found[0])

    def read_prefix(self, prefix: str) -> dict[str, int]:
        """Every name that starts with ``prefix``, with its value."""
        rows = self._db.execute(
            "SELECT name, value FROM security_state WHERE substr(name, 1, ?) = ?",
            (len(prefix), prefix),
        )
        return {str(name): int(value) for name, value in rows}

    def write(self, name: str, value: int, *, durable: bool = True) -> None:
        _check_value(value)
        self._db.execute(_UPSERT, (name, value))
        if durable:
            self._db.commit()

    def write_many(self, items: Iterable[tuple[str, int]], *, durable: bool = True) -> None:
        rows = list(items)
        for _, value in rows:
            _check_value(value)
        self._db.executemany(_UPSERT, rows)
        if durable:
            self._db.commit()

    def commit(self) -> None:
        self._db.commit()

    def close(self) -> None:
        self._db.commit()
        if self._owned:
            self._db.close()


def _check_value(value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"a stored counter is a non-negative int, not {value!r}")


class SendCounter:
    """The next nonce counter of one sender under one key, never reused across restarts.

    ``store[name]`` holds the first value not yet reserved. ``next()`` hands out values
    from a reserved block and reserves the next block (one durable write) when the block is
    used up; a restarted counter starts at the stored value, so it skips whatever the
    previous run had reserved but not used. ``limit`` is the first value that may not be
    used (for DLMS, 2^32 - 1): at it, ``next()`` raises :class:`CounterExhausted`.
    """

    __slots__ = ("_next", "_reserved_until", "block", "limit", "name", "store")

    def __init__(
        self,
        store: StateStore,
        name: str,
        *,
        first: int = 1,
        limit: int = DLMS_INVOCATION_COUNTER_LIMIT,
        block: int = DEFAULT_BLOCK,
    ) -> None:
        if block < 1:
            raise ValueError("block must be >= 1")
        if not 0 <= first <= limit:
            raise ValueError(f"first must be in 0..{limit}")
        self.store = store
        self.name = name
        self.limit = limit
        self.block = block
        stored = store.read(name)
        self._next = first if stored is None else max(first, stored)
        self._reserved_until = self._next  # nothing reserved by this run yet

    @property
    def peek(self) -> int:
        """The value the next call to :meth:`next` returns (if not exhausted)."""
        return self._next

    @property
    def remaining(self) -> int:
        """How many values can still be handed out under this key."""
        return max(0, self.limit - self._next)

    def next(self) -> int:
        """Hand out the next value; reserve a new block durably first when needed."""
        value = self._next
        if value >= self.limit:
            raise CounterExhausted(
                f"send counter {self.name!r} reached its last value 0x{self.limit:X}: "
                "replace the key before sending again"
            )
        if value >= self._reserved_until:
            # Another counter on the same name and store (a second object in this process,
            # or a process sharing the database) may have reserved past us: start after it.
            stored = self.store.read(self.name)
            if stored is not None and stored > value:
                value = stored
                if value >= self.limit:
                    self._next = self.limit
                    return self.next()
            end = min(value + self.block, self.limit)
            self.store.write(self.name, end, durable=True)
            self._reserved_until = end
        self._next = value + 1
        return value

    def reopened(self) -> SendCounter:
        """The counter a restarted process opens on the same store and name: it starts at
        the stored reservation, skipping what this one reserved and did not use."""
        return SendCounter(
            self.store, self.name, first=self._next, limit=self.limit, block=self.block
        )

    def skip_to(self, value: int) -> None:
        """Never hand out a value below ``value`` (e.g. one a peer has already seen)."""
        if value > self._next:
            self._next = min(value, self.limit)

    def __repr__(self) -> str:
        return f"SendCounter({self.name!r}, next={self._next}, limit=0x{self.limit:X})"


class ReplayFloors:
    """Highest counter accepted per peer from authenticated data, kept in a store.

    ``record`` must only be called after the data's tag verified. ``durable=False`` defers
    the write to the store's next commit, for callers that commit the protected data in the
    same transaction.
    """

    __slots__ = ("durable", "namespace", "store")

    def __init__(self, store: StateStore, namespace: str, *, durable: bool = True) -> None:
        self.store = store
        self.namespace = namespace
        self.durable = durable

    def _name(self, peer: bytes | str) -> str:
        key = peer.hex() if isinstance(peer, bytes | bytearray) else peer
        return f"{self.namespace}:{key}"

    def floor(self, peer: bytes | str) -> int | None:
        """The highest counter ever accepted from ``peer``, or ``None``."""
        return self.store.read(self._name(peer))

    def record(self, peer: bytes | str, counter: int) -> None:
        self.store.write(self._name(peer), counter, durable=self.durable)

    def record_many(self, items: Iterable[tuple[bytes | str, int]]) -> None:
        """``record`` of each (peer, counter), written together."""
        name = self._name
        self.store.write_many(((name(p), c) for p, c in items), durable=self.durable)
