"""Smart meter class files (0x0288, 0x028A, 0x028D) against published meter bytes.

Primary source of the class files: ECHONET Consortium Machine Readable Appendix
(MRA) V1.3.1, release R. Real EDTs below come from captures published by third
parties (named at each vector); where a source published decoded values only,
the EDT is rebuilt from them and the test says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.properties import (
    PropertyValue,
    decode_frame_properties,
    decode_property,
    encode_property,
    validate_set,
)
from smartmeter_proto.echonet.specs import SUPER_CLASS, PropertySpec, load_class
from smartmeter_proto.errors import DecodeError

LOW_VOLTAGE: Final = 0x0288
HIGH_VOLTAGE: Final = 0x028A
SUB_METER: Final = 0x028D
METER_CLASSES: Final = (LOW_VOLTAGE, HIGH_VOLTAGE, SUB_METER)
NO_DATA_4: Final = "FFFFFFFE"

#: Names the simulated meter relies on, one per class-specific EPC of 0x0288.
LOW_VOLTAGE_NAMES: Final = {
    0xC0: "route_b_id",
    0xD0: "one_minute_cumulative_energy",
    0xD3: "coefficient",
    0xD7: "effective_digits",
    0xE0: "cumulative_energy_normal",
    0xE1: "cumulative_energy_unit",
    0xE2: "historical_cumulative_energy_normal",
    0xE3: "cumulative_energy_reverse",
    0xE4: "historical_cumulative_energy_reverse",
    0xE5: "historical_day",
    0xE7: "instantaneous_power",
    0xE8: "instantaneous_current",
    0xEA: "fixed_time_cumulative_energy_normal",
    0xEB: "fixed_time_cumulative_energy_reverse",
    0xEC: "historical_cumulative_energy_2",
    0xED: "historical_2_collection",
    0xEE: "historical_cumulative_energy_3",
    0xEF: "historical_3_collection",
}

#: Class-specific EPCs per MRA V1.3.1 devices/0x028A.json and 0x028D.json.
HIGH_VOLTAGE_EPCS: Final = frozenset(
    [
        193,
        194,
        195,
        196,
        197,
        198,
        199,
        202,
        203,
        204,
        205,
        206,
        211,
        212,
        224,
        225,
        226,
        227,
        228,
        229,
        230,
        231,
    ]
)
SUB_METER_EPCS: Final = frozenset(
    [0xD3, 0xD4, 0xD7, 0xD8, 0xD9, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE7, 0xE8, 0xE9, 0xEA, 0xEB]
)


def _spec(class_id: int) -> Any:
    spec = load_class(class_id)
    assert spec is not None, f"no class file for 0x{class_id:04X}"
    return spec


def _own_properties(class_id: int) -> dict[int, PropertySpec]:
    """The EPCs a class file lists itself (the super class's ones left out)."""
    inherited = _spec(SUPER_CLASS).properties
    return {
        epc: prop
        for epc, prop in _spec(class_id).properties.items()
        if inherited.get(epc) is not prop
    }


def _value(class_id: int, epc: int, edt_hex: str) -> Any:
    return decode_property(class_id, epc, bytes.fromhex(edt_hex)).value


def _round_trips(class_id: int, epc: int, edt_hex: str) -> None:
    edt = bytes.fromhex(edt_hex)
    assert encode_property(class_id, epc, decode_property(class_id, epc, edt).value) == edt


# --- class contents --------------------------------------------------------------------------


def test_low_voltage_names_are_the_ones_the_simulator_uses() -> None:
    own = _own_properties(LOW_VOLTAGE)
    assert {epc: prop.name for epc, prop in own.items()} == LOW_VOLTAGE_NAMES


def test_high_voltage_and_sub_meter_list_every_mra_epc() -> None:
    assert set(_own_properties(HIGH_VOLTAGE)) == HIGH_VOLTAGE_EPCS
    assert set(_own_properties(SUB_METER)) == SUB_METER_EPCS


@pytest.mark.parametrize("class_id", METER_CLASSES)
def test_names_are_unique_within_a_class(class_id: int) -> None:
    names = [prop.name for prop in _spec(class_id).properties.values()]
    assert len(names) == len(set(names))


def test_low_voltage_access_rules_follow_mra_release_r() -> None:
    spec = _spec(LOW_VOLTAGE)
    # MRA V1.3.1 "required" for get (accessRule.get), plus the super class's mandatory EPCs.
    assert {0xD0, 0xD7, 0xE0, 0xE1, 0xE2, 0xE5, 0xE7, 0xE8, 0xEA, 0xEE, 0xEF} <= set(
        spec.mandatory_epcs("get")
    )
    own = _own_properties(LOW_VOLTAGE)
    assert {epc for epc, prop in own.items() if "set" in prop.mandatory} == {0xE5, 0xEF}
    assert {epc for epc, prop in own.items() if prop.settable} == {0xE5, 0xED, 0xEF}
    # MRA accessRule.inf is "optional" for every class-specific EPC: none is announced at
    # status change (the half-hourly INF of 0xEA/0xEB is a periodic notice, not 0x9D).
    assert not any(prop.announced for prop in own.values())
    assert {spec.properties[e].since for e in (0xC0, 0xD0, 0xEE, 0xEF)} == {"R"}


def test_sizes_match_the_appendix_layouts() -> None:
    sizes = {epc: prop.data_type.size for epc, prop in _own_properties(LOW_VOLTAGE).items()}
    assert sizes[0xC0] == 16  # 0x00 + manufacturer code (3) + 12 free bytes
    assert sizes[0xD0] == 15  # date-time (7) + normal (4) + reverse (4)
    assert sizes[0xE2] == sizes[0xE4] == 2 + 48 * 4
    assert sizes[0xEA] == sizes[0xEB] == 11
    assert sizes[0xED] == sizes[0xEF] == 7
    assert sizes[0xEC] is None  # 7 + 8 x segments, at most 103 bytes
    assert _spec(LOW_VOLTAGE).properties[0xEC].data_type.max_size == 7 + 8 * 12
    assert _spec(LOW_VOLTAGE).properties[0xEE].data_type.max_size == 7 + 8 * 10


# --- real captures ---------------------------------------------------------------------------

#: Qiita item 74f11b729a7859da63af ("NervesとWi-SUNドングルで自宅の消費電力を把握したい",
#: 2023-12-19, RS-WSUHA-P dongle): ERXUDP payloads from a low-voltage meter. The first is the
#: meter's unsolicited half-hourly INF (ESV 0x73) carrying 0xEA and 0xEB, the second a Get_Res
#: to a Get of 0xE7.
QIITA_INF_EA_EB: Final = (
    "1081000102880105FF017302EA0B07E70C13001E000000458EEB0B07E70C13001E0000000015"
)
QIITA_GET_RES_E7: Final = "1081525302880105FF017201E704000000E4"


def _frame_values(frame_hex: str) -> dict[int, PropertyValue]:
    decoded = el_frame.decode(bytes.fromhex(frame_hex))
    assert isinstance(decoded, el_frame.Frame)
    values, errors = decode_frame_properties(decoded.seoj.class_id, decoded.properties)
    assert errors == ()
    return {value.epc: value for value in values}


def test_periodic_inf_of_fixed_time_energy() -> None:
    values = _frame_values(QIITA_INF_EA_EB)
    normal = values[0xEA]
    assert normal.name == "fixed_time_cumulative_energy_normal"
    assert normal.value == {"timestamp": dt.datetime(2023, 12, 19, 0, 30), "energy": 17806}
    reverse = values[0xEB]
    assert reverse.value == {"timestamp": dt.datetime(2023, 12, 19, 0, 30), "energy": 21}
    for value in values.values():
        assert encode_property(LOW_VOLTAGE, value.epc, value.value) == value.edt


def test_instantaneous_power_get_res() -> None:
    power = _frame_values(QIITA_GET_RES_E7)[0xE7]
    assert (power.name, power.value, power.unit) == ("instantaneous_power", 228, "W")


#: futomi/node-wisunrb README (v0.1.0, 2023-05): raw EDTs printed by sendEchonetLitePacket()
#: and the echonet-data event, from a Toshiba meter (maker 0x000016) of a home with solar panels.
@pytest.mark.parametrize(
    ("epc", "edt_hex", "expected"),
    [
        (0xE0, "0001AB25", 109349),  # shown as 10934.9 kWh, so 0xE1 = 0x01 (0.1 kWh)
        (0xE7, "FFFFFA2F", -1489),  # exporting: negative power
        (0xE7, "FFFFFDF4", -524),
        (0xE8, "FFBAFFB0", {"r_phase": -7.0, "t_phase": -8.0}),
    ],
)
def test_node_wisunrb_readme_captures(epc: int, edt_hex: str, expected: object) -> None:
    assert _value(LOW_VOLTAGE, epc, edt_hex) == expected
    _round_trips(LOW_VOLTAGE, epc, edt_hex)


#: The same README prints getNormalDirectionCumulativeElectricEnergyLog1({day: 0}) at 20:50 as
#: kWh (count x 0.1) with null for the six future slots; the EDT is rebuilt from those numbers.
_LOG1_COUNTS: Final = [
    109263, 109265, 109267, 109268, 109270, 109272, 109273, 109275, 109276, 109278,
    109279, 109280, 109281, 109282, 109282, 109284, 109284, 109284, 109284, 109284,
    109284, 109284, 109284, 109284, 109284, 109284, 109284, 109284, 109284, 109284,
    109284, 109284, 109284, 109285, 109285, 109285, 109289, 109292, 109301, 109306,
    109309, 109312,
]  # fmt: skip
LOG1_EDT: Final = "0000" + "".join(f"{c:08X}" for c in _LOG1_COUNTS) + NO_DATA_4 * 6


def test_historical_energy_1_rebuilt_from_node_wisunrb() -> None:
    value = _value(LOW_VOLTAGE, 0xE2, LOG1_EDT)
    assert value["day"] == 0
    assert len(value["energy"]) == 48
    assert list(value["energy"][:42]) == _LOG1_COUNTS
    assert value["energy"][42:] == (None,) * 6  # 21:00..23:30 not measured yet
    _round_trips(LOW_VOLTAGE, 0xE2, LOG1_EDT)
    _round_trips(LOW_VOLTAGE, 0xE4, LOG1_EDT)


#: README's getCumulativeElectricEnergyLog2({dateAndTime: '2023-05-09T22:00', segments: 6}) run
#: at 21:45: newest first, the 22:00 pair not measured yet. EDT rebuilt from the kWh values.
LOG2_EDT: Final = (
    "07E7050916" + "00" + "06"
    + NO_DATA_4 * 2
    + "".join(f"{n:08X}{r:08X}" for n, r in [
        (109319, 42308), (109315, 42308), (109312, 42308), (109309, 42308), (109306, 42308),
    ])
)  # fmt: skip


def test_historical_energy_2_rebuilt_from_node_wisunrb() -> None:
    value = _value(LOW_VOLTAGE, 0xEC, LOG2_EDT)
    assert value["timestamp"] == dt.datetime(2023, 5, 9, 22, 0)
    assert value["segments"] == 6
    assert value["energy"][0] == {"normal": None, "reverse": None}
    assert value["energy"][1] == {"normal": 109319, "reverse": 42308}
    assert len(value["energy"]) == 6
    _round_trips(LOW_VOLTAGE, 0xEC, LOG2_EDT)


# --- layouts without a published capture (bytes built from the MRA V1.3.1 layout) ------------


def test_one_minute_energy_and_history_3() -> None:
    one_minute = _value(LOW_VOLTAGE, 0xD0, "07E9031411220000012D6800000015")
    assert one_minute == {
        "timestamp": dt.datetime(2025, 3, 20, 17, 34, 0),
        "normal": 77160,
        "reverse": 21,
    }
    log3 = "07E903141122" + "02" + "00012D6800000015" + "00012D6700000015"
    assert _value(LOW_VOLTAGE, 0xEE, log3)["energy"] == (
        {"normal": 77160, "reverse": 21},
        {"normal": 77159, "reverse": 21},
    )
    assert _value(LOW_VOLTAGE, 0xEF, "07E90314112205") == {
        "timestamp": dt.datetime(2025, 3, 20, 17, 34),
        "segments": 5,
    }
    for epc, edt in ((0xD0, "07E9031411220000012D6800000015"), (0xEE, log3)):
        _round_trips(LOW_VOLTAGE, epc, edt)


def test_route_b_id_and_units() -> None:
    route_b_id = "00" + "000016" + "00" * 12
    assert _value(LOW_VOLTAGE, 0xC0, route_b_id) == bytes.fromhex(route_b_id)
    assert [_value(LOW_VOLTAGE, 0xE1, f"{c:02X}") for c in (0x00, 0x01, 0x0D)] == [
        "1",
        "0.1",
        "10000",
    ]
    assert _value(LOW_VOLTAGE, 0xE1, "05") == 5  # unassigned code: kept as int
    assert encode_property(LOW_VOLTAGE, "cumulative_energy_unit", "0.01") == b"\x02"


def test_high_voltage_layouts() -> None:
    demand = _value(HIGH_VOLTAGE, 0xC3, "07E90314113000" + "000004D2")
    assert demand == {"timestamp": dt.datetime(2025, 3, 20, 17, 48, 0), "demand": 1234}
    history = "0001" + "000004D2" * 47 + NO_DATA_4
    value = _value(HIGH_VOLTAGE, 0xC6, history)
    assert (value["day"], value["demand"][0], value["demand"][47]) == (1, 1234, None)
    assert _value(HIGH_VOLTAGE, 0xC1, "FFFFFFFF") is None  # overflow code
    assert [_value(HIGH_VOLTAGE, 0xD4, c) for c in ("00", "03")] == ["1", "0.001"]
    assert _value(HIGH_VOLTAGE, 0xE0, "0F") == 15
    assert validate_set(HIGH_VOLTAGE, 0xE1, b"\x07") is None
    assert validate_set(HIGH_VOLTAGE, 0xE2, bytes(11)) is not None  # not settable
    for epc, edt in ((0xC3, "07E90314113000000004D2"), (0xC6, history)):
        _round_trips(HIGH_VOLTAGE, epc, edt)


def test_sub_meter_layouts() -> None:
    assert _value(SUB_METER, 0xE9, "0960FFFE") == {"r_s": 240.0, "s_t": None}
    assert _value(SUB_METER, 0xE8, "00147FFE") == {"r_phase": 2.0, "t_phase": None}
    assert _value(SUB_METER, 0xD4, "0B") == "100"
    assert _value(SUB_METER, 0xD8, "03E7") == 999
    assert _spec(SUB_METER).properties[0xE0].name == "historical_day"
    assert _spec(SUB_METER).properties[0xE0].settable
    _round_trips(SUB_METER, 0xE9, "0960FFFE")


# --- special codes and malformed EDTs --------------------------------------------------------


@pytest.mark.parametrize(
    ("epc", "edt_hex"),
    [
        (0xE7, "7FFFFFFE"),  # no data
        (0xE7, "7FFFFFFF"),  # overflow
        (0xE7, "80000000"),  # underflow
        (0xE0, NO_DATA_4),
        (0xE5, "FF"),  # 0xE5 never set
    ],
)
def test_special_codes_decode_to_none(epc: int, edt_hex: str) -> None:
    assert _value(LOW_VOLTAGE, epc, edt_hex) is None


def test_special_codes_encode_from_labels() -> None:
    assert encode_property(LOW_VOLTAGE, 0xE7, None) == bytes.fromhex("7FFFFFFE")
    assert encode_property(LOW_VOLTAGE, 0xE7, "underflow") == bytes.fromhex("80000000")
    assert encode_property(LOW_VOLTAGE, 0xE5, "default_value") == b"\xff"
    current = {"r_phase": 12.3, "t_phase": None}  # single-phase two-wire meter
    assert encode_property(LOW_VOLTAGE, 0xE8, current) == bytes.fromhex("007B7FFE")
    day_unset = _value(LOW_VOLTAGE, 0xE2, "00FF" + NO_DATA_4 * 48)
    assert day_unset["day"] is None


def test_historical_day_set_validation() -> None:
    assert validate_set(LOW_VOLTAGE, 0xE5, b"\x63") is None  # 99 days back
    assert validate_set(LOW_VOLTAGE, 0xE5, b"\x64") is not None  # 100: out of range
    assert validate_set(LOW_VOLTAGE, 0xE5, b"\x01\x02") is not None
    assert validate_set(LOW_VOLTAGE, 0xE7, bytes(4)) is not None
    assert validate_set(LOW_VOLTAGE, 0xED, bytes.fromhex("07E9031411000C")) is None
    assert validate_set(LOW_VOLTAGE, 0xED, bytes.fromhex("07E9031411000D")) is not None


@pytest.mark.parametrize(
    ("epc", "edt_hex"),
    [
        (0xE2, "0000" + "00000000" * 47),  # one reading short
        (0xE7, "000000E4FF"),  # trailing byte
        (0xEC, "07E705091600" + "02" + "0001AB2500000015"),  # 2 segments, 1 pair
        (0xEC, "07E705091600" + "0D" + "00" * 104),  # 13 segments, at most 12
        (0xEA, "07E70D13001E00" + "0000458E"),  # month 13
    ],
)
def test_malformed_edts_raise_decode_error(epc: int, edt_hex: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_property(LOW_VOLTAGE, epc, bytes.fromhex(edt_hex))
    assert caught.value.layer == "echonet-property"


@pytest.mark.parametrize(
    ("epc", "edt_hex", "expected"),
    [
        # MRA V1.3.1 0x0288 remarks: the values of 0xED/0xEF before the first Set, and of
        # 0xEC/0xEE before their collection time is set (date-time all 0xFF).
        (0xED, "FFFFFFFFFFFF01", {"timestamp": None, "segments": 1}),
        (0xEF, "FFFFFFFFFFFF01", {"timestamp": None, "segments": 1}),
        (
            0xEC,
            "FFFFFFFFFFFF01" + NO_DATA_4 * 2,
            {"timestamp": None, "segments": 1, "energy": ({"normal": None, "reverse": None},)},
        ),
    ],
)
def test_default_values_before_the_first_set(epc: int, edt_hex: str, expected: object) -> None:
    assert _value(LOW_VOLTAGE, epc, edt_hex) == expected
    _round_trips(LOW_VOLTAGE, epc, edt_hex)


# --- any bytes: a value or DecodeError, and clean values round-trip ---------------------------

ALL_PROPERTIES: Final = [
    (class_id, epc) for class_id in METER_CLASSES for epc in sorted(_own_properties(class_id))
]


def _has_none(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, tuple | list):
        return any(_has_none(v) for v in value)
    return False


@st.composite
def _property_and_edt(draw: st.DrawFn) -> tuple[int, int, bytes]:
    class_id, epc = draw(st.sampled_from(ALL_PROPERTIES))
    data_type = _spec(class_id).properties[epc].data_type
    if data_type.size is not None and draw(st.booleans()):
        edt = draw(st.binary(min_size=data_type.size, max_size=data_type.size))
    elif data_type.size is None and draw(st.booleans()):
        # variable histories: a header that announces `segments` pairs, then the pairs
        segments = draw(st.integers(0, 14))
        header = draw(st.binary(min_size=6, max_size=6)) + bytes([segments])
        edt = header + draw(st.binary(min_size=8 * segments, max_size=8 * segments + 1))
    else:
        edt = draw(st.binary(max_size=250))
    return class_id, epc, edt


@settings(max_examples=400, deadline=None)
@given(_property_and_edt())
def test_any_edt_decodes_or_raises_decode_error(case: tuple[int, int, bytes]) -> None:
    class_id, epc, edt = case
    try:
        decoded = decode_property(class_id, epc, edt)
    except DecodeError as exc:
        assert exc.layer == "echonet-property"
        assert 0 <= exc.offset <= len(edt)
        return
    assert decoded.edt == edt
    if not _has_none(decoded.value):
        # Special codes other than no_data lose their label in the value; everything else
        # must come back byte for byte.
        assert encode_property(class_id, epc, decoded.value) == edt
