"""A head end that resumes: a collector killed and started again on the same store.

The fleet (sim.fleet) and the collector are sans-IO, so a few lines move datagrams between
them under a virtual clock; "killing" the collector closes its SQLite connection without a
commit (what SIGKILL leaves) and drops the object, and a new one is built on the same file.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from smartmeter_proto.aroute import wrapper
from smartmeter_proto.aroute.acse import AARQ, decode_acse
from smartmeter_proto.aroute.security import decode_ciphered
from smartmeter_proto.hes.collector import Collector, CollectorConfig, MeterInfo
from smartmeter_proto.hes.push import (
    PERIOD_30MIN,
    MeterKeys,
    PowerEvent,
    PowerEventKind,
    open_push_datagram,
)
from smartmeter_proto.hes.report import service_report
from smartmeter_proto.hes.storage import MEMORY, VIA_BACKFILL, VIA_PUSH, Store
from smartmeter_proto.sim.fleet import Fleet, FleetPlan
from smartmeter_proto.sim.load_curve import JST

HES = ("hes", 1)
HES_TITLE = b"HES\x00\x00\x00\x00\x01"
START = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
_ACSE_AARQ = 0x60

Hold = Callable[[int, bytes], bool]


class Site:
    """A fleet and a collector that can be killed and started again on ``path``.

    Every APDU the collector sends is kept with the meter it went to (``sent``), every
    datagram the collector received with its time (``received``). ``hold(index, datagram)``
    keeps a meter's datagram to the head end back in ``held`` instead of delivering it.
    """

    def __init__(
        self,
        plan: FleetPlan,
        path: str,
        *,
        hold: Hold | None = None,
        config: CollectorConfig | None = None,
    ) -> None:
        self.plan = plan
        self.path = path
        self.config = config
        self.fleet = Fleet(plan, client_system_title=HES_TITLE, headend=HES)
        self.now = plan.t0
        self.hold = hold or (lambda index, data: False)
        self.held: list[tuple[int, bytes]] = []
        self.sent: list[tuple[int, bytes]] = []
        self.received: list[tuple[float, bytes]] = []
        self.store: Store
        self.collector: Collector | None = None
        self.start()

    def start(self) -> Collector:
        self.store = Store(self.path)
        self.collector = Collector(
            [
                MeterInfo(m.system_title, m.keys, ("meter", m.index), m.five_min, m.realtime)
                for m in self.fleet.members
            ],
            self.store,
            system_title=HES_TITLE,
            start=self.now,
            config=self.config,
        )
        return self.collector

    def kill(self) -> None:
        """The process dies: nothing uncommitted survives."""
        self.store.db.close()  # closing without a commit rolls the open transaction back
        self.collector = None

    def to_collector(self, index: int, data: bytes) -> None:
        if self.collector is None:
            return  # the head end is down: the datagram is lost
        self.received.append((self.now, data))
        self.collector.receive_datagram(data, ("meter", index), self.now)

    def deliver(self) -> None:
        for _ in range(100):
            moved = False
            for index, data, _destination in self.fleet.datagrams_to_send():
                moved = True
                if self.hold(index, data):
                    self.held.append((index, data))
                else:
                    self.to_collector(index, data)
            if self.collector is not None:
                for data, destination in self.collector.datagrams_to_send():
                    moved = True
                    assert isinstance(destination, tuple)
                    self.sent.append((destination[1], wrapper.decode(data).apdu))
                    self.fleet.receive(destination[1], data, HES, self.now)
                self.collector.commit()  # the adapter commits after each batch
            if not moved:
                return

    def run_until(self, end: float) -> None:
        while True:
            due = [
                d
                for d in (
                    self.fleet.next_deadline(),
                    None if self.collector is None else self.collector.next_deadline(),
                )
                if d is not None
            ]
            if not due or min(due) > end:
                break
            self.now = max(self.now, min(due))
            self.fleet.handle_timeout(self.now)
            if self.collector is not None:
                self.collector.handle_timeout(self.now)
            self.deliver()
        self.now = end


def _iv_of(apdu: bytes) -> bytes | None:
    """System title ‖ invocation counter of a ciphered APDU the head end sent (the AARQ's
    glo-initiate-request included); None for an unciphered one."""
    if apdu[0] == _ACSE_AARQ:
        aarq = decode_acse(apdu)
        assert isinstance(aarq, AARQ)
        info = aarq.user_information
        if not isinstance(info, bytes):
            return None
        apdu = info
    try:
        header = decode_ciphered(apdu)
    except (KeyError, ValueError, IndexError):
        return None
    title = header.system_title or HES_TITLE  # service-specific tags: the sender's own
    return title + header.invocation_counter.to_bytes(4, "big")


def _sealed(site: Site, keys: dict[int, bytes]) -> dict[tuple[bytes, bytes], set[bytes]]:
    """Per (key, IV): the distinct APDUs sealed under it. A retransmission of the same bytes
    (the client repeats an unanswered AARQ as it is) seals nothing new."""
    out: dict[tuple[bytes, bytes], set[bytes]] = {}
    for index, apdu in site.sent:
        iv = _iv_of(apdu)
        if iv is not None:
            out.setdefault((keys[index], iv), set()).add(apdu)
    return out


def test_no_key_and_iv_pair_is_used_twice_across_restarts_and_kills(tmp_path: Path) -> None:
    plan = FleetPlan(
        meters=5, start=START, hours=8, loss=0.04, five_min_share=0.4, realtime_share=0.2, seed=22
    )  # a seed whose losses fall in every phase
    site = Site(plan, str(tmp_path / "hes.sqlite"))
    keys = {m.index: m.keys.ek for m in site.fleet.members}
    phases = [plan.t0 + 2 * 3600, plan.t0 + 4 * 3600, plan.t0 + 6 * 3600]
    sent_before: list[int] = []
    for k, at in enumerate(phases):
        site.run_until(at)
        sent_before.append(len(site.sent))
        if k % 2 == 0:
            site.kill()  # killed mid-run: only what was committed survives
            site.run_until(at + 3600)  # down for an hour: the pushes of that hour are lost
        else:
            assert site.collector is not None
            site.collector.finish()
            site.store.close()  # a clean stop
        site.start()
    site.run_until(plan.end + 5400)
    site.store.commit()

    sealed = _sealed(site, keys)
    reused = {pair: apdus for pair, apdus in sealed.items() if len(apdus) > 1}
    assert not reused, "a (key, IV) pair sealed two different APDUs"
    counts = [
        sent_before[0],
        *(b - a for a, b in itertools.pairwise(sent_before)),
        len(site.sent) - sent_before[-1],
    ]
    assert all(n > 0 for n in counts), counts  # every collector instance ciphered requests
    # one counter for all keys: no IV value at all came back after a restart
    assert len({iv for _key, iv in sealed}) == len(sealed)

    truth = site.fleet.measured(plan.t0, plan.end)
    stored = site.store.readings()
    assert {k: v for k, v in stored.items() if k in truth} == truth  # nothing lost
    report = service_report(site.store, t0=plan.t0, end=plan.end)
    assert report.lost_30min == report.lost_5min == 0
    backfilled = site.store.db.execute(
        "SELECT count(*) FROM readings WHERE via = ?", (VIA_BACKFILL,)
    ).fetchone()[0]
    assert backfilled >= 2 * plan.meters  # the hours the head end was down, read back


def _opened(site: Site, data: bytes) -> PowerEvent | None:
    keys = {m.system_title: m.keys for m in site.fleet.members}
    record = open_push_datagram(data, keys.get, None).record
    return record if isinstance(record, PowerEvent) else None


def test_every_push_captured_before_a_restart_is_refused_as_replayed_after_it(
    tmp_path: Path,
) -> None:
    plan = FleetPlan(
        meters=6, start=START, hours=5, outage_s=3600, outage_at_s=3600 + 7, areas=2, seed=4
    )
    site = Site(plan, str(tmp_path / "hes.sqlite"))
    site.run_until(plan.t0 + 3 * 3600)  # the outage and the restoration are behind
    captured = [data for _at, data in site.received if data[8] == 0xDB]
    events = [e for e in (_opened(site, d) for d in captured) if e is not None]
    assert {e.kind for e in events} == {PowerEventKind.LAST_GASP, PowerEventKind.RESTORED}
    assert len(captured) > 20
    site.kill()

    collector = site.start()
    before = site.store.db.execute(
        "SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM power_events)"
    ).fetchone()
    for data in captured:  # an attacker replays everything it recorded, in order
        collector.receive_datagram(data, ("meter", 0), site.now)
    collector.commit()
    assert collector.stats.dropped == {"replayed": len(captured)}
    assert collector.stats.pushes == 0
    after = site.store.db.execute(
        "SELECT (SELECT count(*) FROM readings), (SELECT count(*) FROM power_events)"
    ).fetchone()
    assert after == before
    assert site.store.drops() == {"replayed": len(captured)}

    # the meters' own new pushes are taken as before, and nothing is missing in the end
    site.run_until(plan.end + 5400)
    assert collector.stats.pushes > 0
    assert set(collector.stats.dropped) == {"replayed"}
    truth = site.fleet.measured(plan.t0, plan.end)
    assert {k: v for k, v in site.store.readings().items() if k in truth} == truth


def test_a_restarted_collector_keeps_the_outage_it_knew(tmp_path: Path) -> None:
    """A Last Gasp seen before the restart keeps the meter in outage after it (no read-back
    of a meter without power); the restoration that follows is back-filled as usual."""
    plan = FleetPlan(
        meters=4, start=START, hours=6, outage_s=2 * 3600, outage_at_s=2 * 3600 + 7, areas=2, seed=8
    )
    site = Site(plan, str(tmp_path / "hes.sqlite"))
    site.run_until(plan.t0 + 3 * 3600)  # inside the outage
    site.kill()
    collector = site.start()
    out = [m for m in site.fleet.members if not m.meter.powered]
    assert len(out) == 2
    for member in out:
        meter = collector._meters[member.system_title]  # the rebuilt state
        assert meter.in_outage
        assert meter.last_gasp_at is not None
    site.run_until(plan.end + 5400)
    assert collector.stats.reads_failed == 0  # nobody asked a meter without power
    report = service_report(site.store, t0=plan.t0, end=plan.end)
    assert report.lost_30min == 0
    assert report.last_gasps == report.restorations == 2


def test_a_key_transfer_mid_run_loses_no_push() -> None:
    plan = FleetPlan(
        meters=3, start=START, hours=4, five_min_share=0.34, realtime_share=0.34, seed=14
    )  # a seed whose meter 0 pushes in the 25 minutes before the re-key
    rekey_at = plan.t0 + 2 * 3600
    target = 0
    holding = {"on": False}

    def hold(index: int, data: bytes) -> bool:
        # pushes of the meter sent under its old keys just before the transfer arrive late
        return holding["on"] and index == target and data[8] == 0xDB

    site = Site(plan, MEMORY, hold=hold)
    member = site.fleet.members[target]
    old = member.keys
    assert old.kek is not None
    new = MeterKeys(bytes(range(16)), bytes(range(16, 32)), old.kek)
    site.run_until(rekey_at - 1500)
    holding["on"] = True
    site.run_until(rekey_at)
    in_flight = list(site.held)
    assert in_flight  # some pushes sealed under the old keys are still on their way
    site.held.clear()
    holding["on"] = False
    collector = site.collector
    assert collector is not None
    collector.rekey(member.system_title, new, site.now)
    site.deliver()
    assert collector.stats.rekeys == 1
    assert collector.keys_of(member.system_title) == new
    pushes = collector.stats.pushes
    for index, data in in_flight:  # the old keys' pushes arrive after the change
        site.to_collector(index, data)
    assert collector.stats.pushes - pushes == len(in_flight)  # every one of them taken
    site.run_until(plan.end + 3600)

    assert collector.stats.dropped == {}
    assert collector.stats.rekeys_failed == 0
    # the meter sealed its later pushes under the new keys, and they were taken
    late = [
        d
        for at, d in site.received
        if at > rekey_at + 60 and d[8] == 0xDB and d[10:18] == member.system_title
    ]
    assert late
    for data in late:
        open_push_datagram(data, {member.system_title: new}.get, None)
    truth = site.fleet.measured(plan.t0, plan.end)
    assert {k: v for k, v in site.store.readings().items() if k in truth} == truth
    pushed = site.store.db.execute(
        "SELECT count(*) FROM readings WHERE system_title = ? AND period = ? AND via = ? "
        "AND period_end > ? AND period_end <= ?",
        (member.system_title, PERIOD_30MIN, VIA_PUSH, rekey_at, plan.end),
    ).fetchone()[0]
    assert pushed == 4  # after the change, every 30-minute value came by push (new keys)


def test_a_store_must_be_named_and_a_meter_cannot_share_the_head_ends_title() -> None:
    with pytest.raises(ValueError, match="needs a path"):
        Store("")
    keys = MeterKeys(bytes(16), bytes(16))
    with pytest.raises(ValueError, match="differ from the head end"):
        Collector(
            [MeterInfo(HES_TITLE, keys, ("meter", 0))],
            Store(MEMORY),
            system_title=HES_TITLE,
            start=START.timestamp(),
        )


def test_the_collector_counter_lives_in_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "hes.sqlite")
    first = Collector([], Store(path), system_title=HES_TITLE, start=START.timestamp())
    used = [first.invocation_counter.next() for _ in range(3)]
    first.store.db.close()
    again = Collector([], Store(path), system_title=HES_TITLE, start=START.timestamp())
    assert again.invocation_counter.next() > max(used)
