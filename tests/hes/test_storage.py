"""hes.storage: rows and replay floors are buffered, written together, durable only at commit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.hes.push import PERIOD_5MIN, PERIOD_30MIN, ValueReading
from smartmeter_proto.hes.storage import MEMORY, VIA_PUSH, Store
from smartmeter_proto.security_state import SqliteStateStore

TITLE = bytes.fromhex("4D4D4D0000BC614E")
T0 = 1_777_561_200


def _committed(path: Path) -> tuple[int, dict[str, int]]:
    """(readings, security_state) as another connection sees them: what is durable."""
    other = sqlite3.connect(path)
    try:
        count = other.execute("SELECT count(*) FROM readings").fetchone()[0]
        floors = dict(other.execute("SELECT name, value FROM security_state"))
    finally:
        other.close()
    return int(count), {str(k): int(v) for k, v in floors.items()}


def test_rows_and_floors_are_durable_together_only_at_commit(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite"
    store = Store(path, max_buffered=4)
    floors = store.replay_floors("dlms/test/rx")
    for k in range(10):  # more than max_buffered: written into the open transaction
        floors.record(TITLE, k + 1)
        store.add_reading_values(
            TITLE, PERIOD_30MIN, T0 + 1800 * k, T0 + 1800 * k + 60, VIA_PUSH, (k, 2 * k)
        )
    assert floors.floor(TITLE) == 10  # what waits is seen by the window that wrote it
    assert _committed(path) == (0, {})  # nothing is durable before the commit
    store.commit()
    count, state = _committed(path)
    assert count == 10
    assert state == {f"dlms/test/rx:{TITLE.hex()}": 10}
    assert SqliteStateStore(path).read(f"dlms/test/rx:{TITLE.hex()}") == 10
    store.close()


def test_a_kill_before_the_commit_loses_rows_and_floors_together(tmp_path: Path) -> None:
    path = tmp_path / "hes.sqlite"
    store = Store(path, max_buffered=2)
    floors = store.replay_floors("dlms/test/rx")
    floors.record(TITLE, 1)
    store.add_reading_values(TITLE, PERIOD_30MIN, T0, T0 + 60, VIA_PUSH, (1, 2))
    store.commit()
    for k in range(1, 6):
        floors.record(TITLE, k + 1)
        store.add_reading_values(TITLE, PERIOD_30MIN, T0 + 1800 * k, T0 + 60, VIA_PUSH, (1, 2))
    store.db.close()  # killed: the open transaction is rolled back
    again = Store(path)
    assert len(again.readings()) == 1
    assert again.replay_floors("dlms/test/rx").floor(TITLE) == 1
    again.close()


def test_a_floor_never_goes_down() -> None:
    store = Store(MEMORY)
    floors = store.replay_floors("ns")
    floors.record(TITLE, 7)
    floors.record(TITLE, 3)
    assert floors.floor(TITLE) == 7
    store.commit()
    floors.record(TITLE, 5)
    assert floors.floor(TITLE) == 7
    store.commit()
    assert store.security_state.read(f"ns:{TITLE.hex()}") == 7


def test_every_floors_object_writes_what_waits_at_each_commit(tmp_path: Path) -> None:
    # a commit writes only the floors with records waiting; one that was written and
    # records again is written again, one that never records writes nothing
    path = tmp_path / "hes.sqlite"
    store = Store(path)
    first, second, idle = (store.replay_floors(f"dlms/{k}/rx") for k in ("a", "b", "c"))
    first.record(TITLE, 3)
    store.commit()
    assert _committed(path)[1] == {f"dlms/a/rx:{TITLE.hex()}": 3}
    second.record(TITLE, 4)
    first.record(TITLE, 9)
    first.record(TITLE, 11)
    store.commit()
    assert _committed(path)[1] == {
        f"dlms/a/rx:{TITLE.hex()}": 11,
        f"dlms/b/rx:{TITLE.hex()}": 4,
    }
    assert idle.floor(TITLE) is None
    store.close()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=2),
    st.lists(st.integers(-(1 << 63), (1 << 64) - 1), max_size=7),
)
def test_register_values_are_stored_as_json_would_write_them(
    head: list[int], rest: list[int]
) -> None:
    values = head + rest if len(head) == 2 else head  # SQLite INTEGER columns hold 64 bits
    store = Store(MEMORY)
    reading = ValueReading(TITLE, PERIOD_5MIN, T0, tuple(values))
    store.add_reading(reading, T0 + 1.5, VIA_PUSH)
    row = store.db.execute("SELECT other_values FROM readings").fetchone()
    if row is None:  # buffered: readings() flushes
        assert store.readings() == {(TITLE, PERIOD_5MIN, T0): tuple(values)}
        row = store.db.execute("SELECT other_values FROM readings").fetchone()
    assert row[0] == (json.dumps(values[2:]) if len(values) > 2 else None)
    assert store.readings() == {(TITLE, PERIOD_5MIN, T0): tuple(values)}


def test_max_buffered_is_checked() -> None:
    with pytest.raises(ValueError, match="max_buffered"):
        Store(MEMORY, max_buffered=0)
