"""sim.fleet: members, classes, schedule and injected faults (sans-IO)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from smartmeter_proto.aroute.security import InvocationCounters, decode_ciphered
from smartmeter_proto.hes.push import MeterKeys, ValueReading, open_push_datagram
from smartmeter_proto.sim.fleet import Fleet, FleetPlan
from smartmeter_proto.sim.load_curve import JST

START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
HES = ("hes", 1)


def _drain(fleet: Fleet, until: float) -> list[tuple[float, int, bytes]]:
    out = []
    while (due := fleet.next_deadline()) is not None and due <= until:
        fleet.handle_timeout(due)
        out += [(due, i, data) for i, data, _ in fleet.datagrams_to_send()]
    return out


@pytest.mark.parametrize(
    "kwargs",
    [
        {"meters": 0},
        {"loss": 1.0},
        {"hours": 0},
        {"outage_s": -1},
        {"five_min_share": 0.01, "realtime_share": 0.02},
        {"start": datetime(2026, 5, 1)},
    ],
)
def test_bad_plans_are_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"meters": 3, "start": START, "hours": 1}
    with pytest.raises(ValueError, match=r"must|need|fleet"):
        FleetPlan(**{**base, **kwargs})  # type: ignore[arg-type]


def test_classes_keys_and_titles() -> None:
    fleet = Fleet(FleetPlan(meters=100, start=START, hours=1), client_system_title=bytes(8))
    assert sum(m.five_min for m in fleet.members) == 10
    assert sum(m.realtime for m in fleet.members) == 3
    assert all(m.five_min for m in fleet.members if m.realtime)
    assert len({m.system_title for m in fleet.members}) == 100
    assert len({m.keys.ek for m in fleet.members}) == 100
    assert "hidden" in repr(fleet.members[0].keys)
    # a lean meter has no 1-minute profile, and a 5-minute one only in the 5-minute class
    periods = {
        m.index: sorted(p.capture_period for p in m.meter.profiles.values()) for m in fleet.members
    }
    assert {tuple(v) for v in periods.values()} == {(1800,), (300, 1800)}


def test_the_same_seed_gives_the_same_run() -> None:
    plan = FleetPlan(meters=8, start=START, hours=2, loss=0.1, seed=4)
    a = _drain(Fleet(plan, client_system_title=bytes(8), headend=HES), plan.end)
    b = _drain(Fleet(plan, client_system_title=bytes(8), headend=HES), plan.end)
    assert a == b
    assert len(a) > 8


def test_taking_datagrams_while_the_meters_run_keeps_them_and_their_order() -> None:
    # what a worker does to send a step's datagrams early (sim.fleet_workers)
    plan = FleetPlan(
        meters=12, start=START, hours=3, loss=0.1, outage_s=1800, areas=3, reboots=2, seed=5
    )
    whole = _drain(Fleet(plan, client_system_title=bytes(8), headend=HES), plan.end)
    fleet = Fleet(plan, client_system_title=bytes(8), headend=HES)
    early: list[tuple[float, int, bytes]] = []
    calls = 0
    while (due := fleet.next_deadline()) is not None and due <= plan.end:

        def take(due: float = due) -> None:
            nonlocal calls
            calls += 1
            early.extend((due, i, data) for i, data, _ in fleet.datagrams_to_send())

        fleet.handle_timeout(due, on_queued=take)
        take()
    assert early == whole
    assert calls > len(whole) // 2


def test_an_area_outage_sends_last_gasps_then_restorations() -> None:
    plan = FleetPlan(meters=20, start=START, hours=4, outage_s=3600, areas=4)
    fleet = Fleet(plan, client_system_title=bytes(8), headend=HES)
    sent = _drain(fleet, plan.end)
    window = plan.outage_window
    assert window is not None
    hit = [m for m in fleet.members if m.area == 0]
    assert fleet.stats.outages_injected == fleet.stats.restorations == len(hit) == 5
    quiet = [i for t, i, _ in sent if window[0] < t < window[1]]
    assert not {m.index for m in hit} & set(quiet)  # no power, nothing sent
    assert all(m.meter.powered for m in fleet.members)


def test_a_reboot_never_reuses_an_invocation_counter() -> None:
    plan = FleetPlan(meters=3, start=START, hours=6, reboots=3, seed=9)
    fleet = Fleet(plan, client_system_title=bytes(8), headend=HES)
    sent = _drain(fleet, plan.end)
    assert fleet.stats.reboots_injected == 3
    keys = {m.system_title: m.keys for m in fleet.members}
    counters = InvocationCounters()
    for _, _, data in sent:  # strictly rising per meter across the restart, all authentic
        open_push_datagram(data, keys.get, counters)
    per_meter: dict[bytes, list[int]] = {}
    for _, _, data in sent:
        header = decode_ciphered(data[8:])
        assert header.system_title is not None
        per_meter.setdefault(header.system_title, []).append(header.invocation_counter)
    assert all(ics == sorted(set(ics)) for ics in per_meter.values())


def test_a_drifting_clock_runs_fast() -> None:
    plan = FleetPlan(meters=2, start=START, hours=24, drifting=1, drift_ppm=1000.0)
    fleet = Fleet(plan, client_system_title=bytes(8), headend=HES)
    fast = next(m for m in fleet.members if m.drift)
    assert fleet.meter_time(fast, plan.end) - plan.end == pytest.approx(86.4)
    sent = _drain(fleet, plan.t0 + 7200)
    keys = {m.system_title: m.keys for m in fleet.members}
    first = {}
    for t, i, data in sent:
        opened = open_push_datagram(data, keys.get, None)
        if isinstance(opened.record, ValueReading) and i not in first:
            first[i] = (t, opened.record.period_end)
    # the fast meter closes its 00:30 period before true 00:30
    t, period_end = first[fast.index]
    assert period_end == (START + timedelta(minutes=30)).timestamp()
    assert isinstance(keys[fast.system_title], MeterKeys)
    assert fleet.meter_time(fast, t) >= period_end
