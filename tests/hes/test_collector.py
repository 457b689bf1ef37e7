"""hes.collector without sockets: a small fleet and the collector exchange datagrams in memory.

The fleet (sim.fleet) and the collector are both sans-IO, so a few lines move datagrams
between them under a virtual clock; loss is chosen per datagram by the test.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute import wrapper
from smartmeter_proto.aroute.apdu import DataNotification, decode_apdu
from smartmeter_proto.aroute.axdr import Data, DataType
from smartmeter_proto.aroute.security import protect, split_ciphered, unprotect
from smartmeter_proto.hes.collector import Collector, CollectorConfig, CollectorStats, MeterInfo
from smartmeter_proto.hes.push import PERIOD_30MIN, MeterKeys
from smartmeter_proto.hes.report import service_report
from smartmeter_proto.hes.storage import MEMORY, VIA_BACKFILL, VIA_PUSH, Store
from smartmeter_proto.sim.fleet import Fleet, FleetPlan
from smartmeter_proto.sim.load_curve import JST

HES = ("hes", 1)
HES_TITLE = b"HES\x00\x00\x00\x00\x01"
START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)

Drop = Callable[[bytes, Hashable], bool]


class Net:
    """Fleet and collector joined in memory; ``drop(datagram, destination)`` loses one."""

    def __init__(self, plan: FleetPlan, drop: Drop | None = None) -> None:
        self.fleet = Fleet(plan, client_system_title=HES_TITLE, headend=HES)
        self.store = Store(MEMORY)
        self.collector = Collector(
            [
                MeterInfo(m.system_title, m.keys, ("meter", m.index), m.five_min, m.realtime)
                for m in self.fleet.members
            ],
            self.store,
            system_title=HES_TITLE,
            start=plan.t0,
        )
        self.now = plan.t0
        self.drop = drop or (lambda data, destination: False)
        self.to_meters: list[bytes] = []

    def _deliver(self) -> None:
        for _ in range(100):
            moved = False
            for index, data, destination in self.fleet.datagrams_to_send():
                moved = True
                if not self.drop(data, destination):
                    self.collector.receive_datagram(data, ("meter", index), self.now)
            for data, destination in self.collector.datagrams_to_send():
                moved = True
                self.to_meters.append(data)
                if not self.drop(data, destination):
                    assert isinstance(destination, tuple)
                    self.fleet.receive(destination[1], data, HES, self.now)
            if not moved:
                return

    def run_until(self, end: float) -> None:
        while True:
            due = min(
                d
                for d in (self.fleet.next_deadline(), self.collector.next_deadline())
                if d is not None
            )
            if due > end:
                break
            self.now = max(self.now, due)
            self.fleet.handle_timeout(self.now)
            self.collector.handle_timeout(self.now)
            self._deliver()
        self.now = end
        self.collector.finish()


def test_a_lost_push_is_read_back_within_the_hour() -> None:
    plan = FleetPlan(meters=4, start=START, hours=3, five_min_share=0, realtime_share=0)
    lost: list[bytes] = []

    def drop(data: bytes, destination: Hashable) -> bool:
        if destination == HES and data[8] == 0xDB and not lost:
            lost.append(data)  # the first push of the run
            return True
        return False

    net = Net(plan, drop)
    net.run_until(plan.end + 3600)
    rows = net.store.db.execute(
        "SELECT via, received_at - period_end FROM readings WHERE period = ? AND period_end <= ?",
        (PERIOD_30MIN, plan.end),
    ).fetchall()
    assert lost
    assert len(rows) == 4 * 6
    backfilled = [delay for via, delay in rows if via == VIA_BACKFILL]
    assert len(backfilled) == 1
    assert backfilled[0] <= 3600
    truth = net.fleet.measured(plan.t0, plan.end)
    assert {k: v for k, v in net.store.readings().items() if k in truth} == truth
    # the read-back went out as a ciphered GET (glo-get-request) after an AARQ
    assert [wrapper.decode(d).apdu[0] for d in net.to_meters][:2] == [0x60, 0xC8]


def test_an_outage_is_tracked_and_everything_else_confirmed() -> None:
    plan = FleetPlan(
        meters=10,
        start=START,
        hours=8,
        outage_s=7200,
        areas=2,
        loss=0.02,
        reboots=2,
        five_min_share=0.2,
        realtime_share=0.1,
        seed=3,
    )
    net = Net(plan)
    net.run_until(plan.end + 5400)
    truth = net.fleet.measured(plan.t0, plan.end)
    assert {k: v for k, v in net.store.readings().items() if k in truth} == truth
    report = service_report(
        net.store, t0=plan.t0, end=plan.end, outages_injected=net.fleet.stats.outages_injected
    )
    assert report.lost_30min == 0
    assert report.lost_5min == 0
    assert net.fleet.stats.outages_injected == 5
    events = net.store.db.execute("SELECT kind, count(*) FROM power_events GROUP BY kind")
    assert dict(events.fetchall()) == {1: 5, 2: 5}
    assert net.fleet.stats.reboots_injected == 2


def test_forged_replayed_garbage_and_unknown_pushes_are_counted_and_dropped() -> None:
    plan = FleetPlan(meters=6, start=START, hours=4, hostile=3, seed=5)
    net = Net(plan)
    net.run_until(plan.end + 3600)
    sent = net.fleet.stats.hostile_sent
    drops = net.store.drops()
    assert sent["forged"] == drops["forged"]
    assert sent["replayed"] == drops["replayed"]
    assert sent["unknown_meter"] == drops["unknown_meter"]
    assert sent["garbage"] == drops["malformed"]
    assert sum(sent.values()) == 12
    # genuine traffic kept flowing: every 30-minute value is stored, by push
    vias = net.store.db.execute(
        "SELECT via, count(*) FROM readings WHERE period = ? AND period_end <= ? GROUP BY via",
        (PERIOD_30MIN, plan.end),
    )
    assert dict(vias.fetchall()) == {VIA_PUSH: 6 * 8}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=120), max_size=8), st.integers(0, 3))
def test_any_datagram_from_anywhere_never_raises(datagrams: list[bytes], who: int) -> None:
    plan = FleetPlan(meters=2, start=START, hours=1)
    net = Net(plan)
    net.collector.confirm_all(plan.t0 + 3600, plan.t0)  # sessions wait for their AARE
    assert net.collector.datagrams_to_send()
    source: Hashable = ("meter", who) if who < 2 else ("stranger", who)
    for data in datagrams:
        net.collector.receive_datagram(data, source, plan.t0)
        net.collector.receive_datagram(
            wrapper.encode(wrapper.WrapperFrame(1, 16, data)), source, plan.t0
        )
    assert sum(net.collector.stats.dropped.values()) <= 2 * len(datagrams)
    assert net.collector.stats.datagrams == 2 * len(datagrams)


# ------------------------------------------------------- compiled layouts = general path


@functools.cache
def _fleet_pushes() -> tuple[FleetPlan, tuple[tuple[bytes, MeterKeys, bytes], ...]]:
    """(datagram, sender's keys, deciphered APDU) of every push of a small mixed fleet."""
    plan = FleetPlan(
        meters=3,
        start=START,
        hours=2,
        five_min_share=0.7,
        realtime_share=0.7,
        outage_s=1800,
        areas=1,
        seed=9,
    )
    fleet = Fleet(plan, client_system_title=HES_TITLE, headend=HES)
    keys = {m.system_title: m.keys for m in fleet.members}
    out = []
    while (due := fleet.next_deadline()) is not None and due <= plan.end:
        fleet.handle_timeout(due)
        for _, data, _ in fleet.datagrams_to_send():
            header = split_ciphered(wrapper.decode(data).apdu)
            assert header.system_title is not None
            meter = keys[header.system_title]
            plain = unprotect(wrapper.decode(data).apdu, ek=meter.ek, ak=meter.ak).apdu
            out.append((data, meter, plain))
    return plan, tuple(out)


def _datagrams(draw: st.DataObject) -> list[bytes]:
    """Genuine pushes in order, with replays, forgeries, and pushes whose deciphered content
    was changed and sealed again under the sender's keys and counter (a tag that verifies)."""
    _, pushes = _fleet_pushes()
    out: list[bytes] = []
    for data, meter, plain in pushes:
        kind = draw.draw(st.sampled_from(["none", "none", "replay", "forge", "reseal"]))
        if kind != "reseal":
            out.append(data)
        if kind == "replay":
            out.append(draw.draw(st.sampled_from(out)))
        elif kind == "forge":
            raw = bytearray(data)
            raw[draw.draw(st.integers(8, len(raw) - 1))] ^= 1 << draw.draw(st.integers(0, 7))
            out.append(bytes(raw))
        elif kind == "reseal":
            raw = bytearray(plain)
            for _ in range(draw.draw(st.integers(1, 2))):
                raw[draw.draw(st.integers(0, len(raw) - 1))] = draw.draw(st.integers(0, 255))
            header = split_ciphered(wrapper.decode(data).apdu)
            assert header.system_title is not None
            apdu = protect(
                bytes(raw),
                security_control=0x30,
                system_title=header.system_title,
                invocation_counter=header.invocation_counter,
                ek=meter.ek,
                ak=meter.ak,
            )  # in place of the genuine push, under its counter
            out.append(wrapper.encode(wrapper.WrapperFrame(1, 1, apdu)))
    return out


def _collect(datagrams: list[bytes], *, compiled: bool) -> tuple[object, ...]:
    plan, _ = _fleet_pushes()
    fleet = Fleet(plan, client_system_title=HES_TITLE, headend=HES)
    store = Store(MEMORY, max_buffered=7)  # small: rows also go out before the commit
    collector = Collector(
        [
            MeterInfo(m.system_title, m.keys, ("meter", m.index), m.five_min, m.realtime)
            for m in fleet.members
        ],
        store,
        system_title=HES_TITLE,
        start=plan.t0,
        config=CollectorConfig(compiled_layouts=compiled),
    )
    for k, data in enumerate(datagrams):
        collector.receive_datagram(data, ("meter", 0), plan.t0 + 60 * k)
    collector.finish()
    return (
        store.readings(),
        store.power_events(),
        store.drops(),
        collector.stats,
        collector.clock_drift(),
        store.db.execute("SELECT * FROM readings").fetchall(),
    )


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_compiled_layouts_store_and_refuse_what_the_general_path_does(draw: st.DataObject) -> None:
    datagrams = _datagrams(draw)
    compiled = _collect(datagrams, compiled=True)
    assert compiled == _collect(datagrams, compiled=False)
    readings, _, drops, stats = compiled[:4]
    assert readings  # genuine traffic was stored
    assert isinstance(stats, CollectorStats)
    assert isinstance(drops, dict)
    assert stats.pushes + sum(drops.values()) == len(datagrams)


def _with_register(data: bytes, meter: MeterKeys, plain: bytes, value: int) -> bytes:
    """``data`` sealed again (its keys and counter: a tag that verifies) with its first
    register a long64-unsigned of ``value``."""
    notification = decode_apdu(plain)
    assert isinstance(notification, DataNotification)
    fields = notification.body.value
    assert isinstance(fields, tuple)
    body = Data(
        DataType.STRUCTURE, (*fields[:3], Data(DataType.LONG64_UNSIGNED, value), *fields[4:])
    )
    header = split_ciphered(wrapper.decode(data).apdu)
    assert header.system_title is not None
    apdu = protect(
        dataclasses.replace(notification, body=body).encode(),
        security_control=0x30,
        system_title=header.system_title,
        invocation_counter=header.invocation_counter,
        ek=meter.ek,
        ak=meter.ak,
    )
    return wrapper.encode(wrapper.WrapperFrame(1, 1, apdu))


@pytest.mark.parametrize("compiled", [True, False])
def test_a_register_beyond_signed_64_bits_is_dropped_and_the_store_keeps_committing(
    compiled: bool,
) -> None:
    """A long64-unsigned register at 2^63 cannot be stored (SQLite INTEGER and the Parquet
    column are signed 64 bits): stored, it made every later commit of the store fail. It
    is one push dropped as malformed; 2^63 - 1, and every other push, are stored."""
    _, pushes = _fleet_pushes()
    first, second = pushes[0], pushes[1]
    datagrams = [
        _with_register(*first, 1 << 63),
        _with_register(*second, (1 << 63) - 1),
        *(data for data, _, _ in pushes[2:]),
    ]
    readings, _, drops, stats = _collect(datagrams, compiled=compiled)[:4]
    assert drops == {"malformed": 1}
    assert isinstance(stats, CollectorStats)
    assert stats.pushes == len(datagrams) - 1
    assert isinstance(readings, dict)
    assert (1 << 63) - 1 in {v[0] for v in readings.values() if v}
