"""sim.fleet_workers: a plan split over worker processes, one collector, real loopback UDP.

The run's outcome is checked against the same plan run off the network in this process
(what the meters measured), and the split itself against the whole fleet (sans-IO): a
meter sends the same datagrams whichever shard it runs in.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from smartmeter_proto.hes.report import service_report
from smartmeter_proto.hes.storage import Store
from smartmeter_proto.sim.fleet import Fleet, FleetPlan
from smartmeter_proto.sim.fleet_run import HEADEND_TITLE
from smartmeter_proto.sim.fleet_workers import (
    meter_address,
    open_meter_state,
    prepare_meter_state,
    run_fleet_workers,
)
from smartmeter_proto.sim.load_curve import JST

START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
HES = ("hes", 1)
#: Only guards against a hang; no outcome depends on it.
HANG_GUARD_S = 300


def _sent(fleet: Fleet, until: float) -> dict[int, list[tuple[float, bytes]]]:
    out: dict[int, list[tuple[float, bytes]]] = {}
    while (due := fleet.next_deadline()) is not None and due <= until:
        fleet.handle_timeout(due)
        for index, data, _ in fleet.datagrams_to_send():
            out.setdefault(index, []).append((due, data))
    return out


def test_a_meter_sends_the_same_whichever_shard_it_runs_in() -> None:
    plan = FleetPlan(
        meters=9,
        start=START,
        hours=3,
        loss=0.2,
        outage_s=1800,
        areas=3,
        reboots=2,
        hostile=1,
        seed=3,
    )
    whole = _sent(Fleet(plan, client_system_title=bytes(8), headend=HES), plan.end)
    split: dict[int, list[tuple[float, bytes]]] = {}
    for part in range(3):
        split.update(
            _sent(Fleet(plan, client_system_title=bytes(8), headend=HES, shard=(part, 3)), plan.end)
        )
    assert split == whole
    assert sum(len(v) for v in whole.values()) > 30  # 9 meters, 6 periods, 20 % lost


def test_meter_addresses_are_distinct_loopback_addresses() -> None:
    addresses = {meter_address(i, 4059) for i in range(0, 100_000, 7)}
    assert len(addresses) == len(range(0, 100_000, 7))
    assert all(a[0].startswith("127.") and a[1] == 4059 for a in addresses)
    with pytest.raises(ValueError, match="no loopback address"):
        meter_address(-1, 4059)


def test_two_workers_collect_everything_the_meters_measured(tmp_path: Path) -> None:
    plan = FleetPlan(
        meters=40,
        start=START,
        hours=4,
        loss=0.01,
        outage_s=3600,
        areas=4,
        five_min_share=0.25,
        realtime_share=0.1,
        seed=8,
    )
    store = Store(tmp_path / "fleet.sqlite")
    run = asyncio.run(
        asyncio.wait_for(
            run_fleet_workers(
                plan,
                store,
                workers=2,
                headend_title=HEADEND_TITLE,
                meter_state_path=str(tmp_path / "meters.sqlite"),
                socket_cap=4,
            ),
            HANG_GUARD_S,
        )
    )
    report = service_report(
        store, t0=plan.t0, end=plan.end, outages_injected=run.stats.outages_injected
    )
    levels = {level.name: level for level in report.levels}
    assert levels["30-min values collected (confirmed)"].rate == 1.0
    assert levels["5-min values of the 5-min class (confirmed)"].rate == 1.0
    assert run.stats.outages_injected == run.stats.restorations == 10
    assert run.collector.stats.reads > 0  # back-fills went to meters opened on demand

    truth_fleet = Fleet(plan, client_system_title=HEADEND_TITLE)
    truth_fleet.fast_forward(plan.end + 3600)
    truth = truth_fleet.measured(plan.t0, plan.end)
    stored = {k: v for k, v in store.readings().items() if plan.t0 < k[2] <= plan.end}
    assert stored == truth
    assert store.drops().get("replayed", 0) == 0
    store.close()


def _open_and_write(path: str, name: str) -> None:
    state = open_meter_state(path)
    assert state is not None
    state.write(name, 1)
    state.write_many([(f"{name}-a", 2), (f"{name}-b", 3)])
    state.close()


def test_workers_open_the_prepared_meter_state_at_once_without_a_lock_error(
    tmp_path: Path,
) -> None:
    """Two processes making one new database WAL at once: SQLite may answer one "database
    is locked" at once, whatever its busy timeout (about one first open in 50). The runner
    prepares the file (WAL, table) before its workers start; then their opens only read."""
    context = multiprocessing.get_context("fork")
    for round_index in range(60):
        path = str(tmp_path / f"meters-{round_index}.sqlite")
        prepare_meter_state(path)
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        workers = [context.Process(target=_open_and_write, args=(path, f"w{k}")) for k in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(HANG_GUARD_S)
        assert [worker.exitcode for worker in workers] == [0, 0], f"round {round_index}"
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT count(*) FROM security_state").fetchone() == (6,)
