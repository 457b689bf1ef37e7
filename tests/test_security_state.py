"""Durable send counters and replay floors: no value handed out twice, across restarts."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.errors import SessionError
from smartmeter_proto.security_state import (
    DLMS_INVOCATION_COUNTER_LIMIT,
    CounterExhausted,
    FileStateStore,
    MemoryStateStore,
    ReplayFloors,
    SendCounter,
    SqliteStateStore,
)


def _stores(tmp_path: Path) -> list[object]:
    return [
        MemoryStateStore(),
        FileStateStore(tmp_path / "state.json"),
        SqliteStateStore(tmp_path / "state.sqlite"),
    ]


def test_a_counter_reserves_a_block_before_its_first_value(tmp_path: Path) -> None:
    store = SqliteStateStore(tmp_path / "s.sqlite")
    counter = SendCounter(store, "hes", block=10)
    assert store.read("hes") is None
    assert counter.next() == 1
    assert store.read("hes") == 11  # values 1..10 reserved before 1 was handed out
    assert [counter.next() for _ in range(9)] == list(range(2, 11))
    assert store.read("hes") == 11
    assert counter.next() == 11
    assert store.read("hes") == 21


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_a_restarted_counter_skips_the_rest_of_the_block(tmp_path: Path, kind: str) -> None:
    def open_store() -> FileStateStore | SqliteStateStore:
        if kind == "file":
            return FileStateStore(tmp_path / "state.json")
        return SqliteStateStore(tmp_path / "state.sqlite")

    used: list[int] = []
    for _restart in range(4):
        counter = SendCounter(open_store(), "meter/up", block=8)
        used += [counter.next() for _ in range(3)]
    assert len(used) == len(set(used))
    assert used == [1, 2, 3, 9, 10, 11, 17, 18, 19, 25, 26, 27]


def test_a_process_killed_after_reserving_never_reuses_a_value(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    program = textwrap.dedent(
        f"""
        import os, sys
        from smartmeter_proto.security_state import SendCounter, SqliteStateStore
        counter = SendCounter(SqliteStateStore({str(path)!r}), "ic", block=100)
        print(counter.next(), counter.next(), flush=True)
        os._exit(9)  # killed: no close, no commit beyond the reservation
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 9
    assert done.stdout.split() == ["1", "2"]
    counter = SendCounter(SqliteStateStore(path), "ic", block=100)
    assert counter.next() == 101  # the whole reserved block is skipped


def test_exhaustion_is_refused_with_a_named_error_never_wrapped() -> None:
    store = MemoryStateStore()
    store.write("ic", DLMS_INVOCATION_COUNTER_LIMIT - 2)
    counter = SendCounter(store, "ic")
    assert counter.next() == 0xFFFF_FFFD
    assert counter.next() == 0xFFFF_FFFE
    with pytest.raises(CounterExhausted, match="last value 0xFFFFFFFF") as raised:
        counter.next()
    assert isinstance(raised.value, SessionError)
    with pytest.raises(CounterExhausted):
        counter.next()
    assert counter.remaining == 0


def test_stores_never_lower_a_value(tmp_path: Path) -> None:
    for store in _stores(tmp_path):
        store.write("x", 50)  # type: ignore[attr-defined]
        store.write("x", 7)  # type: ignore[attr-defined]
        assert store.read("x") == 50  # type: ignore[attr-defined]


def test_many_writes_at_once_never_lower_a_value_and_refuse_a_bad_one(tmp_path: Path) -> None:
    for store in _stores(tmp_path):
        store.write("x", 50)  # type: ignore[attr-defined]
        store.write_many([("x", 7), ("y", 3), ("z", 9)])  # type: ignore[attr-defined]
        assert [store.read(n) for n in "xyz"] == [50, 3, 9]  # type: ignore[attr-defined]
        with pytest.raises(ValueError, match="non-negative int"):
            store.write_many([("w", 1), ("v", -1)])  # type: ignore[attr-defined]
    # durable: a second connection (a restarted process) sees them
    reopened = SqliteStateStore(tmp_path / "state.sqlite")
    assert reopened.read("z") == 9
    assert FileStateStore(tmp_path / "state.json").read("z") == 9


def test_floors_recorded_together_are_read_back_per_peer(tmp_path: Path) -> None:
    floors = ReplayFloors(SqliteStateStore(tmp_path / "s.sqlite"), "peer")
    floors.record_many([(b"\x01" * 8, 5), ("named", 6)])
    again = ReplayFloors(SqliteStateStore(tmp_path / "s.sqlite"), "peer")
    assert again.floor(b"\x01" * 8) == 5
    assert again.floor("named") == 6


def test_a_deferred_write_reaches_sqlite_with_the_next_commit(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "hes.sqlite")
    floors = ReplayFloors(SqliteStateStore(db), "peer", durable=False)
    floors.record(b"\x4d\x4d\x4d\x00\x00\x00\x00\x01", 42)
    other = sqlite3.connect(tmp_path / "hes.sqlite")
    assert other.execute("SELECT count(*) FROM security_state").fetchone() == (0,)
    db.commit()
    assert SqliteStateStore(other).read("peer:4d4d4d0000000001") == 42


def test_a_corrupt_state_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"ic": -1}')
    with pytest.raises(ValueError, match="not a map of names to counters"):
        FileStateStore(path)
    path.write_text("{")
    with pytest.raises(ValueError, match="cannot read the state file"):
        FileStateStore(path)


@settings(max_examples=60, deadline=None)
@given(
    block=st.integers(1, 20),
    runs=st.lists(st.integers(0, 30), min_size=1, max_size=6),
)
def test_no_value_is_ever_handed_out_twice(block: int, runs: list[int]) -> None:
    store = MemoryStateStore()
    seen: list[int] = []
    for count in runs:
        counter = SendCounter(store, "c", block=block)
        seen += [counter.next() for _ in range(count)]
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)


def test_two_counters_on_one_name_never_hand_out_the_same_value(tmp_path: Path) -> None:
    """A second object opened on the same name (before the first reserved) skips past the
    first one's reservation when it reserves, instead of starting over."""
    store = SqliteStateStore(tmp_path / "s.sqlite")
    first = SendCounter(store, "ic", block=4)
    second = SendCounter(store, "ic", block=4)
    used = [
        first.next(),
        second.next(),
        first.next(),
        *(second.next() for _ in range(4)),
        *(first.next() for _ in range(4)),
    ]
    assert len(used) == len(set(used))


def test_a_reopened_counter_continues_after_the_reservation() -> None:
    store = MemoryStateStore()
    counter = SendCounter(store, "ic", block=10)
    assert [counter.next(), counter.next()] == [1, 2]
    again = counter.reopened()
    assert again.peek == 11
    assert (again.limit, again.block, again.name) == (counter.limit, 10, "ic")
