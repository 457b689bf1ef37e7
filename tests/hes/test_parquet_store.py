"""The Parquet store: hive layout any engine reads, bounded moves, exactly-once after a kill,
and the same service levels as the SQLite store for the same fleet run."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow", reason="the Parquet store needs the extra 'hes' (pyarrow)")
ds = pytest.importorskip("pyarrow.dataset")
pq = pytest.importorskip("pyarrow.parquet")

from smartmeter_proto.hes.parquet_store import (  # noqa: E402
    READINGS_DIR,
    READINGS_SCHEMA,
    STATE_FILE,
    ParquetStore,
    clear_parquet_store,
)
from smartmeter_proto.hes.push import ValueReading  # noqa: E402
from smartmeter_proto.hes.report import received_times, service_report  # noqa: E402
from smartmeter_proto.hes.storage import VIA_BACKFILL, VIA_PUSH, Store  # noqa: E402
from smartmeter_proto.sim.fleet import FleetPlan  # noqa: E402
from smartmeter_proto.sim.fleet_run import run_fleet  # noqa: E402
from smartmeter_proto.sim.load_curve import JST  # noqa: E402

#: 2026-05-01 00:00 JST, POSIX s.
T0 = int(datetime(2026, 5, 1, tzinfo=JST).timestamp())


def _title(n: int) -> bytes:
    return bytes.fromhex("4D4D4D02000000") + bytes([n])


def _fill(
    store: Store, meters: int = 4, periods: int = 30
) -> dict[tuple[bytes, int, int], tuple[int, ...]]:
    """30-minute readings of ``meters`` meters, one commit per period; what was stored."""
    stored: dict[tuple[bytes, int, int], tuple[int, ...]] = {}
    for k in range(periods):
        at = T0 + 1800 * (k + 1)
        for n in range(meters):
            values = (1000 * n + k, k) if n % 2 else (1000 * n + k, k, 7, -3)
            if k % 3:
                store.add_reading_values(_title(n), 1800, at, at + 60.5 + n, VIA_PUSH, values)
            else:
                store.add_reading(
                    ValueReading(_title(n), 1800, at, values), at + 900.0, VIA_BACKFILL
                )
            stored[(_title(n), 1800, at)] = values
        store.commit()
    return stored


def test_readings_land_in_hive_partitions_that_pyarrow_reads(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "s", batch_rows=25, chunk_rows=3)
    stored = _fill(store)
    store.close()
    readings = tmp_path / "s" / READINGS_DIR
    hours = sorted(p.relative_to(readings).as_posix() for p in readings.glob("date=*/hour=*"))
    # period ends 00:30 .. 15:00 JST on 2026-05-01: hours 00..15, JST (UTC+9), not UTC
    assert hours == [f"date=2026-05-01/hour={h:02d}" for h in range(16)]
    table = ds.dataset(readings, partitioning="hive").to_table()
    assert table.schema.names == [*READINGS_SCHEMA.names, "date", "hour"]
    for name in READINGS_SCHEMA.names:
        assert table.schema.field(name).type == READINGS_SCHEMA.field(name).type
    rows = table.to_pylist()
    assert len(rows) == len(stored)
    for row in rows:
        key = (bytes.fromhex(row["system_title"]), row["period"], row["period_end"])
        assert tuple(row["values"]) == stored[key]
        local = datetime.fromtimestamp(row["period_end"], JST)
        assert (row["date"], row["hour"]) == (local.date().isoformat(), local.hour)
        assert row["via"] == (
            "backfill" if row["received_at"] == row["period_end"] + 900 else "push"
        )
        assert row["system_title"] == row["system_title"].upper()
    # moves are streamed in chunks: a file holds row groups of at most chunk_rows rows
    for part in readings.glob("date=*/hour=*/part-*.parquet"):
        meta = pq.ParquetFile(part).metadata
        assert all(meta.row_group(i).num_rows <= 3 for i in range(meta.num_row_groups))
    # the state stays in SQLite beside the readings; nothing is left staged after close
    with sqlite3.connect(tmp_path / "s" / STATE_FILE) as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM parquet_moves").fetchone()[0] >= 4


def test_reading_back_joins_moved_and_staged_rows(tmp_path: Path) -> None:
    sqlite_store = Store(tmp_path / "ref.sqlite")
    store = ParquetStore(tmp_path / "s", batch_rows=50)
    assert _fill(sqlite_store) == _fill(store)
    assert store.readings() == sqlite_store.readings()
    assert store.readings(1800) == sqlite_store.readings(1800)
    assert store.readings(300) == {}
    marks = {(_title(0), 1800): T0 + 1800 * 10, (_title(1), 1800): T0 + 1800 * 29}
    sqlite_store.add_absent(_title(2), 1800, T0 + 1800 * 40, 1.0)
    store.add_absent(_title(2), 1800, T0 + 1800 * 40, 1.0)
    assert store.settled_above(marks) == sqlite_store.settled_above(marks)
    window = (T0 + 1800 * 5, T0 + 1800 * 20)
    assert sorted(received_times(store, *window)) == sorted(received_times(sqlite_store, *window))
    with sqlite3.connect(tmp_path / "s" / STATE_FILE) as db:  # some rows are still staged
        assert db.execute("SELECT count(*) FROM readings").fetchone()[0] > 0
    sqlite_store.close()
    store.close()
    again = ParquetStore(tmp_path / "s")
    assert again.readings() == Store(tmp_path / "ref.sqlite").readings()
    again.close()


def test_a_move_killed_before_its_commit_is_redone_exactly_once(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    store = ParquetStore(folder, batch_rows=10**9)
    stored = _fill(store)
    before = tmp_path / "before.sqlite"
    with sqlite3.connect(before) as copy:  # the state database as it is before the move
        store.db.backup(copy)
    assert store.move() == len(stored)
    store.db.close()
    # the kill: the files were renamed into place, the deletion of the staged rows and the
    # move's record never committed
    for suffix in ("-wal", "-shm"):
        (folder / f"{STATE_FILE}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(before, folder / STATE_FILE)
    assert list((folder / READINGS_DIR).glob("date=*/hour=*/part-00000001.parquet"))
    reopened = ParquetStore(folder)
    assert not list((folder / READINGS_DIR).glob("date=*/hour=*/part-*.parquet"))
    assert reopened.readings() == stored  # still staged
    reopened.close()
    table = ds.dataset(folder / READINGS_DIR, partitioning="hive").to_table()
    keys = {(r["system_title"], r["period_end"]) for r in table.to_pylist()}
    assert table.num_rows == len(keys) == len(stored)


def test_clearing_removes_the_store_and_nothing_else(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    store = ParquetStore(folder, batch_rows=1)
    _fill(store, meters=1, periods=3)
    store.close()
    (folder / "notes.txt").write_text("mine")
    clear_parquet_store(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


def test_back_filled_readings_count_towards_a_move(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "s", batch_rows=2)
    for k in range(2):
        store.add_reading(
            ValueReading(_title(0), 1800, T0 + 1800 * (k + 1), (k,)), 1.0, VIA_BACKFILL
        )
    store.commit()
    assert list((tmp_path / "s" / READINGS_DIR).glob("date=*/hour=*/part-00000001.parquet"))
    store.close()


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch_rows"):
        ParquetStore(tmp_path / "s", batch_rows=0)


def test_dask_reads_the_store_with_its_partition_columns(tmp_path: Path) -> None:
    pytest.importorskip("dask.dataframe")
    from smartmeter_proto.hes.batch import read_store

    store = ParquetStore(tmp_path / "s", batch_rows=40)
    stored = _fill(store)
    store.close()
    frame = read_store(tmp_path / "s").compute()
    assert len(frame) == len(stored)
    assert set(frame["hour"].astype(int)) == set(range(16))
    assert set(frame["date"]) == {"2026-05-01"}
    got = {
        (bytes.fromhex(t), int(p), int(e)): tuple(int(v) for v in values)
        for t, p, e, values in zip(
            frame["system_title"],
            frame["period"],
            frame["period_end"],
            frame["values"],
            strict=True,
        )
    }
    assert got == stored


# ---------------------------------------------------------------- the same fleet, both stores
PLAN = FleetPlan(
    meters=24,
    start=datetime(2026, 5, 1, tzinfo=JST),
    hours=4.0,
    loss=0.02,
    outage_s=3600.0,
    outage_at_s=3600.0,
    areas=3,
    five_min_share=0.25,
    realtime_share=0.1,
    seed=7,
)


def _run(store: Store) -> Store:
    asyncio.run(run_fleet(PLAN, store, settle_s=3600.0))
    return store


def test_service_levels_are_the_same_from_parquet_and_sqlite(tmp_path: Path) -> None:
    sqlite_store = _run(Store(tmp_path / "fleet.sqlite"))
    # a small batch: the run moves readings to Parquet many times while it collects
    parquet = _run(ParquetStore(tmp_path / "pq", batch_rows=50))
    moved = parquet.db.execute("SELECT count(*) FROM parquet_moves").fetchone()[0]
    assert moved >= 3
    one = service_report(sqlite_store, t0=PLAN.t0, end=PLAN.end)
    two = service_report(parquet, t0=PLAN.t0, end=PLAN.end)
    assert one == two
    assert one.lost_30min > 0 or one.last_gasps > 0  # the run had something to report
    assert sum(level.expected for level in one.levels) > 24 * 8
    assert parquet.readings() == sqlite_store.readings()
    parquet.close()
    sqlite_store.close()
    reopened = ParquetStore(tmp_path / "pq")
    assert service_report(reopened, t0=PLAN.t0, end=PLAN.end) == one
    reopened.close()
