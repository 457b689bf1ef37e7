"""The simulated A-route meter: objects, capture, ciphered pushes, outages, reservations.

Pushes are checked with the library's own security.unprotect (AES-128-GCM, security suite 0)
and apdu.decode_apdu; the reservation rules come from aroute/profile.py and the requirement
figures (60-minute push, 60 one-minute entries) from the METI/ANRE next-generation smart
meter requirements summarised in /work/shared/notes/requirements.md.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute.apdu import DataNotification, SelectiveAccess, decode_apdu
from smartmeter_proto.aroute.association import (
    Associated,
    AssociationClient,
    GetResult,
    Pushed,
    SetResult,
)
from smartmeter_proto.aroute.axdr import CosemDateTime, Data, DataType
from smartmeter_proto.aroute.context import ContextualObject, RequestContext
from smartmeter_proto.aroute.cosem import (
    AssociationLN,
    CaptureObject,
    ClassId,
    ControlState,
    CosemAccessError,
    DataAccessResult,
    ProfileGeneric,
    RangeDescriptor,
    datetime_data,
    datetime_from_data,
)
from smartmeter_proto.aroute.obis import Obis
from smartmeter_proto.aroute.profile import (
    CommandResult,
    LimitChanged,
    ReservationState,
    ValveAction,
    load_catalogue,
)
from smartmeter_proto.aroute.security import InvocationCounters, unprotect
from smartmeter_proto.security_state import MemoryStateStore, SendCounter
from smartmeter_proto.sim.ameter import (
    PUSH_DEADLINE_S,
    VALUE_PUSH_5MIN,
    VALUE_PUSH_30MIN,
    SimulatedAMeter,
)
from smartmeter_proto.sim.ameter_objects import GatedLimiter, LimiterReservationObject
from smartmeter_proto.sim.load_curve import JST, LoadCurve
from smartmeter_proto.sim.meter import SimulatedMeter

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
METER_TITLE = bytes.fromhex("4D4D4D0000BC614E")

CLIENT_TITLE = bytes.fromhex("4855534D00000001")
T0 = datetime(2026, 5, 1, 0, 0, tzinfo=JST)
MIN = timedelta(minutes=1)
CAT = load_catalogue()
PROFILE_30 = CAT.by_name("load_profile_30min").obis
PROFILE_5 = CAT.by_name("load_profile_5min").obis
PROFILE_1 = CAT.by_name("load_profile_1min").obis
POWER_PUSH = CAT.by_name("power_event_push").obis
CLOCK_TIME = CaptureObject(ClassId.CLOCK, CAT.by_name("clock").obis, 2)


def meter(**kwargs: object) -> SimulatedAMeter:
    args: dict[str, object] = {
        "start": T0,
        "system_title": METER_TITLE,
        "client_system_title": CLIENT_TITLE,
        "ek": EK,
        "ak": AK,
        "state": MemoryStateStore(),
    }
    args.update(kwargs)
    return SimulatedAMeter(**args)  # type: ignore[arg-type]


def run(m: SimulatedAMeter, start: datetime, minutes: int) -> datetime:
    now = start
    for _ in range(minutes):
        now += MIN
        m.tick(now)
    return now


def opened(pushes: list[bytes]) -> list[tuple[int, DataNotification]]:
    """Verify, decipher and decode each push: (invocation counter, notification)."""
    out = []
    for raw in pushes:
        plain = unprotect(raw, ek=EK, ak=AK)
        assert plain.system_title == METER_TITLE
        assert plain.security_control.authenticated
        assert plain.security_control.encrypted
        apdu = decode_apdu(plain.apdu)
        assert isinstance(apdu, DataNotification)
        out.append((plain.invocation_counter, apdu))
    return out


def fields(n: DataNotification) -> tuple[Data, ...]:
    assert n.body.type == DataType.STRUCTURE
    assert isinstance(n.body.value, tuple)
    return n.body.value


def when(d: Data) -> datetime:
    return datetime_from_data(d).to_datetime()


def ctx(now: datetime, *, authenticated: bool = True, fresh: bool = True) -> RequestContext:
    return RequestContext(authenticated, fresh, now, CLIENT_TITLE)


# --- construction -------------------------------------------------------------------------


def test_objects_cover_the_catalogue_and_the_object_list() -> None:
    m = meter()
    for spec in CAT.objects:
        assert m.objects[spec.obis].class_id == spec.class_id, spec.name
    assert {VALUE_PUSH_30MIN, VALUE_PUSH_5MIN} <= set(m.objects)
    association = m.objects[CAT.by_name("current_association").obis]
    assert isinstance(association, AssociationLN)
    listed = association.get(2).value
    assert isinstance(listed, tuple)
    names = {Obis.from_bytes(e.value[2].value) for e in listed}
    assert names == set(m.objects)
    for obis in (CAT.by_name("limiter_reservation").obis, CAT.by_name("ampere_limiter").obis):
        assert isinstance(m.objects[obis], ContextualObject)


def test_keys_are_checked_and_never_shown() -> None:
    m = meter()
    text = repr(m)
    assert EK.hex() not in text.lower()
    assert AK.hex() not in text.lower()
    assert METER_TITLE.hex().upper() in text
    with pytest.raises(ValueError, match="ek"):
        meter(ek=b"short")
    with pytest.raises(ValueError, match="system_title"):
        meter(system_title=b"1234")
    with pytest.raises(ValueError, match="backwards"):
        m.tick(T0 - MIN)


# --- schedule and values ------------------------------------------------------------------


def test_30_minute_push_within_60_minutes_with_load_curve_values() -> None:
    curve = LoadCurve(seed=7, pv_peak_w=3000.0)
    m = meter(curve=curve, seed=7)
    run(m, T0, 7 * 60)
    pushes = opened(m.pushes_to_send())
    counters = [ic for ic, _ in pushes]
    assert counters == list(range(1, len(pushes) + 1))
    values = [n for _, n in pushes if fields(n)[0].value == bytes(VALUE_PUSH_30MIN)]
    ends = [when(fields(n)[2]) for n in values]
    # Every period that ended at least 60 minutes ago has been pushed, once, in order.
    assert ends[:12] == [T0 + k * 30 * MIN for k in range(1, 13)]
    assert ends == sorted(set(ends))
    b_route = SimulatedMeter(curve=curve)  # shares the curve (and its start) with the A meter
    first_slot = curve.slot_of(curve.start)
    for n in values:
        _push_ln, title, period_end, imported, exported = fields(n)
        assert title.value == METER_TITLE
        end = when(period_end)
        assert end.timestamp() % 1800 == 0
        assert n.date_time is not None
        sent = CosemDateTime.decode(n.date_time).to_datetime()
        assert timedelta(0) <= sent - end <= timedelta(seconds=PUSH_DEADLINE_S)
        # Integrate the curve's 30-minute average powers independently.
        slot_end = int(end.timestamp()) // 1800
        wh_in = m.initial_kwh * 1000 + sum(
            curve.slot_power(s)[0] * 0.5 for s in range(first_slot, slot_end)
        )
        wh_out = sum(curve.slot_power(s)[1] * 0.5 for s in range(first_slot, slot_end))
        assert isinstance(imported.value, int)
        assert isinstance(exported.value, int)
        assert abs(imported.value - math.floor(wh_in / 10)) <= 1  # 10 Wh steps (scaler 1)
        assert abs(exported.value - math.floor(wh_out / 10)) <= 1
        # A- and B-route agree: 10 Wh register / 10 == 0.1 kWh count.
        assert imported.value // 10 == b_route.counts(end.timestamp())[0]


def test_push_delay_is_seeded_and_spread() -> None:
    def delays(seed: int) -> list[float]:
        m = meter(seed=seed)
        run(m, T0, 4 * 60)
        return [
            CosemDateTime.decode(n.date_time or b"").to_datetime().timestamp()
            - when(fields(n)[2]).timestamp()
            for _, n in opened(m.pushes_to_send())
        ]

    assert delays(3) == delays(3)
    assert delays(3) != delays(4)
    assert len(set(delays(3))) > 1


def test_five_minute_push_only_when_enabled() -> None:
    m = meter()
    run(m, T0, 60)
    assert all(fields(n)[0].value != bytes(VALUE_PUSH_5MIN) for _, n in opened(m.pushes_to_send()))
    m = meter(push_5min=True)
    run(m, T0, 60)
    five = [
        n for _, n in opened(m.pushes_to_send()) if fields(n)[0].value == bytes(VALUE_PUSH_5MIN)
    ]
    assert len(five) >= 10
    for n in five:
        end = when(fields(n)[2])
        assert end.timestamp() % 300 == 0
        sent = CosemDateTime.decode(n.date_time or b"").to_datetime()
        assert sent - end <= timedelta(minutes=10)  # real-time 5-minute values: 10 minutes
        assert len(fields(n)) == 2 + 7  # push setup, system title, the 5-min profile's columns


def test_profiles_capture_at_boundaries_and_keep_one_hour_of_minutes() -> None:
    m = meter()
    end = run(m, T0, 150)
    one = m.profiles[PROFILE_1]
    assert one.entries_in_use == 60
    assert when(one.buffer[-1][0]) == end
    assert when(one.buffer[0][0]) == end - 59 * MIN
    assert m.profiles[PROFILE_5].entries_in_use == 30
    assert [when(r[0]) for r in m.profiles[PROFILE_30].buffer] == [
        T0 + i * 30 * MIN for i in range(1, 6)
    ]


# --- outage and restoration ---------------------------------------------------------------


def test_last_gasp_silence_and_restoration() -> None:
    m = meter()
    now = run(m, T0, 40)
    m.pushes_to_send()
    fail = now + timedelta(seconds=20)
    m.outage(fail)
    [(ic_gasp, gasp)] = opened(m.pushes_to_send())  # at once, without a tick
    assert fields(gasp)[0].value == bytes(POWER_PUSH)
    assert when(fields(gasp)[1]) == fail
    assert fields(gasp)[2] == Data(DataType.UNSIGNED, CAT.event_codes["power_failure"])
    assert gasp.long_invoke.high_priority
    sizes = {o: p.entries_in_use for o, p in m.profiles.items()}
    assert m.next_deadline() is None
    for i in range(1, 120):
        m.tick(fail + i * MIN)
        assert m.pushes_to_send() == []
    assert {o: p.entries_in_use for o, p in m.profiles.items()} == sizes
    back = fail + 2 * timedelta(hours=1)
    m.restore(back)
    [(ic_back, restored)] = opened(m.pushes_to_send())
    assert ic_back > ic_gasp
    assert fields(restored)[2] == Data(DataType.UNSIGNED, CAT.event_codes["power_restored"])
    assert when(fields(restored)[1]) == back
    assert not restored.long_invoke.high_priority
    log = m.objects[CAT.by_name("power_event_log").obis]
    assert isinstance(log, ProfileGeneric)
    assert [(when(r[0]), r[1].value) for r in log.buffer] == [(fail, 1), (back, 2)]
    run(m, back, 60)
    assert opened(m.pushes_to_send())  # pushing again


def test_no_energy_drawn_during_an_outage() -> None:
    m = meter()
    register = CAT.by_name("active_energy_import").obis
    m.outage(T0 + 10 * MIN)
    before = m.objects[register].get(2).value
    m.restore(T0 + 5 * timedelta(hours=1))
    assert m.objects[register].get(2).value == before


def test_range_read_after_restore_returns_exactly_the_captured_entries() -> None:
    m = meter()
    now = run(m, T0, 95)  # captured 00:30 .. 01:30
    m.outage(now + timedelta(seconds=30))
    back = T0 + timedelta(hours=3, minutes=10)
    m.restore(back)
    run(m, back, 90)  # captured 03:30 .. 04:30
    profile = m.objects[PROFILE_30]
    assert isinstance(profile, ProfileGeneric)
    lo, hi = T0, T0 + timedelta(hours=6)
    access = RangeDescriptor(
        CLOCK_TIME,
        datetime_data(CosemDateTime.from_datetime(lo)),
        datetime_data(CosemDateTime.from_datetime(hi)),
    ).to_data()
    rows = profile.get(2, access, RangeDescriptor.SELECTOR).value
    assert isinstance(rows, tuple)
    times = [when(r.value[0]) for r in rows]
    expected = [T0 + timedelta(minutes=m_) for m_ in (30, 60, 90, 210, 240, 270)]
    assert times == expected  # 02:00, 02:30, 03:00 never measured: absent, not filled
    assert [r.value for r in rows] == [Data(DataType.STRUCTURE, r).value for r in profile.buffer]
    gap = RangeDescriptor(
        CLOCK_TIME,
        datetime_data(CosemDateTime.from_datetime(T0 + timedelta(hours=1, minutes=40))),
        datetime_data(CosemDateTime.from_datetime(T0 + timedelta(hours=3, minutes=10))),
    ).to_data()
    assert profile.get(2, gap, RangeDescriptor.SELECTOR).value == ()


# --- control objects gated by the request context -----------------------------------------


def last_result(obj: LimiterReservationObject) -> CommandResult | None:
    return obj.last_result


def reservation_data(limit: int, activation: datetime) -> Data:
    return Data(
        DataType.STRUCTURE,
        (
            Data(DataType.ENUM, ReservationState.PENDING),
            Data(DataType.LONG_UNSIGNED, limit),
            datetime_data(CosemDateTime.from_datetime(activation)),
            Data(DataType.NULL, None),
            Data(DataType.BOOLEAN, False),
        ),
    )


def test_limiter_reservation_gated_and_applied_at_activation() -> None:
    m = meter(contract_limit_a=30)
    obj = m.objects[CAT.by_name("limiter_reservation").obis]
    limiter = m.objects[CAT.by_name("ampere_limiter").obis]
    assert isinstance(obj, LimiterReservationObject)
    now = T0 + MIN
    m.tick(now)
    activation = T0 + timedelta(minutes=30)
    value = reservation_data(40, activation)
    for refused in (ctx(now, authenticated=False), ctx(now, fresh=False)):
        with pytest.raises(CosemAccessError) as err:
            obj.set_in(refused, 2, value)
        assert err.value.result == DataAccessResult.READ_WRITE_DENIED
    assert obj.last_result == CommandResult.REJECTED_STALE
    with pytest.raises(CosemAccessError):
        obj.set(2, value)  # no context: no proof of authentication
    assert obj.get(2).value[0] == Data(DataType.ENUM, ReservationState.NONE)  # type: ignore[index]
    obj.set_in(ctx(now), 2, value)
    assert last_result(obj) == CommandResult.ACCEPTED
    assert obj.get(2) == value
    assert m.next_deadline() is not None
    assert limiter.get(4) == Data(DataType.LONG_UNSIGNED, 30)
    m.tick(activation - timedelta(seconds=1))
    assert limiter.get(4) == Data(DataType.LONG_UNSIGNED, 30)
    assert m.tick(activation) == [LimitChanged(30, 40, activation)]
    assert limiter.get(3) == limiter.get(4) == Data(DataType.LONG_UNSIGNED, 40)
    with pytest.raises(CosemAccessError):  # a direct threshold write needs the context too
        limiter.set(4, Data(DataType.LONG_UNSIGNED, 60))
    assert isinstance(limiter, GatedLimiter)
    limiter.set_in(ctx(activation), 4, Data(DataType.LONG_UNSIGNED, 60))
    m.tick(activation + MIN)
    assert limiter.get(4) == Data(DataType.LONG_UNSIGNED, 60)


def test_reservation_due_during_outage_applies_on_restore() -> None:
    m = meter(contract_limit_a=30)
    obj = m.objects[CAT.by_name("limiter_reservation").obis]
    assert isinstance(obj, LimiterReservationObject)
    obj.set_in(ctx(T0), 2, reservation_data(20, T0 + timedelta(minutes=20)))
    m.outage(T0 + 10 * MIN)
    m.tick(T0 + 30 * MIN)
    assert m.control_events == []
    events = m.restore(T0 + 40 * MIN)
    assert [type(e) for e in events] == [LimitChanged]
    assert m.objects[CAT.by_name("ampere_limiter").obis].get(4).value == 20


def test_valve_reservation_and_disconnect_are_gated() -> None:
    m = meter()
    obj = m.objects[CAT.by_name("gas_valve_reservation").obis]
    valve = m.objects[CAT.by_name("gas_valve").obis]
    assert isinstance(obj, ContextualObject)
    at = T0 + 5 * MIN
    close = Data(
        DataType.STRUCTURE,
        (
            Data(DataType.ENUM, ReservationState.PENDING),
            Data(DataType.ENUM, ValveAction.CLOSE),
            datetime_data(CosemDateTime.from_datetime(at)),
            Data(DataType.BOOLEAN, False),
        ),
    )
    with pytest.raises(CosemAccessError):
        obj.set_in(ctx(T0, authenticated=False), 2, close)
    obj.set_in(ctx(T0), 2, close)
    m.tick(at - MIN)
    assert valve.get(3).value == ControlState.CONNECTED
    m.tick(at)
    assert valve.get(3).value == ControlState.DISCONNECTED
    supply = m.objects[CAT.by_name("supply_disconnect").obis]
    assert isinstance(supply, ContextualObject)
    with pytest.raises(CosemAccessError):
        supply.invoke_in(ctx(at, fresh=False), 1, Data(DataType.INTEGER, 0))
    with pytest.raises(CosemAccessError):
        m.objects[CAT.by_name("supply_disconnect").obis].invoke(1, Data(DataType.INTEGER, 0))
    supply.invoke_in(ctx(at), 1, Data(DataType.INTEGER, 0))
    assert m.objects[CAT.by_name("supply_disconnect").obis].get(2).value is False


# --- property: random outage/restore schedules ------------------------------------------

steps = st.lists(
    st.tuples(st.integers(1, 150), st.sampled_from(["tick", "outage", "restore"])),
    min_size=1,
    max_size=14,
)


@settings(max_examples=40, deadline=None)
@given(steps, st.integers(0, 5), st.booleans())
def test_random_outages_keep_counters_increasing_and_entries_on_boundaries(
    schedule: list[tuple[int, str]], seed: int, push_5min: bool
) -> None:
    m = meter(seed=seed, push_5min=push_5min)
    now = T0
    dark: list[tuple[datetime, datetime | None]] = []
    counters = InvocationCounters()
    seen: list[int] = []
    for minutes, action in schedule:
        now += minutes * MIN
        was_powered = m.powered
        if action == "outage" and m.powered:
            m.outage(now)
            dark.append((now, None))
        elif action == "restore" and not m.powered:
            m.restore(now)
            dark[-1] = (dark[-1][0], now)
        else:
            m.tick(now)
        pushes = m.pushes_to_send()
        if not was_powered and not m.powered:
            assert pushes == []  # silent while the power is off
        for raw in pushes:
            # InvocationCounters raises AuthError on any counter not above the last one.
            plain = unprotect(raw, ek=EK, ak=AK, counters=counters)
            assert isinstance(decode_apdu(plain.apdu), DataNotification)
            seen.append(plain.invocation_counter)
        if action == "outage" and was_powered:
            assert fields(opened(pushes[-1:])[0][1])[0].value == bytes(POWER_PUSH)
    assert seen == list(range(1, len(seen) + 1))
    for obis, profile in m.profiles.items():
        period = profile.capture_period
        stamps = [when(r[0]) for r in profile.buffer]
        assert stamps == sorted(set(stamps))
        for stamp in stamps:
            assert stamp.timestamp() % period == 0, obis
            for off, on in dark:
                assert not (off < stamp and (on is None or stamp <= on)), (obis, stamp)


# --- through the server association -------------------------------------------------------


def test_through_the_association_server() -> None:
    """Back-fill by range read, a gated reservation, and pushes sharing the server's counter."""
    m = meter()
    server = m.association_server()
    client = AssociationClient(
        system_title=CLIENT_TITLE,
        ek=EK,
        ak=AK,
        server_system_title=METER_TITLE,
        counter=SendCounter(MemoryStateStore(), "client"),
    )
    now = run(m, T0, 95)
    m.outage(now)
    back = T0 + timedelta(hours=3, minutes=10)
    m.restore(back)
    now = run(m, back, 90)

    def pump() -> list[object]:
        sent_before = m.pushes_to_send()  # already on their way when the requests arrive
        for request in client.apdus_to_send():
            server.receive(request, now)
        for answer in sent_before + server.apdus_to_send():
            client.receive(answer, now.timestamp())
        return list(client.events())

    client.associate(now.timestamp())
    assert any(isinstance(e, Associated) for e in pump())
    access = RangeDescriptor(
        CLOCK_TIME,
        datetime_data(CosemDateTime.from_datetime(T0)),
        datetime_data(CosemDateTime.from_datetime(now)),
    ).to_data()
    client.get(
        PROFILE_30,
        ClassId.PROFILE_GENERIC,
        2,
        access=SelectiveAccess(RangeDescriptor.SELECTOR, access),
    )
    [got] = [e for e in pump() if isinstance(e, GetResult)]
    assert isinstance(got.result, Data)
    assert isinstance(got.result.value, tuple)
    profile = m.profiles[PROFILE_30]
    assert [r.value for r in got.result.value] == profile.buffer
    assert len(profile.buffer) == 6  # 3 before the outage, 3 after: the gap stays empty
    value = reservation_data(40, now + timedelta(minutes=5))
    target = CAT.by_name("limiter_reservation").obis
    client.set(target, ClassId.DATA, 2, value, ciphered=False)
    [refused] = [e for e in pump() if isinstance(e, SetResult)]
    assert refused.result == DataAccessResult.READ_WRITE_DENIED
    client.set(target, ClassId.DATA, 2, value)
    [accepted] = [e for e in pump() if isinstance(e, SetResult)]
    assert accepted.result == DataAccessResult.SUCCESS
    run(m, now, 60)
    pushed = [e for e in pump() if isinstance(e, Pushed)]
    assert pushed
    assert all(p.system_title == METER_TITLE for p in pushed)
    counters = [p.invocation_counter or 0 for p in pushed]
    assert counters == sorted(set(counters))  # one counter for responses and pushes
    assert client.stats.auth_failed == 0
    assert m.objects[CAT.by_name("ampere_limiter").obis].get(4).value == 40
