"""The A-route profile catalogue (specs/cosem) and the reservation models.

Standard OBIS codes are checked against the OBIS list gurux_dlms ships (OBISCodes.txt,
rows "A.B.C.D.E.F;classes;..." with ranges such as 0-64 and lists such as 0,1,7).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from smartmeter_proto.aroute.axdr import Data, DataType, decode_data, encode_data
from smartmeter_proto.aroute.cosem import ClassId, Unit
from smartmeter_proto.aroute.obis import Obis
from smartmeter_proto.aroute.profile import (
    CommandResult,
    DrillPerformed,
    LimitChanged,
    LimiterReservation,
    LimitRestored,
    ReservationState,
    ValveAction,
    ValveOperated,
    ValveReservation,
    load_catalogue,
    specs_dir,
)

#: gurux-dlms is GPLv2: only the extra "interop" installs it; its cross-checks skip.
GURUX_MISSING = "gurux-dlms (GPLv2 oracle, extra 'interop') is not installed"
JST = dt.timezone(dt.timedelta(hours=9))
T0 = dt.datetime(2026, 4, 1, 9, 0, tzinfo=JST)
MIN = dt.timedelta(minutes=1)
OK: dict[str, Any] = {"authenticated": True, "fresh": True}


# --- catalogue -------------------------------------------------------------------------------


def _gurux_rows() -> list[tuple[list[list[tuple[int, int]]], str]]:
    gurux_dlms = pytest.importorskip("gurux_dlms", reason=GURUX_MISSING)
    text = (Path(gurux_dlms.__file__).parent / "OBISCodes.txt").read_text(encoding="utf-8")
    rows = []
    for line in text.splitlines():
        fields = line.split(";")
        groups = fields[0].split(".")
        if len(groups) != 6:
            continue
        try:
            parsed = [
                [(int(p.split("-")[0]), int(p.split("-")[-1])) for p in g.split(",")]
                for g in groups
            ]
        except ValueError:
            continue
        rows.append((parsed, fields[1]))
    return rows


def _gurux_classes(code: Obis) -> set[str]:
    found: set[str] = set()
    values = (code.a, code.b, code.c, code.d, code.e, code.f)
    for groups, classes in _gurux_rows():
        if all(any(lo <= v <= hi for lo, hi in g) for v, g in zip(values, groups, strict=True)):
            found.update(c.strip() for c in classes.split(","))
    return found


def test_catalogue_loads() -> None:
    cat = load_catalogue()
    assert cat.by_name("active_energy_import").obis == Obis.parse("1-0:1.8.0.255")
    assert cat.by_obis("0-0:17.0.0.255").class_id == ClassId.LIMITER
    assert cat.by_name("voltage_l1").unit == Unit.V
    lp30 = cat.by_name("load_profile_30min")
    assert (lp30.capture_period, lp30.profile_entries) == (1800, 2160)
    assert cat.by_name("load_profile_1min").profile_entries == 60  # 1 hour of 1-minute values
    assert cat.event_codes == {"power_failure": 1, "power_restored": 2}
    assert {s.name for s in cat.project_defined()} == {
        "limiter_reservation",
        "gas_valve_reservation",
        "water_valve_reservation",
        "load_profile_1min",
    }
    assert cat.by_name("limiter_reservation").fields == (
        "state",
        "new_limit_a",
        "activation_time",
        "release_time",
        "drill",
    )


def test_standard_codes_are_in_the_blue_book_list() -> None:
    for spec in load_catalogue().objects:
        classes = _gurux_classes(spec.obis)
        if spec.standard:
            assert str(int(spec.class_id)) in classes or "*" in classes, spec.name
        else:
            assert spec.obis.manufacturer_specific, spec.name


def test_catalogue_rejects_a_standard_looking_project_code(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "group: x\nobjects:\n"
        "  - {name: bad, obis: '0-0:17.0.0.255', class_id: 1, standard: false}\n"
    )
    with pytest.raises(ValueError, match="wrong range"):
        load_catalogue(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        "group: x\nobjects:\n  - {name: p, obis: '1-0:99.1.0.255', class_id: 7, standard: true,"
        " captures: [{class_id: 3, obis: '1-0:1.8.0.255', attribute: 2}]}\n"
    )
    with pytest.raises(ValueError, match="not a catalogue object"):
        load_catalogue(tmp_path)


def test_specs_dir_is_the_source_tree() -> None:
    assert (specs_dir() / "control.yaml").is_file()


# --- limiter reservation ---------------------------------------------------------------------


def test_reserve_read_back_and_activate() -> None:
    r = LimiterReservation(30)
    result = r.reserve(20, T0 + 10 * MIN, release=T0 + 70 * MIN, now=T0, **OK)
    assert result == CommandResult.ACCEPTED
    back = decode_data(encode_data(r.to_data())).value
    assert isinstance(back, tuple)
    assert back[0] == Data(DataType.ENUM, ReservationState.PENDING)
    assert back[1] == Data(DataType.LONG_UNSIGNED, 20)
    assert back[4] == Data(DataType.BOOLEAN, False)
    assert r.next_deadline() == T0 + 10 * MIN
    assert r.tick(T0 + 9 * MIN) == []
    assert r.limit_a == 30
    assert r.tick(T0 + 10 * MIN) == [LimitChanged(30, 20, T0 + 10 * MIN)]
    assert r.limit_a == 20
    assert r.next_deadline() == T0 + 70 * MIN
    assert r.cancel(now=T0 + 11 * MIN, **OK) == CommandResult.REJECTED_TOO_LATE
    assert r.tick(T0 + 70 * MIN) == [LimitRestored(30, T0 + 70 * MIN)]
    assert r.limit_a == 30
    assert ReservationState(r.state) == ReservationState.NONE


def test_cancel_before_activation_leaves_limit() -> None:
    r = LimiterReservation(30)
    r.reserve(60, T0 + 5 * MIN, now=T0, **OK)
    assert r.cancel(now=T0 + MIN, **OK) == CommandResult.ACCEPTED
    assert r.tick(T0 + 10 * MIN) == []
    assert r.limit_a == 30
    assert r.to_data().value[0] == Data(DataType.ENUM, 0)  # type: ignore[index]


def test_permanent_change_and_catch_up_after_outage() -> None:
    r = LimiterReservation(30)
    r.reserve(40, T0 + MIN, now=T0, **OK)
    assert r.tick(T0 + 2 * MIN) == [LimitChanged(30, 40, T0 + MIN)]
    assert r.limit_a == 40
    assert ReservationState(r.state) == ReservationState.NONE
    # Activation and release both passed while the meter was down: both apply at once.
    r.reserve(10, T0 + 3 * MIN, release=T0 + 4 * MIN, now=T0 + 2 * MIN, **OK)
    assert r.tick(T0 + 60 * MIN) == [
        LimitChanged(40, 10, T0 + 3 * MIN),
        LimitRestored(40, T0 + 4 * MIN),
    ]
    assert r.limit_a == 40


def test_drill_never_changes_the_limit() -> None:
    r = LimiterReservation(30)
    assert r.reserve(10, T0 + MIN, release=T0 + 2 * MIN, drill=True, now=T0, **OK) == 0
    assert r.tick(T0 + MIN) == [DrillPerformed("limiter_reservation", "activation", T0 + MIN)]
    assert r.limit_a == 30
    assert ReservationState(r.state) == ReservationState.ACTIVE
    assert r.tick(T0 + 2 * MIN) == [DrillPerformed("limiter_reservation", "release", T0 + 2 * MIN)]
    assert r.limit_a == 30
    assert ReservationState(r.state) == ReservationState.NONE


@pytest.mark.parametrize(
    ("kwargs", "result"),
    [
        ({"authenticated": False, "fresh": True}, CommandResult.REJECTED_UNAUTHENTICATED),
        ({"authenticated": True, "fresh": False}, CommandResult.REJECTED_STALE),
        ({"authenticated": 1, "fresh": True}, CommandResult.REJECTED_UNAUTHENTICATED),
    ],
)
def test_gate(kwargs: dict[str, Any], result: CommandResult) -> None:
    r = LimiterReservation(30)
    assert r.reserve(20, T0 + MIN, now=T0, **kwargs) == result
    assert ReservationState(r.state) == ReservationState.NONE
    r.reserve(20, T0 + MIN, now=T0, **OK)
    assert r.cancel(now=T0, **kwargs) == result
    assert ReservationState(r.state) == ReservationState.PENDING


def test_invalid_reservations() -> None:
    r = LimiterReservation(30, allowed_limits_a=frozenset({10, 15, 20, 30, 40, 50, 60}))
    assert r.reserve(25, T0 + MIN, now=T0, **OK) == CommandResult.REJECTED_INVALID
    assert r.reserve(20, T0, now=T0, **OK) == CommandResult.REJECTED_TOO_LATE
    assert r.reserve(20, T0 + MIN, release=T0 + MIN, now=T0, **OK) == CommandResult.REJECTED_INVALID
    assert r.reserve(20, T0 + MIN, now=T0, **OK) == CommandResult.ACCEPTED
    assert r.reserve(40, T0 + MIN, now=T0, **OK) == CommandResult.REJECTED_BUSY
    with pytest.raises(ValueError, match="timezone-aware"):
        r.tick(dt.datetime(2026, 4, 1))  # naive time


def test_write_through_data() -> None:
    r = LimiterReservation(30)
    probe = LimiterReservation(0)
    probe.reserve(15, T0 + MIN, release=T0 + 2 * MIN, now=T0, **OK)
    value = decode_data(encode_data(probe.to_data()))
    assert r.write(value, now=T0, authenticated=False, fresh=True) != CommandResult.ACCEPTED
    assert r.write(value, now=T0, **OK) == CommandResult.ACCEPTED
    assert (r.new_limit_a, r.activation, r.release) == (15, T0 + MIN, T0 + 2 * MIN)
    cancel = Data(
        DataType.STRUCTURE,
        (
            Data(DataType.ENUM, 0),
            Data(DataType.LONG_UNSIGNED, 0),
            Data(DataType.NULL, None),
            Data(DataType.NULL, None),
            Data(DataType.BOOLEAN, False),
        ),
    )
    assert r.write(cancel, now=T0, **OK) == CommandResult.ACCEPTED
    assert ReservationState(r.state) == ReservationState.NONE
    assert r.write(Data(DataType.UNSIGNED, 1), now=T0, **OK) == CommandResult.REJECTED_INVALID


# --- property: no unauthenticated or stale command ever changes the limit --------------------

_data_leaf = st.one_of(
    st.builds(Data, st.just(DataType.ENUM), st.integers(0, 3)),
    st.builds(Data, st.just(DataType.LONG_UNSIGNED), st.integers(0, 0xFFFF)),
    st.builds(Data, st.just(DataType.BOOLEAN), st.booleans()),
    st.builds(Data, st.just(DataType.NULL), st.none()),
    st.builds(Data, st.just(DataType.OCTET_STRING), st.binary(min_size=12, max_size=12)),
)
_bad_gate = st.sampled_from([(False, True), (True, False), (False, False)])


class UnauthenticatedCommands(RuleBasedStateMachine):
    """Random rejected-gate commands, authenticated drills and clock ticks."""

    def __init__(self) -> None:
        super().__init__()
        self.reservation = LimiterReservation(30)
        self.now = T0

    @rule(
        limit=st.integers(0, 70000),
        minutes=st.integers(-5, 120),
        gate=_bad_gate,
        release=st.one_of(st.none(), st.integers(-5, 240)),
        drill=st.booleans(),
    )
    def reserve(
        self, limit: int, minutes: int, gate: tuple[bool, bool], release: int | None, drill: bool
    ) -> None:
        end = None if release is None else self.now + release * MIN
        result = self.reservation.reserve(
            limit,
            self.now + minutes * MIN,
            release=end,
            drill=drill,
            authenticated=gate[0],
            fresh=gate[1],
            now=self.now,
        )
        assert result in (CommandResult.REJECTED_UNAUTHENTICATED, CommandResult.REJECTED_STALE)

    @rule(gate=_bad_gate)
    def cancel(self, gate: tuple[bool, bool]) -> None:
        assert self.reservation.cancel(authenticated=gate[0], fresh=gate[1], now=self.now) != 0

    @rule(gate=_bad_gate, fields=st.lists(_data_leaf, min_size=5, max_size=5))
    def write(self, gate: tuple[bool, bool], fields: list[Data]) -> None:
        value = Data(DataType.STRUCTURE, tuple(fields))
        assert (
            self.reservation.write(value, authenticated=gate[0], fresh=gate[1], now=self.now) != 0
        )

    @rule(
        limit=st.integers(1, 100),
        minutes=st.integers(1, 60),
        release=st.one_of(st.none(), st.integers(61, 120)),
    )
    def authenticated_drill(self, limit: int, minutes: int, release: int | None) -> None:
        end = None if release is None else self.now + release * MIN
        self.reservation.reserve(
            limit, self.now + minutes * MIN, release=end, drill=True, now=self.now, **OK
        )

    @rule(minutes=st.integers(0, 180))
    def tick(self, minutes: int) -> None:
        self.now += minutes * MIN
        for event in self.reservation.tick(self.now):
            assert isinstance(event, DrillPerformed)

    @invariant()
    def limit_unchanged(self) -> None:
        assert self.reservation.limit_a == 30


UnauthenticatedCommands.TestCase.settings = settings(max_examples=200, stateful_step_count=30)
TestUnauthenticatedCommands = UnauthenticatedCommands.TestCase


@given(st.lists(_data_leaf, min_size=0, max_size=6), st.booleans(), st.booleans())
def test_write_of_any_shape_is_a_result_not_an_exception(
    fields: list[Data], authenticated: bool, fresh: bool
) -> None:
    r = LimiterReservation(30)
    result = r.write(
        Data(DataType.STRUCTURE, tuple(fields)), authenticated=authenticated, fresh=fresh, now=T0
    )
    assert isinstance(result, CommandResult)
    assert r.limit_a == 30


# --- valve reservation -----------------------------------------------------------------------


def test_valve_reservation() -> None:
    v = ValveReservation("gas_valve_reservation")
    assert (
        v.reserve(ValveAction.CLOSE, T0 + MIN, now=T0, authenticated=True, fresh=False)
        == CommandResult.REJECTED_STALE
    )
    assert v.reserve(ValveAction.CLOSE, T0 + MIN, now=T0, **OK) == CommandResult.ACCEPTED
    assert v.to_data().value[1] == Data(DataType.ENUM, 0)  # type: ignore[index]
    assert v.tick(T0) == []
    assert ValveAction(v.position) == ValveAction.OPEN
    assert v.tick(T0 + MIN) == [ValveOperated(ValveAction.CLOSE, T0 + MIN)]
    assert ValveAction(v.position) == ValveAction.CLOSE
    assert v.state == ReservationState.NONE
    v.reserve(ValveAction.OPEN, T0 + 3 * MIN, drill=True, now=T0 + 2 * MIN, **OK)
    assert v.tick(T0 + 3 * MIN) == [
        DrillPerformed("gas_valve_reservation", "activation", T0 + 3 * MIN)
    ]
    assert ValveAction(v.position) == ValveAction.CLOSE
    v.reserve(ValveAction.OPEN, T0 + 5 * MIN, now=T0 + 4 * MIN, **OK)
    assert v.cancel(now=T0 + 4 * MIN, **OK) == CommandResult.ACCEPTED
    assert v.tick(T0 + 6 * MIN) == []
    assert ValveAction(v.position) == ValveAction.CLOSE
