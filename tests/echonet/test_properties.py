"""Typed properties (``smartmeter_proto.echonet.properties``): lookup, decode, encode, Set checks.

The class files' own EDT layouts are tested per class in ``test_spec_*.py``; this file covers
the lookup rules, the API around the codecs, and a whole real meter read out EPC by EPC
(``tests/vectors/echonet/b_route_home_meter.hex``, source named there).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet.datatypes import LAYER as PROPERTY_LAYER
from smartmeter_proto.echonet.frame import EOJ, Frame, Property, decode
from smartmeter_proto.echonet.properties import (
    PropertyValue,
    decode_frame_properties,
    decode_property,
    encode_property,
    lookup,
    validate_set,
)
from smartmeter_proto.echonet.specs import SUPER_CLASS, known_classes, load_class
from smartmeter_proto.errors import DecodeError, EncodeError

LOW_VOLTAGE: Final = 0x0288
NODE_PROFILE_CLASS: Final = 0x0EF0
UNLISTED: Final = 0x0131  # in no class file (not in the MRA either): super class properties only
VECTORS: Final = Path(__file__).resolve().parents[1] / "vectors" / "echonet"


def _vectors(stem: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for line in (VECTORS / f"{stem}.hex").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, hex_text = line.partition(" ")
            found[name] = bytes.fromhex(hex_text.replace(" ", ""))
    return found


HOME_METER: Final = _vectors("b_route_home_meter")


def _home_meter_value(name: str) -> PropertyValue:
    decoded = decode(HOME_METER[name])
    assert isinstance(decoded, Frame)
    (prop,) = decoded.properties
    return decode_property(decoded.seoj.class_id, prop.epc, prop.edt)


# --- a real meter, EPC by EPC ---------------------------------------------------------------

HOME_METER_VALUES: Final[list[tuple[str, str, Any]]] = [
    ("get_res_80", "operation_status", "on"),
    ("get_res_81", "installation_location", b"\x61"),
    ("get_res_82", "standard_version", {"reserved": b"\x00\x00", "release": "F", "revision": 0}),
    ("get_res_88", "fault_status", "no_fault"),
    ("get_res_8a", "manufacturer_code", b"\x00\x00\x16"),
    ("get_res_8d", "production_number", "F24G366505"),
    ("get_res_97", "current_time", dt.time(14, 26)),
    ("get_res_98", "current_date", dt.date(2026, 5, 20)),
    ("get_res_d3", "coefficient", 1),
    ("get_res_d7", "effective_digits", 6),
    ("get_res_e0", "cumulative_energy_normal", 0xFE73),
    ("get_res_e7", "instantaneous_power", 632),
    ("get_res_e8", "instantaneous_current", {"r_phase": 3.0, "t_phase": 5.0}),
    (
        "get_res_ea",
        "fixed_time_cumulative_energy_normal",
        {"timestamp": dt.datetime(2026, 5, 20, 14, 0), "energy": 0xFE68},
    ),
    (
        "get_res_eb",
        "fixed_time_cumulative_energy_reverse",
        {"timestamp": dt.datetime(2026, 5, 24, 22, 30), "energy": 0x16},
    ),
    ("get_res_9d", "status_change_announcement_property_map", (0x80, 0x81, 0x88)),
    ("get_res_9e", "set_property_map", (0x81, 0xE5, 0xED)),
]


@pytest.mark.parametrize(("vector", "name", "expected"), HOME_METER_VALUES)
def test_a_real_meter_epc_by_epc(vector: str, name: str, expected: Any) -> None:
    value = _home_meter_value(vector)
    assert value.known
    assert value.name == name
    assert value.value == expected
    assert encode_property(LOW_VOLTAGE, value.epc, value.value) == value.edt


def test_real_history_1() -> None:
    value = _home_meter_value("get_res_e2")
    assert value.name == "historical_cumulative_energy_normal"
    assert value.value["day"] == 11
    energy = value.value["energy"]
    assert len(energy) == 48
    assert energy[0] == 0xF766
    assert energy[-1] == 0xF7B6
    # 00:00 to 23:30 of that day: the counter went up by 80 counts.
    assert energy[-1] - energy[0] == 80
    assert encode_property(LOW_VOLTAGE, 0xE2, value.value) == value.edt


def test_a_real_meters_maps_agree_with_the_class_file() -> None:
    """Every EPC the meter lists in 0x9D/0x9E/0x9F has that access right in our 0x0288 file."""
    spec = load_class(LOW_VOLTAGE)
    assert spec is not None
    for vector, right in (("get_res_9d", "anno"), ("get_res_9e", "set"), ("get_res_9f", "get")):
        epcs = _home_meter_value(vector).value
        for epc in epcs:
            assert epc in spec.properties, f"0x{epc:02X} of {vector} missing from the class file"
            assert right in spec.properties[epc].access, f"0x{epc:02X} should allow {right}"


def test_refused_properties_have_no_edt_to_decode() -> None:
    sna = decode(HOME_METER["get_sna_83"])
    assert isinstance(sna, Frame)
    assert decode_frame_properties(LOW_VOLTAGE, sna.properties) == ((), ())


# --- lookup ---------------------------------------------------------------------------------


def test_lookup_rules() -> None:
    meter_spec = lookup(LOW_VOLTAGE, 0xE7)
    assert meter_spec is not None
    assert meter_spec.name == "instantaneous_power"
    assert meter_spec.unit == "W"
    # A device class without a file still has the super class's properties.
    status = lookup(UNLISTED, 0x80)
    assert status is not None
    assert status is lookup(SUPER_CLASS, 0x80)
    assert lookup(UNLISTED, 0xB0) is None
    # Profile objects do not inherit the device super class.
    assert lookup(NODE_PROFILE_CLASS, 0x81) is None
    assert lookup(0x0E00, 0x80) is None
    # The meter inherits the super class's 0x80, under the same name.
    inherited = lookup(LOW_VOLTAGE, 0x80)
    assert inherited is not None
    assert inherited.name == "operation_status"


def test_unknown_properties_stay_raw() -> None:
    unknown = decode_property(LOW_VOLTAGE, 0xF0, b"\x01\x02")
    assert not unknown.known
    assert unknown.name == "0xF0"
    assert unknown.value == b"\x01\x02"
    assert unknown.unit is None
    # An air conditioner (LAN capture, Go echonetlite test) reports 0x80 through the super class.
    aircon = decode(_vectors("lan_go_echonetlite_test")["aircon_inf_80_off"])
    assert isinstance(aircon, Frame)
    values, errors = decode_frame_properties(aircon.seoj.class_id, aircon.properties)
    assert errors == ()
    assert [(v.name, v.value) for v in values] == [("operation_status", "off")]


def test_decode_frame_properties_splits_errors() -> None:
    props = (
        Property(0xE7, bytes.fromhex("000000E4")),
        Property(0xE7),  # PDC 0: skipped
        Property(0xE8, b"\x00"),  # too short for two phases
        Property(0xF0, b"\xaa"),  # unknown: raw
    )
    values, errors = decode_frame_properties(LOW_VOLTAGE, props)
    assert [(v.epc, v.value) for v in values] == [(0xE7, 228), (0xF0, b"\xaa")]
    ((epc, error),) = errors
    assert epc == 0xE8
    assert isinstance(error, DecodeError)
    assert error.layer == PROPERTY_LAYER


def test_bad_edt_raises_decode_error() -> None:
    with pytest.raises(DecodeError) as info:
        decode_property(LOW_VOLTAGE, 0xE7, b"\x00\x00\x00")
    assert info.value.layer == PROPERTY_LAYER


def test_property_value_is_a_property_and_serialises() -> None:
    value = decode_property(NODE_PROFILE_CLASS, 0xD6, bytes.fromhex("0105FF01"))
    assert isinstance(value, Property)
    assert (value.epc, value.edt) == (0xD6, bytes.fromhex("0105FF01"))
    assert value.value == (EOJ(5, 0xFF, 1),)
    assert value.as_json() == {
        "epc": 0xD6,
        "name": "self_node_instance_list",
        "edt": "0105ff01",
        "value": ["05FF01"],
        "unit": None,
    }
    stamp = _home_meter_value("get_res_ea").as_json()
    assert stamp["value"] == {"timestamp": "2026-05-20T14:00:00", "energy": 0xFE68}
    assert _home_meter_value("get_res_8a").as_json()["value"] == {
        "code": "000016",
        "name": "Toshiba",
    }
    assert "instantaneous_power" in repr(_home_meter_value("get_res_e7"))


# --- encode ---------------------------------------------------------------------------------


def test_encode_by_code_or_name() -> None:
    assert encode_property(LOW_VOLTAGE, 0xE5, 3) == b"\x03"
    assert encode_property(LOW_VOLTAGE, "historical_day", 3) == b"\x03"
    assert encode_property(LOW_VOLTAGE, "operation_status", "off") == b"\x31"
    assert encode_property(UNLISTED, 0x80, "on") == b"\x30"
    # Raw EDT for an EPC no file describes.
    assert encode_property(UNLISTED, 0xB0, b"\x41") == b"\x41"
    with pytest.raises(ValueError, match="not specified"):
        encode_property(UNLISTED, 0xB0, 0x41)
    with pytest.raises(KeyError):
        encode_property(LOW_VOLTAGE, "no_such_property", 1)
    with pytest.raises(ValueError, match="no specification"):
        encode_property(UNLISTED, "operation_status", "on")
    with pytest.raises(EncodeError):
        encode_property(LOW_VOLTAGE, 0xE7, "lots")


# --- Set validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("class_id", "epc", "edt", "reason"),
    [
        (LOW_VOLTAGE, 0xE5, b"\x05", None),
        (LOW_VOLTAGE, 0x80, b"\x31", None),
        (LOW_VOLTAGE, 0xE5, b"\x64", "out of range"),  # 100 days back: max 99
        (LOW_VOLTAGE, 0xE5, b"\x05\x00", "EDT is 2 bytes"),
        (LOW_VOLTAGE, 0xE7, b"\x00\x00\x00\x01", "not settable"),
        (LOW_VOLTAGE, 0xF0, b"\x01", "not a property"),
        (LOW_VOLTAGE, 0x80, b"\x32", "out of range"),  # no such operation status
        (NODE_PROFILE_CLASS, 0xD6, b"\x00", "not settable"),
    ],
)
def test_validate_set(class_id: int, epc: int, edt: bytes, reason: str | None) -> None:
    result = validate_set(class_id, epc, edt)
    if reason is None:
        assert result is None
    else:
        assert result is not None
        assert reason in result


# --- classes no other test file walks -------------------------------------------------------


def _epcs(class_id: int) -> list[tuple[int, int]]:
    spec = load_class(class_id)
    assert spec is not None
    return [(class_id, epc) for epc in spec.properties]


@pytest.mark.parametrize(("class_id", "epc"), _epcs(NODE_PROFILE_CLASS) + _epcs(SUPER_CLASS))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_edt_of_profile_and_super_class(class_id: int, epc: int, data: st.DataObject) -> None:
    data_type = lookup(class_id, epc)
    assert data_type is not None
    size = data_type.data_type.size
    edt = data.draw(
        st.one_of(st.binary(min_size=size, max_size=size), st.binary(max_size=40))
        if size is not None
        else st.binary(max_size=data_type.data_type.max_size + 2)
    )
    error: DecodeError | None = None
    try:
        value = decode_property(class_id, epc, edt)
    except DecodeError as exc:
        error = exc
    if error is not None:
        assert error.layer == PROPERTY_LAYER
        assert 0 <= error.offset <= len(edt)
    else:
        assert value.edt == edt
        assert value.known


def test_known_classes_list_the_files() -> None:
    classes = known_classes()
    assert LOW_VOLTAGE in classes
    assert NODE_PROFILE_CLASS in classes
    assert SUPER_CLASS not in classes
    assert load_class(UNLISTED) is None


# --- manufacturer codes (EPC 0x8A) -----------------------------------------------------------


def test_manufacturer_code_is_named_from_the_public_list() -> None:
    from smartmeter_proto.echonet.datatypes import ManufacturerCode
    from smartmeter_proto.echonet.specs import manufacturer_names

    names = manufacturer_names()
    assert names[0x00000B] == "Panasonic"
    assert names[0x000106] == "Nature"
    for class_id in (0x0130, 0x0288, 0x0EF0, 0x05FF, 0x0123):  # a class without a file too
        value = decode_property(class_id, 0x8A, bytes.fromhex("00000b"))
        assert isinstance(value.value, ManufacturerCode)
        assert value.value == b"\x00\x00\x0b"  # still the 3-byte code
        assert value.as_json()["value"] == {"code": "00000B", "name": "Panasonic"}
    unlisted = decode_property(0x0130, 0x8A, bytes.fromhex("7a7b7c")).value
    assert (unlisted.code, unlisted.name) == ("7A7B7C", None)
    assert encode_property(0x0130, 0x8A, "000106") == b"\x00\x01\x06"
    assert encode_property(0x0130, 0x8A, b"\xff\xff\xff") == b"\xff\xff\xff"
    with pytest.raises(DecodeError):
        decode_property(0x0130, 0x8A, b"\x00\x01")
    with pytest.raises(EncodeError, match="manufacturer_code"):
        encode_property(0x0130, 0x8A, "xyz")
