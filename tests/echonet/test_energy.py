"""Cumulative-energy arithmetic of the low-voltage meter (``smartmeter_proto.echonet.energy``).

kWh = count x coefficient (0xD3) x unit (0xE1); the counter wraps at 10^digits (0xD7). The 0xE1
table is checked against the class file and against momonga (momonga/momonga_echonet_data.py,
``parse_unit_for_cumulative_energy``), an independent B-route client.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet.energy import UNIT_CODES, EnergyScale, unit_code
from smartmeter_proto.echonet.properties import decode_property

#: momonga's unit_map, code -> kWh per count.
MOMONGA_UNITS: Final = {
    0x00: "1",
    0x01: "0.1",
    0x02: "0.01",
    0x03: "0.001",
    0x04: "0.0001",
    0x0A: "10",
    0x0B: "100",
    0x0C: "1000",
    0x0D: "10000",
}


def test_unit_table_matches_momonga() -> None:
    assert {code: Decimal(text) for code, text in MOMONGA_UNITS.items()} == UNIT_CODES


@pytest.mark.parametrize("code", sorted(MOMONGA_UNITS))
def test_unit_table_matches_the_class_file(code: int) -> None:
    # The 0xE1 enum labels are the kWh per count.
    label = decode_property(0x0288, 0xE1, bytes([code])).value
    assert Decimal(label) == UNIT_CODES[code]


@pytest.mark.parametrize(
    ("code", "kwh"),
    [
        (0x00, "12345"),
        (0x01, "1234.5"),
        (0x02, "123.45"),
        (0x03, "12.345"),
        (0x04, "1.2345"),
        (0x0A, "123450"),
        (0x0B, "1234500"),
        (0x0C, "12345000"),
        (0x0D, "123450000"),
    ],
)
def test_kwh_for_each_unit_code(code: int, kwh: str) -> None:
    scale = EnergyScale(unit_code=code)
    assert scale.to_kwh(12345) == Decimal(kwh)
    assert scale.kwh_per_count == Decimal(MOMONGA_UNITS[code])


def test_real_reading() -> None:
    # Qiita 74f11b729a7859da63af: 0xEA energy count 0x458E = 17806. At 0.1 kWh per count
    # (0xE1 = 0x01, the default scale) that is 1780.6 kWh exactly, not a float approximation.
    assert EnergyScale().to_kwh(0x458E) == Decimal("1780.6")
    assert str(EnergyScale().to_kwh(0x458E)) == "1780.6"


def test_coefficient_multiplies() -> None:
    scale = EnergyScale(coefficient=40, unit_code=0x02)
    assert scale.kwh_per_count == Decimal("0.40")
    assert scale.to_kwh(250) == Decimal(100)


@pytest.mark.parametrize("digits", range(1, 9))
def test_rollover_at_ten_to_the_digits(digits: int) -> None:
    scale = EnergyScale(unit_code=0x00, effective_digits=digits)
    top = 10**digits - 1
    assert scale.rollover == 10**digits
    assert scale.delta_kwh(top, 0) == 1
    assert scale.delta_kwh(top - 2, 3) == 6
    assert scale.delta_kwh(0, top) == top
    assert scale.delta_kwh(5, 5) == 0


def test_six_digit_meter_wraps_after_999999() -> None:
    # node-wisunrb README: with 6 effective digits the count goes back to 0 after 999,999.
    scale = EnergyScale(unit_code=0x01, effective_digits=6)
    assert scale.delta_kwh(999_990, 10) == Decimal("2.0")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(UNIT_CODES)),
    st.integers(1, 8),
    st.integers(1, 999_999),
    st.data(),
)
def test_delta_adds_up(unit: int, digits: int, coefficient: int, data: st.DataObject) -> None:
    scale = EnergyScale(coefficient=coefficient, unit_code=unit, effective_digits=digits)
    earlier = data.draw(st.integers(0, scale.rollover - 1))
    step = data.draw(st.integers(0, scale.rollover - 1))
    later = (earlier + step) % scale.rollover
    assert scale.delta_kwh(earlier, later) == scale.to_kwh(step)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"unit_code": 0x05},
        {"unit_code": 0xFF},
        {"effective_digits": 0},
        {"effective_digits": 9},
        {"coefficient": 0},
    ],
)
def test_invalid_scales(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field
        EnergyScale(**kwargs)


def test_defaults() -> None:
    scale = EnergyScale()
    assert (scale.coefficient, scale.unit_code, scale.effective_digits) == (1, 0x01, 8)
    assert scale.rollover == 100_000_000


@pytest.mark.parametrize("code", sorted(MOMONGA_UNITS))
def test_unit_code_takes_an_int_as_the_code(code: int) -> None:
    # APPENDIX §3.3.25 0xE1: the int 1 is code 0x01 (0.1 kWh), not the label "1" (code 0x00).
    assert unit_code(code) == code


@pytest.mark.parametrize(("label", "code"), [(text, c) for c, text in MOMONGA_UNITS.items()])
def test_unit_code_takes_text_as_the_multiplier(label: str, code: int) -> None:
    assert unit_code(label) == code
    assert unit_code(Decimal(label)) == code


@pytest.mark.parametrize("bad", [5, 0x0E, -1, True, "0.5", "kWh", None, 0.1])
def test_unit_code_rejects_what_is_not_a_unit(bad: object) -> None:
    with pytest.raises(ValueError, match="unknown 0xE1 unit"):
        unit_code(bad)
