"""Class specifications of home energy devices: gas meter 0x0282, water flowmeter 0x0281,
household solar power generation 0x0279, storage battery 0x027D, EV charger/discharger 0x027E.

Facts in the YAML files come from the ECHONET Consortium Machine Readable Appendix v1.3.1
(APPENDIX Release R). Device bytes below are published captures; each one names its source.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.properties import decode_property, encode_property, validate_set
from smartmeter_proto.echonet.specs import SUPER_CLASS, load_class, specs_dir
from smartmeter_proto.errors import DecodeError

GAS_METER = 0x0282
WATER_FLOW_METER = 0x0281
SOLAR = 0x0279
STORAGE_BATTERY = 0x027D
EV_CHARGER_DISCHARGER = 0x027E

CLASS_FILES = {
    GAS_METER: "0282_gas_meter.yaml",
    WATER_FLOW_METER: "0281_water_flow_meter.yaml",
    SOLAR: "0279_household_solar_power_generation.yaml",
    STORAGE_BATTERY: "027D_storage_battery.yaml",
    EV_CHARGER_DISCHARGER: "027E_electric_vehicle_charger_discharger.yaml",
}

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# APPENDIX releases run A..R; there is no Release O.
_RELEASES = set("ABCDEFGHIJKLMNPQR")


def _raw_doc(class_id: int) -> dict[str, Any]:
    path = Path(specs_dir()) / CLASS_FILES[class_id]
    with path.open("rb") as handle:
        doc: dict[str, Any] = yaml.safe_load(handle)
    return doc


def _own_epcs(class_id: int) -> list[int]:
    return sorted(int(epc) for epc in _raw_doc(class_id)["properties"])


def _props(frame_hex: str) -> dict[int, bytes]:
    """EPC -> EDT of a whole captured frame, decoded by our frame codec."""
    decoded = el_frame.decode(bytes.fromhex(frame_hex))
    assert isinstance(decoded, el_frame.Frame)
    return {p.epc: p.edt for p in decoded.properties}


def _epcs(text: str) -> set[int]:
    return set(bytes.fromhex(text))


def _check(class_id: int, epc: int, edt: bytes, expected: object, unit: str | None = None) -> None:
    """Decode a real EDT, compare the typed value, and encode it back to the same bytes."""
    value = decode_property(class_id, epc, edt)
    assert value.known
    assert value.value == expected
    if unit is not None:
        assert value.unit == unit
    assert encode_property(class_id, epc, value.value) == edt


# --- the files themselves ------------------------------------------------------------------


@pytest.mark.parametrize("class_id", sorted(CLASS_FILES))
def test_class_file_is_well_formed(class_id: int) -> None:
    doc = _raw_doc(class_id)
    assert int(doc["class"]) == class_id
    assert doc["inherits"] == "super"
    assert "Release R" in doc["source"]
    spec = load_class(class_id)
    assert spec is not None
    names = [p.name for p in spec.properties.values()]
    assert len(names) == len(set(names)), "property names must be unique within the class"
    for epc, entry in doc["properties"].items():
        assert 0x80 <= int(epc) <= 0xFF
        assert _SNAKE.match(entry["name"]), entry["name"]
        assert set(entry.get("mandatory", ())) <= set(entry["access"])
        if "since" in entry:
            assert entry["since"] in _RELEASES


@pytest.mark.parametrize("class_id", sorted(CLASS_FILES))
def test_super_class_overrides_keep_name_and_layout(class_id: int) -> None:
    parent = load_class(SUPER_CLASS)
    spec = load_class(class_id)
    assert parent is not None
    assert spec is not None
    for epc in _own_epcs(class_id):
        if epc in parent.properties:
            assert spec.properties[epc].name == parent.properties[epc].name
            assert spec.properties[epc].data_type.kind == parent.properties[epc].data_type.kind
            assert spec.properties[epc].data_type.size == parent.properties[epc].data_type.size


def test_mandatory_sets_match_a_certified_device() -> None:
    # Nichicon tribrid system, property maps posted in scottyphillips/echonetlite_homeassistant
    # issue #258 (2026-06-22). A certified device must carry every mandatory property.
    battery_get = _epcs(
        "80 81 82 83 86 88 89 8A 8C 8D 97 98 9D 9E 9F A0 A1 A2 A3 A4 A5 A8 A9 AA AB C1 C2 C8"
        " C9 CF D0 D2 D3 D6 D8 DA DB DC DD E2 E4 E5 E6 E7 E8 EB EC F0 F2 F4 F5 F8 F9 FA FB FC"
    )
    battery_set = _epcs("81 97 98 AA AB C1 C2 D7 D9 DA E7 E8 EB EC F2 F4 F8")
    battery_inf = _epcs("80 81 88 AA AB C1 C2 CF DA F0 F2 F4 F9 FA")
    solar_get = _epcs(
        "80 81 82 83 86 88 89 8A 8C 8D 97 98 9D 9E 9F A0 A2 B0 B1 B2 B3 B4 C0 C1 C2 C3 D0 D1"
        " E0 E1 E3 E8"
    )
    solar_set = _epcs("81 97 98 A0 C1")
    solar_inf = _epcs("80 81 88 B1")
    battery = load_class(STORAGE_BATTERY)
    solar = load_class(SOLAR)
    assert battery is not None
    assert solar is not None
    assert set(battery.mandatory_epcs("get")) <= battery_get
    assert set(battery.mandatory_epcs("set")) <= battery_set
    assert set(battery.mandatory_epcs("anno")) <= battery_inf
    assert set(solar.mandatory_epcs("get")) <= solar_get
    assert set(solar.mandatory_epcs("set")) <= solar_set
    assert set(solar.mandatory_epcs("anno")) <= solar_inf
    # Every standard EPC the device serves (0xF0..0xFF are maker-defined) is in our files.
    for epc in battery_get | battery_set | battery_inf:
        if epc < 0xF0:
            assert epc in battery.properties, hex(epc)
    for epc in solar_get | solar_set | solar_inf:
        assert epc in solar.properties, hex(epc)


# --- storage battery 0x027D: published captures ----------------------------------------------

# Get_Res from a storage battery (EOJ 027D02), scottyphillips/echonetlite_homeassistant issue #148
# (2023-12-16 debug log). Rebuilt from the log's per-property dump, which is complete; the raw
# line in the issue has stray spaces from copy-paste.
ISSUE_148_BATTERY = (
    "1081 0046 027D02 05FF01 72 0A"  # EHD, TID, SEOJ, DEOJ, ESV Get_Res, OPC 10
    " 80 01 30  A0 04 00002710  A1 04 00002710  A2 04 00000000  A3 04 00000000"
    " D3 04 00000000  A4 04 00000000  E4 01 09  A5 04 00000000  E6 01 04"
)


def test_storage_battery_issue_148_capture() -> None:
    props = _props(ISSUE_148_BATTERY)
    _check(STORAGE_BATTERY, 0x80, props[0x80], "on")
    _check(STORAGE_BATTERY, 0xA0, props[0xA0], 10000, "Wh")
    _check(STORAGE_BATTERY, 0xA1, props[0xA1], 10000, "Wh")
    _check(STORAGE_BATTERY, 0xA2, props[0xA2], 0, "Wh")
    _check(STORAGE_BATTERY, 0xA3, props[0xA3], 0, "Wh")
    _check(STORAGE_BATTERY, 0xA4, props[0xA4], 0, "Wh")
    _check(STORAGE_BATTERY, 0xA5, props[0xA5], 0, "Wh")
    _check(STORAGE_BATTERY, 0xD3, props[0xD3], 0, "W")
    _check(STORAGE_BATTERY, 0xE4, props[0xE4], 9, "%")
    _check(STORAGE_BATTERY, 0xE6, props[0xE6], "lithium_ion")


# OMRON storage battery (EOJ 027D1F) Get_Res, scottyphillips/echonetlite_homeassistant
# issue #191 (2024-08-29 debug log, "Processed data" line); the integration showed the same
# numbers (9159, 8338, 8731, 100, 99, Lithium).
ISSUE_191_BATTERY = {
    0xA0: "000023C7",
    0xA1: "00002092",
    0xE2: "0000221B",
    0x80: "30",
    0xE4: "64",
    0xE5: "63",
    0xE6: "04",
    0xA8: "001989D7",
    0xA9: "001609B4",
    0xCF: "44",
}


def test_storage_battery_issue_191_capture() -> None:
    edt = {epc: bytes.fromhex(text) for epc, text in ISSUE_191_BATTERY.items()}
    _check(STORAGE_BATTERY, 0xA0, edt[0xA0], 9159, "Wh")
    _check(STORAGE_BATTERY, 0xA1, edt[0xA1], 8338, "Wh")
    _check(STORAGE_BATTERY, 0xE2, edt[0xE2], 8731, "Wh")
    _check(STORAGE_BATTERY, 0xE4, edt[0xE4], 100, "%")
    _check(STORAGE_BATTERY, 0xE5, edt[0xE5], 99, "%")
    _check(STORAGE_BATTERY, 0xE6, edt[0xE6], "lithium_ion")
    _check(STORAGE_BATTERY, 0xA8, edt[0xA8], 1673.687, "kWh")
    _check(STORAGE_BATTERY, 0xA9, edt[0xA9], 1444.276, "kWh")
    _check(STORAGE_BATTERY, 0xCF, edt[0xCF], "standby")


# INF multicast by a storage battery (027D1F) behind a HEMS gateway, captured and published at
# https://jinkouki.net/solarpower/2024/07/post-2.html (July 2024).
JINKOUKI_BATTERY_INF = "1081000c027d1f0ef0017307800130810100880142c10103c20103cf0144da0146"


def test_storage_battery_jinkouki_announcement() -> None:
    props = _props(JINKOUKI_BATTERY_INF)
    assert sorted(props) == [0x80, 0x81, 0x88, 0xC1, 0xC2, 0xCF, 0xDA]
    _check(STORAGE_BATTERY, 0x88, props[0x88], "no_fault")
    _check(STORAGE_BATTERY, 0xC1, props[0xC1], "designated_power")
    _check(STORAGE_BATTERY, 0xC2, props[0xC2], "designated_power")
    _check(STORAGE_BATTERY, 0xCF, props[0xCF], "standby")
    _check(STORAGE_BATTERY, 0xDA, props[0xDA], "automatic")
    # The announced set is exactly the class's mandatory announcements that this capture holds.
    battery = load_class(STORAGE_BATTERY)
    assert battery is not None
    assert set(props) <= set(battery.mandatory_epcs("anno"))


# --- household solar power generation 0x0279: published capture ------------------------------

# Get_Res answers of a PCS (027901, product code "PCS-RP1A") listed as "ESV OPC EPC PDC EDT" at
# https://jinkouki.net/solarpower/ (July 2024, read against APPENDIX Release R rev.2 §3.3.13).
JINKOUKI_SOLAR_ANSWERS = {
    0x80: "7201800130",
    0x89: "720189020000",
    0x8C: "72018c0c5043532d5250314120202020",
    0x97: "720197020d2b",
    0x98: "7201980407e80716",
    0xD0: "7201d00100",
    0xE0: "7201e00208bf",
}


def _answer_edt(answer_hex: str, epc: int) -> bytes:
    raw = bytes.fromhex(answer_hex)
    assert raw[:3] == bytes((0x72, 1, epc))  # Get_Res, one property, this EPC
    assert len(raw) == 4 + raw[3]
    return raw[4:]


def test_solar_jinkouki_capture() -> None:
    edt = {epc: _answer_edt(text, epc) for epc, text in JINKOUKI_SOLAR_ANSWERS.items()}
    _check(SOLAR, 0x80, edt[0x80], "on")
    _check(SOLAR, 0x89, edt[0x89], 0)
    _check(SOLAR, 0x8C, edt[0x8C], "PCS-RP1A    ")
    # 0x0D 0x2B is 13:43 (the page's own reading, "1353", slips a digit).
    _check(SOLAR, 0x97, edt[0x97], dt.time(13, 43))
    _check(SOLAR, 0x98, edt[0x98], dt.date(2024, 7, 22))
    _check(SOLAR, 0xD0, edt[0xD0], "reverse_power_flow_acceptable")
    _check(SOLAR, 0xE0, edt[0xE0], 2239, "W")


def test_solar_jinkouki_announcement() -> None:
    # Operation status INF of the same PCS (02791F), https://jinkouki.net/solarpower/2024/07/post-2.html
    props = _props("1081000b02791f0ef0017301800130")
    _check(SOLAR, 0x80, props[0x80], "on")


# --- layouts from the APPENDIX (no public capture of these classes was found) ---------------
# The bytes below are built from the MRA v1.3.1 value definitions, not taken from a device.


def test_gas_meter_layouts() -> None:
    _check(GAS_METER, 0xE0, bytes.fromhex("0001E240"), 123.456, "m3")
    log = bytes.fromhex("0001E240") * 46 + bytes.fromhex("FFFFFFFE") * 2
    value = decode_property(GAS_METER, 0xE2, log)
    assert value.value == (123.456,) * 46 + (None, None)
    assert value.unit == "m3"
    assert encode_property(GAS_METER, 0xE2, value.value) == log
    with pytest.raises(DecodeError):
        decode_property(GAS_METER, 0xE2, log[:-1])


def test_water_flow_meter_layouts() -> None:
    _check(WATER_FLOW_METER, 0xD0, b"\x30", "running_water")
    _check(WATER_FLOW_METER, 0xD1, b"\x31", "public_waterworks_company")
    _check(WATER_FLOW_METER, 0xE0, bytes.fromhex("00003039"), 12345, "m3")
    _check(WATER_FLOW_METER, 0xE1, b"\x03", "0.001")
    _check(WATER_FLOW_METER, 0xE3, b"\x42", "not_detected")
    _check(WATER_FLOW_METER, 0xE5, b"000000", "000000")
    _check(WATER_FLOW_METER, 0xE6, b"202712", "202712")
    assert decode_property(WATER_FLOW_METER, 0xE7, b"\xff\xff\xff\xfe" * 48).value == (None,) * 48


def test_ev_charger_discharger_layouts() -> None:
    _check(EV_CHARGER_DISCHARGER, 0xC7, b"\x43", "connected_charge_and_discharge")
    _check(EV_CHARGER_DISCHARGER, 0xCC, b"\x22", "dc_aa_charge_discharge")
    _check(EV_CHARGER_DISCHARGER, 0xDA, b"\x46", "charging_discharging")
    _check(EV_CHARGER_DISCHARGER, 0xDC, b"\x06", "v2g")
    _check(EV_CHARGER_DISCHARGER, 0xE0, bytes.fromhex("FFFFF830"), -2000, "W")
    _check(EV_CHARGER_DISCHARGER, 0xD4, bytes.fromhex("FF38"), -20.0, "A")
    _check(
        EV_CHARGER_DISCHARGER,
        0xC8,
        bytes.fromhex("000003E800001770"),
        {"minimum": 1000, "maximum": 6000},
        "W",
    )
    _check(EV_CHARGER_DISCHARGER, 0xE6, b"\x03ABC", {"size": 3, "id": (0x41, 0x42, 0x43)})
    _check(EV_CHARGER_DISCHARGER, 0xE6, b"\x00", {"size": 0, "id": ()})
    with pytest.raises(DecodeError):
        decode_property(EV_CHARGER_DISCHARGER, 0xE6, b"\x03AB")
    with pytest.raises(DecodeError):
        decode_property(EV_CHARGER_DISCHARGER, 0xE6, b"\x19" + bytes(25))


def test_solar_schedule_layout() -> None:
    edt = bytes.fromhex("07E80716") + bytes([100] * 48 + [50] * 47 + [0xFF])
    value = decode_property(SOLAR, 0xB0, edt).value
    assert value["date"] == bytes.fromhex("07E80716")
    assert value["control_ratios"] == (100,) * 48 + (50,) * 47 + (None,)
    assert decode_property(SOLAR, 0xB4, b"\xff\xff").value is None
    assert decode_property(SOLAR, 0xE8, b"\x13\x88").value == 5000


def test_set_rules() -> None:
    # 0xC1 FIT contract type is settable, 0xE0 generation power is not; 0xE2 is set-only.
    assert validate_set(SOLAR, 0xC1, b"\x41") is None
    assert validate_set(SOLAR, 0xE0, b"\x00\x10") is not None
    assert validate_set(SOLAR, 0xE2, b"\x00") is None
    assert validate_set(SOLAR, 0xA0, bytes([101])) is not None  # above 100 %
    assert validate_set(STORAGE_BATTERY, 0xDA, b"\x42") is None
    assert validate_set(STORAGE_BATTERY, 0xCF, b"\x42") is not None  # status, read-only
    assert validate_set(EV_CHARGER_DISCHARGER, 0xCD, b"\x10") is None


# --- every property: any EDT decodes or fails cleanly ---------------------------------------


def _all_properties() -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    for class_id in sorted(CLASS_FILES):
        spec = load_class(class_id)
        assert spec is not None
        pairs.extend((class_id, epc) for epc in spec.properties)
    return pairs


def _own_properties() -> list[tuple[int, int]]:
    return [(class_id, epc) for class_id in sorted(CLASS_FILES) for epc in _own_epcs(class_id)]


def _has_none(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, tuple):
        return any(_has_none(v) for v in value)
    return False


def _edt_strategy(class_id: int, epc: int) -> st.SearchStrategy[bytes]:
    spec = load_class(class_id)
    assert spec is not None
    data_type = spec.properties[epc].data_type
    longest = min(data_type.max_size, 300) + 2
    if data_type.size is None:
        return st.binary(max_size=longest)
    exact = st.binary(min_size=data_type.size, max_size=data_type.size)
    return st.one_of(exact, st.binary(max_size=longest))


@pytest.mark.parametrize(("class_id", "epc"), _all_properties())
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_edt_decodes_or_raises_decode_error(
    class_id: int, epc: int, data: st.DataObject
) -> None:
    edt = data.draw(_edt_strategy(class_id, epc))
    error: DecodeError | None = None
    try:
        value = decode_property(class_id, epc, edt)
    except DecodeError as exc:
        error = exc
    if error is not None:
        assert error.layer == "echonet-property"
        assert 0 <= error.offset <= len(edt)
    else:
        assert value.edt == edt


@pytest.mark.parametrize(("class_id", "epc"), _own_properties())
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_decoded_values_encode_back(class_id: int, epc: int, data: st.DataObject) -> None:
    edt = data.draw(_edt_strategy(class_id, epc))
    try:
        value = decode_property(class_id, epc, edt).value
    except DecodeError:
        return
    if _has_none(value):
        return  # special codes decode to None; only "no_data" has a way back (see report)
    assert encode_property(class_id, epc, value) == edt
