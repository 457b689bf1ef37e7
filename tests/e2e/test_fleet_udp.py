"""End to end: a few hundred A-route meters and the head-end collector on real UDP sockets.

Every meter has its own loopback socket; the collector stores into SQLite; the service
levels are computed from the store and checked against the meters' own profile buffers
and power event logs (what the meters measured), not against what was sent.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from smartmeter_proto.aroute.cosem import datetime_from_data
from smartmeter_proto.hes.push import PERIOD_5MIN, PERIOD_30MIN
from smartmeter_proto.hes.report import service_report
from smartmeter_proto.hes.storage import MEMORY, Store
from smartmeter_proto.sim.fleet import FleetPlan
from smartmeter_proto.sim.fleet_run import FleetRun, run_fleet
from smartmeter_proto.sim.load_curve import JST

pytestmark = pytest.mark.e2e

START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
POWER_LOG = "0-0:99.98.1.255"


def _run(plan: FleetPlan, store: Store, host: str = "127.0.0.1") -> FleetRun:
    return asyncio.run(asyncio.wait_for(run_fleet(plan, store, host=host), 240))


def test_three_hundred_meters_outage_and_loss_all_confirmed(tmp_path: object) -> None:
    plan = FleetPlan(
        meters=300,
        start=START,
        hours=12,
        loss=0.01,
        outage_s=7200,
        reboots=4,
        drifting=3,
        hostile=4,
        seed=11,
    )
    store = Store(f"{tmp_path}/fleet.sqlite")
    run = _run(plan, store)
    report = service_report(
        store, t0=plan.t0, end=plan.end, outages_injected=run.fleet.stats.outages_injected
    )
    levels = {level.name: level for level in report.levels}

    # 100 % confirmed, computed from the store ...
    confirmed = levels["30-min values collected (confirmed)"]
    assert confirmed.rate == 1.0
    assert confirmed.expected > 300 * 20
    assert levels["5-min values of the 5-min class (confirmed)"].rate == 1.0
    assert report.lost_30min == report.lost_5min == 0
    # ... and equal, value for value, to what the meters measured
    measured = run.fleet.measured(plan.t0, plan.end)
    stored = store.readings()
    assert {k: v for k, v in stored.items() if k in measured} == measured
    assert sum(1 for k in measured if k[1] == PERIOD_30MIN) == confirmed.expected
    assert (
        sum(1 for k in measured if k[1] == PERIOD_5MIN)
        == levels["5-min values of the 5-min class (confirmed)"].expected
    )

    # the faults happened and the collector saw them
    stats = run.fleet.stats
    assert stats.outages_injected == 30
    assert stats.restorations == 30
    assert stats.lost_outbound > 0
    assert stats.reboots_injected == 4
    assert stats.pushes_dropped_by_faults > 0
    # every outage is known in the store (pushed Last Gasp or read back from the meter's
    # power event log), with the meter's own times
    known = set(store.db.execute("SELECT system_title, kind, at FROM power_events"))
    logged = set()
    for member in run.fleet.members:
        log = next(p for p in member.meter.objects.values() if str(p.logical_name) == POWER_LOG)
        for row in log.buffer:  # type: ignore[attr-defined]
            at = int(datetime_from_data(row[0]).to_datetime().timestamp())
            logged.add((member.system_title, row[1].value, at))
    assert known == logged
    assert len(logged) == 60
    assert report.last_gasps + stats.lost_outbound >= 30
    assert report.last_gasps >= 25

    # hostile datagrams were dropped and counted by reason
    drops = store.drops()
    assert drops.get("forged") == stats.hostile_sent["forged"]
    assert drops.get("replayed") == stats.hostile_sent["replayed"]
    assert drops.get("unknown_meter") == stats.hostile_sent["unknown_meter"]
    assert drops.get("malformed") == stats.hostile_sent["garbage"]

    # the levels the requirements name are met with 1 % loss
    assert levels["real-time 5-min values within 10 min"].ok
    assert levels["30-min values within 60 min (preliminary)"].rate > 0.99
    # the fast clocks were noticed from the push times
    assert len([d for d in run.collector.clock_drift().values() if d > 20]) == 3
    store.close()


def test_a_small_fleet_over_ipv6_loopback() -> None:
    plan = FleetPlan(meters=5, start=START, hours=2, loss=0.05, seed=2)
    store = Store(MEMORY)
    run = _run(plan, store, host="::1")
    report = service_report(store, t0=plan.t0, end=plan.end)
    assert all(m.address[0] == "::1" for m in run.fleet.members)  # type: ignore[index]
    assert report.levels[1].rate == 1.0
    assert report.levels[1].expected == 5 * 4


def test_the_collectors_capture_decodes_the_same_on_a_dask_cluster(tmp_path: object) -> None:
    """The live collector and the batch job agree on every datagram of a captured run."""
    pytest.importorskip("distributed")
    from smartmeter_proto.hes.batch import decode_captures
    from smartmeter_proto.hes.batch_io import write_capture
    from smartmeter_proto.hes.collector import CollectorConfig
    from smartmeter_proto.hes.storage import VIA_PUSH

    plan = FleetPlan(
        meters=20, start=START, hours=4, loss=0.02, outage_s=3600, areas=4, hostile=2, seed=6
    )
    store = Store(MEMORY)
    run = asyncio.run(
        asyncio.wait_for(run_fleet(plan, store, config=CollectorConfig(capture=True)), 120)
    )
    capture = f"{tmp_path}/capture.parquet"
    assert write_capture(capture, run.collector.captured) == run.collector.stats.datagrams
    keys = {m.system_title: m.keys for m in run.fleet.members}
    summary = decode_captures(capture, keys, f"{tmp_path}/out", n_workers=2, timeout=60)
    drops = store.drops()
    (pushed,) = store.db.execute(
        "SELECT count(*) FROM readings WHERE via = ?", (VIA_PUSH,)
    ).fetchone()
    (events,) = store.db.execute(
        "SELECT count(*) FROM power_events WHERE via = ?", (VIA_PUSH,)
    ).fetchone()
    assert summary.datagrams == run.collector.stats.datagrams
    # every accepted value push, also one whose value a read-back had stored first
    assert summary.readings + summary.duplicates == run.collector.stats.readings_pushed
    assert summary.readings >= pushed
    assert summary.events == events
    assert summary.forged == drops.get("forged", 0)
    assert summary.replayed == drops.get("replayed", 0)
    assert summary.unknown_meter == drops.get("unknown_meter", 0)
    assert summary.malformed == drops.get("malformed", 0)
    assert summary.not_a_push > 0  # the meters' answers to the back-fill reads
