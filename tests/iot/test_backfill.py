"""Back-fill of sequence-numbered IoT readings: meter store, collector, lossy links in memory."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.errors import SessionError
from smartmeter_proto.iot.backfill import (
    BackfillCollector,
    BackfillDue,
    DuplicateReading,
    Event,
    GapDetected,
    GapFilled,
    LossReason,
    MeterReading,
    MeterStore,
    NewReading,
    RequestAbandoned,
    Unrecoverable,
)
from smartmeter_proto.iot.backfill.ranges import Ranges

# -- helpers --------------------------------------------------------------------------------


def answer_all(
    collector: BackfillCollector,
    stores: dict[str, MeterStore],
    now: float,
    *,
    lose_answer: Callable[[BackfillDue], bool] | None = None,
    sent: list[BackfillDue] | None = None,
) -> list[Event]:
    """Carry requests to the meters and their answers back until none is left to send.

    ``lose_answer`` is a callable ``(request) -> bool`` deciding whether the link drops it.
    """
    events: list[Event] = []
    while requests := collector.requests_to_send():
        for request in requests:
            if sent is not None:
                sent.append(request)
            if lose_answer is not None and lose_answer(request):
                continue
            answer = stores[request.meter_id].range(request.first, request.last)
            events += collector.receive_backfill(request.meter_id, answer, now, request=request)
    return events


def run_until_quiet(
    collector: BackfillCollector,
    stores: dict[str, MeterStore],
    now: float,
    *,
    lose_answer: Callable[[BackfillDue], bool] | None = None,
    sent: list[BackfillDue] | None = None,
    max_steps: int = 10_000,
) -> tuple[float, list[Event]]:
    """Answer requests and fire timers until the collector asks for nothing more."""
    events = answer_all(collector, stores, now, lose_answer=lose_answer, sent=sent)
    for _ in range(max_steps):
        deadline = collector.next_deadline()
        if deadline is None:
            return now, events
        now = max(now, deadline)
        events += collector.handle_timeout(now)
        events += answer_all(collector, stores, now, lose_answer=lose_answer, sent=sent)
    raise AssertionError("collector never went quiet")


def check_invariants(collector: BackfillCollector, meter_id: str) -> None:
    report = collector.completeness(meter_id)
    stored = collector.stored(meter_id)
    assert report.received == len(stored)
    assert 0.0 <= report.ratio <= 1.0
    assert all(1 <= seq <= report.expected for seq in stored)
    gaps = {s for first, last in report.missing_ranges for s in range(first, last + 1)}
    assert gaps.isdisjoint(stored)
    assert len(gaps) + len(stored) == report.expected
    flight = collector.in_flight(meter_id)
    assert len(flight) <= collector.max_outstanding
    assert all(r.last - r.first < collector.max_range for r in flight)


# -- the meter side -------------------------------------------------------------------------


def test_store_numbers_from_one_and_evicts_oldest() -> None:
    store = MeterStore("gas-1", capacity=3, max_per_answer=2)
    assert store.latest() is None
    assert store.range(1, 10) == []
    readings = [store.record(100 + i, now=60.0 * i) for i in range(5)]
    assert [r.seq for r in readings] == [1, 2, 3, 4, 5]
    assert readings[0] == MeterReading("gas-1", 1, 0.0, 100)
    assert store.evicted == 2
    assert store.oldest_kept_seq == 3
    assert store.latest() == readings[4]
    assert store.range(1, 10) == readings[2:4]  # clipped below (evicted) and by max_per_answer
    assert store.range(5, 9) == readings[4:]
    assert store.range(1, 2) == []
    assert list(store.chunks(1, 10)) == [readings[2:4], readings[4:]]


def test_store_without_storage_keeps_only_its_latest() -> None:
    for capacity in (0, 1):
        store = MeterStore("water-1", capacity=capacity)
        for i in range(4):
            store.record(i, float(i))
        assert store.latest() == MeterReading("water-1", 4, 3.0, 3)
        assert store.range(1, 3) == []
        assert store.range(4, 4) == ([] if capacity == 0 else [store.latest()])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="seq"):
        MeterReading("m", 0, 0.0, 1)
    with pytest.raises(ValueError, match="first"):
        BackfillDue("m", 5, 4)
    with pytest.raises(ValueError, match="capacity"):
        MeterStore("m", capacity=-1)
    with pytest.raises(ValueError, match="first"):
        MeterStore("m").range(0, 3)
    with pytest.raises(ValueError, match="max_range"):
        BackfillCollector(max_range=0)
    with pytest.raises(ValueError, match="seq"):
        BackfillCollector().note_latest("m", -1, 0.0)


# -- the collector --------------------------------------------------------------------------


def test_duplicates_and_reordering() -> None:
    store = MeterStore("m")
    r = [store.record(i * 10, float(i)) for i in range(6)]
    c = BackfillCollector()
    assert c.receive_reading(r[0], 0.0) == [NewReading(r[0])]
    assert c.receive_reading(r[2], 1.0) == [GapDetected("m", 2, 2), NewReading(r[2])]
    assert c.requests_to_send() == [BackfillDue("m", 2, 2)]
    assert c.receive_reading(r[1], 2.0) == [GapFilled(r[1], backfilled=False)]
    assert c.in_flight("m") == []  # nothing left to ask for: the slot is freed
    assert c.receive_reading(r[1], 3.0) == [DuplicateReading(r[1], conflicting=False)]
    forged = MeterReading("m", 2, r[1].time, 999)
    assert c.receive_reading(forged, 4.0) == [DuplicateReading(forged, conflicting=True)]
    assert c.stored("m")[2] == r[1]  # the first copy stays
    assert c.duplicates("m") == 2
    # A late answer to the request the reordered reading already satisfied is harmless.
    assert c.receive_backfill("m", [r[1]], 5.0) == [DuplicateReading(r[1], conflicting=False)]
    c.receive_reading(r[5], 6.0)
    c.receive_reading(r[4], 7.0)
    c.receive_reading(r[3], 8.0)
    report = c.completeness("m")
    assert (report.received, report.expected, report.ratio) == (6, 6, 1.0)
    assert report.missing_ranges == ()
    assert c.next_deadline() is None or c.handle_timeout(c.next_deadline() or 0.0) == []


def test_outage_of_120_readings_plus_random_loss_is_fully_back_filled() -> None:
    rng = random.Random(20261125)
    store = MeterStore("gas-42", capacity=1000, max_per_answer=16)
    c = BackfillCollector(request_timeout=20.0, max_range=16, max_outstanding=3, retry_limit=3)
    stores = {"gas-42": store}
    outage = range(200, 320)  # seqs 200..319 never cross the link
    sent: list[BackfillDue] = []
    events: list[Event] = []
    produced: dict[int, MeterReading] = {}
    now = 0.0
    for i in range(1, 501):
        now = 60.0 * i
        reading = produced[i] = store.record(round(rng.uniform(0, 5), 3), now)
        link_up = reading.seq not in outage

        def lossy(_request: BackfillDue, up: bool = link_up) -> bool:
            return not up or rng.random() < 0.2  # 20 % of answers lost when the link is up

        # Fire the timers that fell due while waiting for this reading.
        while (d := c.next_deadline()) is not None and d <= now:
            events += c.handle_timeout(d)
            events += answer_all(c, stores, d, lose_answer=lossy, sent=sent)
        if link_up and rng.random() >= 0.05:
            events += c.receive_reading(reading, now)
        events += answer_all(c, stores, now, lose_answer=lossy, sent=sent)
        check_invariants(c, "gas-42")
    # The link is back; a status message announces seq 500 even if the last readings were lost.
    c.note_latest("gas-42", store.latest_seq, now)
    _, healing = run_until_quiet(c, stores, now, lose_answer=lossy, sent=sent)
    events += healing
    report = c.completeness("gas-42")
    assert (report.received, report.expected, report.ratio) == (500, 500, 1.0)
    assert report.missing_ranges == report.unrecoverable_ranges == ()
    assert c.stored("gas-42") == produced
    assert not any(isinstance(e, Unrecoverable) for e in events)
    assert all(r.last - r.first < 16 for r in sent)
    # The scenario did what it says: the outage showed as one gap, requests were lost and
    # sent again, and some missing readings arrived by back-fill.
    assert any(isinstance(e, GapDetected) and e.first <= 200 and e.last >= 319 for e in events)
    assert len(sent) > len(set(sent))
    assert sum(isinstance(e, GapFilled) and e.backfilled for e in events) >= 120
    assert c.fleet_completeness().ratio == 1.0


def test_unanswered_request_is_retried_then_abandoned_until_the_meter_shows_life() -> None:
    store = MeterStore("m")
    r = [store.record(i, float(i)) for i in range(10)]
    c = BackfillCollector(request_timeout=5.0, max_range=8, max_outstanding=1, retry_limit=2)
    c.receive_reading(r[0], 0.0)
    c.receive_reading(r[4], 1.0)
    assert c.requests_to_send() == [BackfillDue("m", 2, 4)]
    assert c.next_deadline() == 6.0
    assert c.handle_timeout(5.9) == []
    sends = 1
    events: list[Event] = []
    while (deadline := c.next_deadline()) is not None:
        events += c.handle_timeout(deadline)
        sends += len(c.requests_to_send())
    assert sends == 1 + c.retry_limit
    assert events == [RequestAbandoned("m", 2, 4, attempts=3)]
    assert c.requests_to_send() == []  # left alone while it shows no life
    # A life sign (a status, a reading) has it asked again; it never answered, so after
    # retry_limit + 1 rounds the gap is given up rather than re-polled for ever.
    for round_ in range(c.retry_limit):
        if round_ == 0:
            c.note_latest("m", 5, 100.0)
        else:
            c.receive_reading(r[4 + round_], 100.0 * (round_ + 1))
        assert c.requests_to_send() == [BackfillDue("m", 2, 4)]
        while (deadline := c.next_deadline()) is not None:
            events = c.handle_timeout(deadline)
            c.requests_to_send()
    assert events == [
        RequestAbandoned("m", 2, 4, attempts=3),
        Unrecoverable("m", 2, 4, LossReason.NO_ANSWER),
    ]
    # Taken for a meter without back-fill: a new gap is given up without asking.
    assert c.receive_reading(r[7], 1000.0) == [
        GapDetected("m", 7, 7),
        NewReading(r[7]),
        Unrecoverable("m", 7, 7, LossReason.NO_ANSWER),
    ]
    assert c.requests_to_send() == []
    assert c.next_deadline() is None
    assert c.completeness("m").unrecoverable_ranges == ((2, 4), (7, 7))
    # The meter answers after all: the operator asks again and everything comes back.
    assert c.retry_unrecoverable("m", 1000.0) == [GapDetected("m", 2, 4), GapDetected("m", 7, 7)]
    run_until_quiet(c, {"m": store}, 1000.0)
    assert c.completeness("m").ratio == 1.0


def test_first_answer_revives_gaps_given_up_for_no_answer() -> None:
    store = MeterStore("m")
    r = [store.record(i, float(i)) for i in range(8)]
    c = BackfillCollector(request_timeout=1.0, max_outstanding=1, retry_limit=0)
    c.receive_reading(r[0], 0.0)
    c.receive_reading(r[2], 0.0)
    c.requests_to_send()
    assert c.handle_timeout(1.0) == [
        RequestAbandoned("m", 2, 2, attempts=1),
        Unrecoverable("m", 2, 2, LossReason.NO_ANSWER),
    ]
    # Taken for a meter without back-fill: the next gap is not even asked for.
    assert c.receive_reading(r[4], 2.0)[-1] == Unrecoverable("m", 4, 4, LossReason.NO_ANSWER)
    assert c.requests_to_send() == []
    # The answer to the first request arrives late: the meter does back-fill after all.
    assert c.receive_backfill("m", store.range(2, 2), 3.0) == [
        GapFilled(r[1], backfilled=True),
        GapDetected("m", 4, 4),
    ]
    assert c.requests_to_send() == [BackfillDue("m", 4, 4)]
    c.receive_backfill("m", store.range(4, 4), 3.5)
    assert c.completeness("m").ratio == 1.0


def test_eviction_makes_a_range_unrecoverable_once_and_for_all() -> None:
    store = MeterStore("m", capacity=50, max_per_answer=32)
    readings = [store.record(i, float(i)) for i in range(101)]
    c = BackfillCollector(request_timeout=5.0, max_range=32, max_outstanding=2, retry_limit=3)
    c.receive_reading(readings[100], 101.0)  # seq 101: the meter keeps 52..101
    sent: list[BackfillDue] = []
    _, events = run_until_quiet(c, {"m": store}, 101.0, sent=sent)
    lost = [e for e in events if isinstance(e, Unrecoverable)]
    assert lost == [
        Unrecoverable("m", 1, 32, LossReason.GONE_FROM_METER),
        Unrecoverable("m", 33, 51, LossReason.GONE_FROM_METER),
    ]
    assert sent == [
        BackfillDue("m", 1, 32),
        BackfillDue("m", 33, 64),
        BackfillDue("m", 65, 96),
        BackfillDue("m", 97, 100),
    ]
    report = c.completeness("m")
    assert (report.received, report.expected) == (50, 101)
    assert report.unrecoverable_ranges == report.missing_ranges == ((1, 51),)
    assert c.fleet_completeness().unrecoverable == 51
    assert c.next_deadline() is None
    c.receive_reading(store.record(0, 200.0), 200.0)
    assert c.requests_to_send() == []  # never asked again


@pytest.mark.parametrize("capacity", [0, 1])
def test_storeless_meter_is_not_polled_for_what_it_cannot_have(capacity: int) -> None:
    store = MeterStore("w", capacity=capacity)
    c = BackfillCollector(request_timeout=5.0)
    now = 0.0
    sent: list[BackfillDue] = []
    for i in range(40):
        now = 10.0 * i
        reading = store.record(i, now)
        if i % 3 == 0:  # two thirds lost on the way
            c.receive_reading(reading, now)
        now, _ = run_until_quiet(c, {"w": store}, now, sent=sent)
    report = c.completeness("w")
    assert report.received == 14
    assert report.missing_ranges == report.unrecoverable_ranges
    # Each lost seq was asked for once, in the request that followed its gap.
    assert sum(r.last - r.first + 1 for r in sent) == report.expected - report.received


def test_max_outstanding_and_max_range_are_respected() -> None:
    store = MeterStore("m", capacity=2000, max_per_answer=10)
    readings = [store.record(i, float(i)) for i in range(1000)]
    c = BackfillCollector(request_timeout=5.0, max_range=10, max_outstanding=3)
    c.receive_reading(readings[999], 0.0)
    first = c.requests_to_send()
    assert first == [BackfillDue("m", 1 + 10 * k, 10 + 10 * k) for k in range(3)]
    assert c.requests_to_send() == []
    answer = store.range(11, 20)
    c.receive_backfill("m", answer, 1.0)  # matched by its seqs: one slot frees up
    assert c.requests_to_send() == [BackfillDue("m", 31, 40)]
    assert len(c.in_flight("m")) == 3
    sent: list[BackfillDue] = []
    run_until_quiet(c, {"m": store}, 2.0, sent=sent)
    assert all(r.last - r.first + 1 <= 10 for r in sent)
    assert c.completeness("m").ratio == 1.0


def test_answer_capped_by_the_meter_is_asked_for_again_not_given_up() -> None:
    store = MeterStore("m", max_per_answer=4)
    readings = [store.record(i, float(i)) for i in range(20)]
    c = BackfillCollector(max_range=16)
    c.receive_reading(readings[19], 0.0)
    sent: list[BackfillDue] = []
    _, events = run_until_quiet(c, {"m": store}, 0.0, sent=sent)
    assert not any(isinstance(e, Unrecoverable) for e in events)
    assert c.completeness("m").ratio == 1.0
    assert sent[:2] == [BackfillDue("m", 1, 16), BackfillDue("m", 17, 19)]


def test_note_latest_reveals_trailing_losses_and_fleet_report() -> None:
    gas, water = MeterStore("gas"), MeterStore("water")
    c = BackfillCollector()
    g = [gas.record(i, float(i)) for i in range(5)]
    w = [water.record(i, float(i)) for i in range(3)]
    c.receive_reading(g[0], 0.0)
    c.receive_reading(w[0], 0.0)
    assert c.note_latest("gas", 5, 1.0) == [GapDetected("gas", 2, 5)]
    assert c.note_latest("gas", 3, 1.0) == []
    assert c.requests_to_send() == [BackfillDue("gas", 2, 5)]
    fleet = c.fleet_completeness()
    assert (fleet.meters, fleet.received, fleet.expected) == (2, 2, 6)
    assert fleet.incomplete_meters == ("gas",)
    c.receive_backfill("gas", g[1:], 2.0)
    c.note_latest("water", 3, 2.0)
    c.receive_backfill("water", [], 3.0)  # unattributed empty answer, one request in flight
    fleet = c.fleet_completeness()
    assert (fleet.received, fleet.expected, fleet.unrecoverable) == (6, 8, 2)
    assert fleet.ratio == 6 / 8
    assert c.meters() == ["gas", "water"]
    assert c.completeness("nobody").ratio == 1.0
    assert w[1].seq == 2


def test_answer_carrying_another_meters_reading_is_a_peer_error() -> None:
    c = BackfillCollector()
    with pytest.raises(SessionError, match="carries a reading"):
        c.receive_backfill("a", [MeterReading("b", 1, 0.0, 0)], 0.0)
    assert c.meters() == []


# -- property tests -------------------------------------------------------------------------


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40), st.integers(0, 5)), max_size=40))
def test_range_set_matches_a_plain_set(ops: list[tuple[bool, int, int]]) -> None:
    ranges, model = Ranges(), set[int]()
    for add, first, span in ops:
        if add:
            ranges.add(first, first + span)
            model |= set(range(first, first + span + 1))
        else:
            removed = ranges.remove(first, first + span)
            taken = model & set(range(first, first + span + 1))
            assert sum(b - a + 1 for a, b in removed) == len(taken)
            model -= taken
        spans = list(ranges)
        assert {s for a, b in spans for s in range(a, b + 1)} == model
        assert all(b + 1 < a2 for (_, b), (a2, _) in itertools.pairwise(spans))
        assert ranges.count() == len(model)
        assert all((s in ranges) == (s in model) for s in range(0, 50))


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 60),
    max_per_answer=st.integers(1, 8),
    max_range=st.integers(1, 8),
    max_outstanding=st.integers(1, 4),
    retry_limit=st.integers(0, 3),
    data=st.data(),
)
def test_any_delivery_order_and_loss_keeps_invariants_and_heals(
    n: int,
    max_per_answer: int,
    max_range: int,
    max_outstanding: int,
    retry_limit: int,
    data: st.DataObject,
) -> None:
    store = MeterStore("m", capacity=n, max_per_answer=max_per_answer)
    readings = [store.record(i * 7, float(i)) for i in range(n)]
    c = BackfillCollector(
        request_timeout=3.0,
        max_range=max_range,
        max_outstanding=max_outstanding,
        retry_limit=retry_limit,
    )
    deliveries = data.draw(st.lists(st.integers(0, n - 1), max_size=2 * n + 5), label="live")
    drops = iter(data.draw(st.lists(st.booleans(), max_size=60), label="answer dropped"))
    late: list[tuple[BackfillDue, list[MeterReading]]] = []  # answers held back, then delivered
    answered_once = False
    events: list[Event] = []
    now = 0.0
    for index in deliveries:
        now += 1.0
        events += c.receive_reading(readings[index], now)
        if data.draw(st.booleans(), label="fire timers"):
            while (d := c.next_deadline()) is not None and d <= now:
                events += c.handle_timeout(d)
        for request in c.requests_to_send():
            fate = data.draw(st.sampled_from(["answer", "drop", "late"]), label="fate")
            answer = store.range(request.first, request.last)
            if fate == "late":
                late.append((request, answer))
            elif fate == "answer" and not next(drops, False):
                answered_once = True
                events += c.receive_backfill("m", answer, now, request=request)
        if data.draw(st.booleans(), label="deliver a late answer") and late:
            request, answer = late.pop(0)
            answered_once = True
            events += c.receive_backfill("m", answer, now, request=request)
        check_invariants(c, "m")
    # Healed link: every answer now arrives, and the meter announces its latest seq in a
    # heartbeat; the second heartbeat re-arms what was abandoned while the first was handled.
    for _heartbeat in range(2):
        now += 60.0
        events += c.note_latest("m", n, now)
        now, healing = run_until_quiet(c, {"m": store}, now)
        events += healing
    check_invariants(c, "m")
    report = c.completeness("m")
    assert report.expected == n
    # The store keeps everything, so the meter never says a seq is gone.
    lost = [e for e in events if isinstance(e, Unrecoverable)]
    assert all(e.reason is LossReason.NO_ANSWER for e in lost)
    if report.ratio < 1.0:
        # Only a meter that never answered a request can have been given up on.
        assert not answered_once
        c.retry_unrecoverable("m", now)
        run_until_quiet(c, {"m": store}, now)
    report = c.completeness("m")
    assert report.ratio == 1.0
    assert c.stored("m") == {r.seq: r for r in readings}
