"""EDT data-type kinds (``smartmeter_proto.echonet.datatypes``), tested kind by kind.

Types are compiled from inline ``type:`` mappings (schema: specs/echonet/README.md), so each
kind is covered whatever the class files use. Real EDTs name their source.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet.datatypes import (
    LAYER,
    DataType,
    compile_type,
    decode_property_map,
    encode_property_map,
)
from smartmeter_proto.echonet.frame import EOJ
from smartmeter_proto.errors import DecodeError, EncodeError


def _decode_error(data_type: DataType, edt: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        data_type.decode(edt)
    assert info.value.layer == LAYER
    assert 0 <= info.value.offset <= len(edt)
    return info.value


# --- integers -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("signed", [False, True])
def test_integer_sizes_round_trip(size: int, signed: bool) -> None:
    data_type = compile_type({"kind": "signed" if signed else "unsigned", "size": size})
    assert (data_type.size, data_type.max_size) == (size, size)
    low = -(1 << (8 * size - 1)) if signed else 0
    high = (1 << (8 * size - 1)) - 1 if signed else (1 << (8 * size)) - 1
    for value in (low, high, 0, 1):
        edt = data_type.encode(value)
        assert len(edt) == size
        assert data_type.decode(edt) == value
    with pytest.raises(EncodeError):
        data_type.encode(high + 1)
    with pytest.raises(EncodeError):
        data_type.encode(low - 1)
    _decode_error(data_type, bytes(size - 1))
    _decode_error(data_type, bytes(size + 1))


def test_integer_big_endian_real_values() -> None:
    signed4 = compile_type({"kind": "signed", "size": 4})
    # node-wisunrb README: 0xE7 EDT FFFFFDF4 of a meter exporting solar power = -524 W.
    assert signed4.decode(bytes.fromhex("FFFFFDF4")) == -524
    # Qiita 74f11b729a7859da63af: 0xE7 EDT 000000E4 = 228 W.
    assert signed4.decode(bytes.fromhex("000000E4")) == 228
    unsigned3 = compile_type({"kind": "unsigned", "size": 3})
    assert unsigned3.decode(b"\x01\x00\x02") == 0x010002


def test_decimals() -> None:
    # 0.1 A steps, as 0xE8 of the low-voltage meter; home-meter capture 001E 0032 = 3.0 A, 5.0 A.
    current = compile_type({"kind": "signed", "size": 2, "decimals": 1})
    assert current.decode(bytes.fromhex("001E")) == 3.0
    assert current.decode(bytes.fromhex("FFBA")) == -7.0
    assert current.encode(5.0) == bytes.fromhex("0032")
    assert current.encode(-3276.7) == bytes.fromhex("8001")
    kwh = compile_type({"kind": "unsigned", "size": 4, "decimals": 3})
    assert kwh.decode((123456).to_bytes(4, "big")) == 123.456
    assert kwh.encode(123.456) == (123456).to_bytes(4, "big")


@settings(max_examples=100, deadline=None)
@given(st.integers(-32768, 32767), st.integers(0, 3))
def test_decimals_round_trip_every_raw_value(raw: int, decimals: int) -> None:
    data_type = compile_type({"kind": "signed", "size": 2, "decimals": decimals})
    edt = raw.to_bytes(2, "big", signed=True)
    assert data_type.encode(data_type.decode(edt)) == edt


SPECIAL_POWER: Final = {
    "kind": "signed",
    "size": 4,
    "min": -2147483647,
    "max": 2147483645,
    "special": {0x7FFFFFFE: "no_data", 0x7FFFFFFF: "overflow", -0x80000000: "underflow"},
}


def test_special_codes() -> None:
    power = compile_type(SPECIAL_POWER)
    for edt in ("7FFFFFFE", "7FFFFFFF", "80000000"):
        assert power.decode(bytes.fromhex(edt)) is None
    assert power.encode(None) == bytes.fromhex("7FFFFFFE")
    assert power.encode("overflow") == bytes.fromhex("7FFFFFFF")
    assert power.encode("underflow") == bytes.fromhex("80000000")
    assert power.in_range("overflow")
    assert power.in_range(-2147483647)
    assert power.in_range(2147483645)
    # Raw special codes sit outside min/max but are not "out of range" values.
    assert power.in_range(-0x80000000)
    assert power.in_range(0x7FFFFFFE)
    assert power.encode(0x7FFFFFFF) == bytes.fromhex("7FFFFFFF")
    plain = compile_type({"kind": "unsigned", "size": 1})
    with pytest.raises(EncodeError, match="None"):
        plain.encode(None)


def test_min_max_are_raw_limits() -> None:
    digits = compile_type({"kind": "unsigned", "size": 1, "min": 1, "max": 8})
    assert digits.decode(b"\x09") == 9  # out of range still decodes
    assert not digits.in_range(9)
    assert not digits.in_range(0)
    assert digits.in_range(1)
    assert digits.in_range(8)
    tenth = compile_type({"kind": "unsigned", "size": 2, "decimals": 1, "max": 1000})
    assert tenth.in_range(100.0)
    assert not tenth.in_range(100.1)


@pytest.mark.parametrize("value", [True, "12", [1], b"\x01"])
def test_integer_refuses_non_numbers(value: Any) -> None:
    with pytest.raises(EncodeError):
        compile_type({"kind": "unsigned", "size": 2}).encode(value)


# --- enum, bitmap ---------------------------------------------------------------------------

ON_OFF: Final = {"kind": "enum", "values": {0x30: "on", 0x31: "off"}}


def test_enum_labels_and_unknown_codes() -> None:
    status = compile_type(ON_OFF)
    # Home-meter capture: 0x80 EDT 30 = on; LAN capture of an air conditioner: 30 / 31.
    assert status.decode(b"\x30") == "on"
    assert status.decode(b"\x31") == "off"
    assert status.decode(b"\x32") == 0x32  # unknown code survives as its int
    assert status.encode(0x32) == b"\x32"
    assert status.encode("off") == b"\x31"
    assert status.in_range("on")
    assert status.in_range(0x30)
    assert not status.in_range(0x32)
    assert not status.in_range("standby")
    with pytest.raises(EncodeError):
        status.encode("standby")
    with pytest.raises(EncodeError):
        status.encode(0x100)
    with pytest.raises(EncodeError):
        status.encode(1.5)
    _decode_error(status, b"")
    _decode_error(status, b"\x30\x30")


def test_wide_enum() -> None:
    wide = compile_type({"kind": "enum", "size": 2, "values": {0x0102: "x"}})
    assert wide.decode(b"\x01\x02") == "x"
    assert wide.decode(b"\xff\xff") == 0xFFFF
    assert wide.encode(0xFFFF) == b"\xff\xff"


def test_bitmap() -> None:
    flags = compile_type({"kind": "bitmap", "size": 2, "bits": {0: "low", 9: "high"}})
    assert flags.decode(b"\x02\x01") == {"low": True, "high": True}
    assert flags.decode(b"\x00\x00") == {"low": False, "high": False}
    assert flags.encode({"high": True}) == b"\x02\x00"
    assert flags.encode({"low": 1, "unknown": True}) == b"\x00\x01"
    with pytest.raises(EncodeError):
        flags.encode([True])
    _decode_error(flags, b"\x00")


@settings(max_examples=50, deadline=None)
@given(st.booleans(), st.booleans())
def test_bitmap_round_trip(low: bool, high: bool) -> None:
    flags = compile_type({"kind": "bitmap", "size": 2, "bits": {0: "low", 9: "high"}})
    value = {"low": low, "high": high}
    assert flags.decode(flags.encode(value)) == value


# --- ascii, raw -----------------------------------------------------------------------------


def test_fixed_ascii() -> None:
    serial = compile_type({"kind": "ascii", "size": 12})
    # Home-meter capture, 0x8D production number: "F24G366505" NUL-padded to 12 bytes.
    edt = bytes.fromhex("463234473336363530350000")
    assert serial.decode(edt) == "F24G366505"
    assert serial.encode("F24G366505") == edt
    assert serial.encode("") == bytes(12)
    with pytest.raises(EncodeError):
        serial.encode("x" * 13)
    with pytest.raises(EncodeError):
        serial.encode("é")
    bad = bytearray(edt)
    bad[3] = 0xC8
    assert _decode_error(serial, bytes(bad)).offset == 3
    _decode_error(serial, edt[:-1])


def test_variable_ascii() -> None:
    text = compile_type({"kind": "ascii", "max_size": 4})
    assert text.size is None
    assert text.max_size == 4
    assert text.decode(b"") == ""
    assert text.decode(b"ab") == "ab"
    assert text.encode("ab") == b"ab"
    assert _decode_error(text, b"abcde").offset == 0
    with pytest.raises(EncodeError):
        text.encode("abcde")


def test_raw_bounds() -> None:
    location = compile_type({"kind": "raw", "min_size": 1, "max_size": 17})
    assert location.decode(b"\x61") == b"\x61"  # home-meter capture, 0x81
    assert location.decode(bytes(17)) == bytes(17)
    _decode_error(location, b"")
    _decode_error(location, bytes(18))
    with pytest.raises(EncodeError):
        location.encode(b"")
    with pytest.raises(EncodeError):
        location.encode("61")
    maker = compile_type({"kind": "raw", "size": 3})
    assert maker.decode(b"\x00\x00\x16") == b"\x00\x00\x16"  # Toshiba, home-meter capture
    _decode_error(maker, b"\x00\x16")
    with pytest.raises(EncodeError):
        maker.encode(b"\x16")
    assert maker.encode(bytearray(b"abc")) == b"abc"


# --- calendar kinds -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "edt", "value"),
    [
        # Home-meter capture: 0x98 current date 07EA 05 14, 0x97 current time 0E 1A.
        ("date", "07EA0514", dt.date(2026, 5, 20)),
        ("time", "0E1A", dt.time(14, 26)),
        ("time_hms", "0E1A3B", dt.time(14, 26, 59)),
        # Qiita 74f11b729a7859da63af: 0xEA time stamp 07E7 0C 13 00 1E 00.
        ("datetime", "07E70C13001E00", dt.datetime(2023, 12, 19, 0, 30)),
        ("datetime_hm", "07E70C13001E", dt.datetime(2023, 12, 19, 0, 30)),
    ],
)
def test_calendar_kinds(kind: str, edt: str, value: object) -> None:
    data_type = compile_type({"kind": kind})
    raw = bytes.fromhex(edt)
    assert data_type.size == len(raw)
    assert data_type.decode(raw) == value
    assert data_type.encode(value) == raw
    # All 0xFF is "not set yet" and comes back as all 0xFF.
    assert data_type.decode(b"\xff" * len(raw)) is None
    assert data_type.encode(None) == b"\xff" * len(raw)
    _decode_error(data_type, raw[:-1])
    _decode_error(data_type, raw + b"\x00")
    with pytest.raises(EncodeError):
        data_type.encode("2023-12-19")


@pytest.mark.parametrize(
    ("kind", "edt"),
    [
        ("date", "07E70D01"),  # month 13
        ("date", "07E70230"),  # 30 February... day 0x30 = 48
        ("date", "FFFF0101"),  # year 65535, not all 0xFF
        ("time", "1800"),  # hour 24
        ("time_hms", "00003C"),  # second 60
        ("datetime", "07E70C13003C00"),  # minute 60
        ("datetime_hm", "07E700010000"),  # month 0
    ],
)
def test_calendar_impossible_values_are_decode_errors(kind: str, edt: str) -> None:
    assert _decode_error(compile_type({"kind": kind}), bytes.fromhex(edt)).offset == 0


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_calendar_round_trip(moment: dt.datetime) -> None:
    moment = moment.replace(microsecond=0)
    checks: list[tuple[str, object]] = [
        ("date", moment.date()),
        ("time", moment.time().replace(second=0)),
        ("time_hms", moment.time()),
        ("datetime", moment),
        ("datetime_hm", moment.replace(second=0)),
    ]
    for kind, value in checks:
        data_type = compile_type({"kind": kind})
        assert data_type.decode(data_type.encode(value)) == value


# --- property maps (Part II Annex 1) --------------------------------------------------------


def test_property_map_list_form_from_a_meter() -> None:
    # Home-meter capture: 0x9D = 03 80 81 88, 0x9E = 03 81 E5 ED.
    assert decode_property_map(bytes.fromhex("03808188")) == (0x80, 0x81, 0x88)
    assert decode_property_map(bytes.fromhex("0381E5ED")) == (0x81, 0xE5, 0xED)
    assert encode_property_map([0x88, 0x80, 0x81]) == bytes.fromhex("03808188")
    assert decode_property_map(b"\x00") == ()
    assert encode_property_map([]) == b"\x00"


def test_property_map_bitmap_form_from_a_meter() -> None:
    # Home-meter capture: 0x9F with 25 EPCs, bitmap form.
    edt = bytes.fromhex("1941414160404000624300414040430202")
    epcs = decode_property_map(edt)
    assert len(epcs) == 25
    assert epcs == (
        0x80, 0x81, 0x82, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F,
        0xD3, 0xD7, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE7, 0xE8, 0xEA, 0xEB, 0xEC, 0xED,
    )  # fmt: skip
    # The same meter answered Get_SNA for 0x83 and 0x9C: neither is in its Get map.
    assert 0x83 not in epcs
    assert 0x9C not in epcs
    assert encode_property_map(epcs) == edt


def test_property_map_bitmap_vectors_from_smdn() -> None:
    # smdn/Smdn.Net.EchonetLite tests, PropertyMapSerializer.cs: TryDeserialize_NotationType2.
    edt = bytes([0x16, 0x0B, 0x01, 0x01, 0x09, 0, 0, 0, 0x01, 0x01, 0x01] + [0x03] * 6)
    expected = (
        0x80, 0x81, 0x82, 0x83, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F,
        0x90, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xB0, 0xB3,
    )  # fmt: skip
    assert decode_property_map(edt) == expected
    assert encode_property_map(expected) == edt
    # Serialize_NotationType2: 0x80..0x8F set bit 0 of every byte; 0xF0..0xFF bit 7.
    assert encode_property_map(range(0x80, 0x90)) == b"\x10" + b"\x01" * 16
    assert encode_property_map(range(0xF0, 0x100)) == b"\x10" + b"\x80" * 16
    assert encode_property_map(range(0x80, 0x100)) == b"\x80" + b"\xff" * 16


def test_property_map_forms_switch_at_16() -> None:
    assert len(encode_property_map(range(0x80, 0x8F))) == 16  # 15 EPCs: list form
    assert len(encode_property_map(range(0x80, 0x90))) == 17  # 16 EPCs: bitmap form


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0x80, 0xFF)))
def test_property_map_round_trip(epcs: set[int]) -> None:
    edt = encode_property_map(sorted(epcs, reverse=True))
    assert edt[0] == len(epcs)
    assert len(edt) == (1 + len(epcs) if len(epcs) < 16 else 17)
    assert decode_property_map(edt) == tuple(sorted(epcs))
    data_type = compile_type({"kind": "property_map"})
    assert data_type.decode(edt) == tuple(sorted(epcs))
    assert data_type.encode(tuple(sorted(epcs))) == edt


@settings(max_examples=100, deadline=None)
@given(st.sets(st.integers(0x80, 0xFF), min_size=16), st.integers(16, 255))
def test_property_map_count_must_match_the_bitmap(epcs: set[int], count: int) -> None:
    edt = bytearray(encode_property_map(sorted(epcs)))
    if count == len(epcs):
        return
    edt[0] = count
    with pytest.raises(DecodeError) as info:
        decode_property_map(bytes(edt))
    assert info.value.offset == 0
    assert "bitmap" in info.value.reason


@pytest.mark.parametrize(
    "edt",
    [
        "",  # no count
        "02 80",  # list form, one EPC missing
        "0F 808182838485868788898A8B8C8D",  # smdn ContentTooShort case #3
        "10",  # bitmap form, no bitmap
        "10 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E",  # smdn ContentTooShort case #3 (form 2)
        "01 80 81",  # trailing byte
    ],
)
def test_property_map_malformed(edt: str) -> None:
    with pytest.raises(DecodeError):
        decode_property_map(bytes.fromhex(edt.replace(" ", "")))


def test_property_map_encode_limits() -> None:
    with pytest.raises(EncodeError):
        encode_property_map([0x7F])
    with pytest.raises(EncodeError):
        encode_property_map([0x100])
    data_type = compile_type({"kind": "property_map"})
    with pytest.raises(EncodeError):
        data_type.encode(b"\x80\x81")
    with pytest.raises(EncodeError):
        data_type.encode(0x80)


# --- EOJ and class lists --------------------------------------------------------------------


def test_eoj_list() -> None:
    instances = compile_type({"kind": "eoj_list", "max_count": 2})
    # Qiita / home-meter captures: 0xD5 = 01 028801.
    assert instances.decode(bytes.fromhex("01028801")) == (EOJ(2, 0x88, 1),)
    assert instances.decode(b"\x00") == ()
    two = (EOJ(2, 0x88, 1), EOJ(5, 0xFF, 1))
    assert instances.encode(two) == bytes.fromhex("02028801 05FF01".replace(" ", ""))
    assert instances.decode(instances.encode(two)) == two
    assert _decode_error(instances, bytes.fromhex("03028801")).offset == 0  # above max_count
    assert _decode_error(instances, bytes.fromhex("020288")).offset == 1  # truncated list
    _decode_error(instances, bytes.fromhex("01028801FF"))
    with pytest.raises(EncodeError):
        instances.encode([EOJ(2, 0x88, 1)] * 3)
    assert instances.max_size == 1 + 2 * 3


def test_eoj_list_default_limit_is_84() -> None:
    instances = compile_type({"kind": "eoj_list"})
    assert instances.max_size == 1 + 84 * 3
    full = bytes([84]) + bytes(84 * 3)
    assert len(instances.decode(full)) == 84
    _decode_error(instances, bytes([85]) + bytes(85 * 3))


def test_class_list() -> None:
    classes = compile_type({"kind": "class_list", "max_count": 8})
    assert classes.decode(bytes.fromhex("0205FF0288")) == (0x05FF, 0x0288)
    assert classes.encode([0x05FF, 0x0288]) == bytes.fromhex("0205FF0288")
    _decode_error(classes, bytes([9]) + bytes(18))
    _decode_error(classes, bytes.fromhex("0205FF02"))
    with pytest.raises(EncodeError):
        classes.encode(list(range(9)))


def test_class_list_out_of_range_class_is_an_encode_error() -> None:
    classes = compile_type({"kind": "class_list", "max_count": 8})
    with pytest.raises(EncodeError):
        classes.encode([0x10000])


def test_eoj_list_refuses_a_string() -> None:
    instances = compile_type({"kind": "eoj_list"})
    with pytest.raises(EncodeError):
        instances.encode("028801")


# --- struct and arrays ----------------------------------------------------------------------

COUNTED: Final = {
    "kind": "struct",
    "fields": [
        {"name": "when", "type": {"kind": "datetime_hm"}},
        {"name": "count", "type": {"kind": "unsigned", "size": 1}},
        {
            "name": "pairs",
            "type": {
                "kind": "array",
                "count_from": "count",
                "max_count": 3,
                "of": {
                    "kind": "struct",
                    "fields": [
                        {"name": "a", "type": {"kind": "unsigned", "size": 2}},
                        {"name": "b", "type": {"kind": "signed", "size": 1}},
                    ],
                },
            },
        },
    ],
}


def test_struct_with_count_from() -> None:
    data_type = compile_type(COUNTED)
    assert data_type.size is None
    assert data_type.max_size == 6 + 1 + 3 * 3
    edt = bytes.fromhex("07E70C13001E020001FF00027F")
    value = data_type.decode(edt)
    assert value == {
        "when": dt.datetime(2023, 12, 19, 0, 30),
        "count": 2,
        "pairs": ({"a": 1, "b": -1}, {"a": 2, "b": 127}),
    }
    assert data_type.encode(value) == edt
    assert data_type.decode(bytes.fromhex("07E70C13001E00")) == {
        "when": dt.datetime(2023, 12, 19, 0, 30),
        "count": 0,
        "pairs": (),
    }
    # More elements than max_count: refused where the array starts.
    assert _decode_error(data_type, bytes.fromhex("07E70C13001E04") + bytes(12)).offset == 7
    _decode_error(data_type, edt[:-1])  # last pair cut short
    _decode_error(data_type, edt + b"\x00")  # trailing byte
    with pytest.raises(EncodeError, match="missing"):
        data_type.encode({"when": None, "count": 0})
    with pytest.raises(EncodeError):
        data_type.encode([1, 2, 3])
    assert data_type.in_range(value)
    assert not data_type.in_range({"when": None})


def test_struct_count_must_agree_with_its_array() -> None:
    data_type = compile_type(COUNTED)
    value = {"when": None, "count": 2, "pairs": [{"a": 1, "b": 1}]}
    with pytest.raises(EncodeError):
        data_type.encode(value)


def test_count_from_a_non_count_field() -> None:
    data_type = compile_type(
        {
            "kind": "struct",
            "fields": [
                {"name": "n", "type": {"kind": "enum", "values": {1: "one"}}},
                {
                    "name": "xs",
                    "type": {
                        "kind": "array",
                        "count_from": "n",
                        "of": {"kind": "unsigned", "size": 1},
                    },
                },
            ],
        }
    )
    # The count field decodes to a label, not an int: a DecodeError, not a TypeError.
    assert _decode_error(data_type, b"\x01\x05").offset == 1


def test_fixed_struct() -> None:
    version = compile_type(
        {
            "kind": "struct",
            "fields": [
                {"name": "reserved", "type": {"kind": "raw", "size": 2}},
                {"name": "release", "type": {"kind": "ascii", "size": 1}},
                {"name": "revision", "type": {"kind": "unsigned", "size": 1}},
            ],
        }
    )
    assert version.size == 4
    # Home-meter capture, 0x82 = 00 00 'F' 00: APPENDIX Release F.
    value = version.decode(bytes.fromhex("00004600"))
    assert value == {"reserved": b"\x00\x00", "release": "F", "revision": 0}
    assert version.encode(value) == bytes.fromhex("00004600")


def test_fixed_count_array() -> None:
    # The 48 half-hour counts of 0xE2 (home-meter capture, day 11), after the 2-byte day.
    readings = compile_type({"kind": "array", "count": 48, "of": {"kind": "unsigned", "size": 4}})
    assert readings.size == 192
    edt = bytes.fromhex(
        "0000F7660000F7680000F76A0000F76C0000F76D0000F76F0000F7700000F7720000F7740000F776"
        "0000F7770000F7790000F77A0000F77C0000F77E0000F7800000F7810000F7830000F7840000F786"
        "0000F7880000F7890000F78B0000F78D0000F78E0000F7900000F7920000F7930000F7950000F796"
        "0000F7980000F79A0000F79C0000F79D0000F79F0000F7A00000F7A20000F7A40000F7A60000F7A7"
        "0000F7A90000F7AB0000F7AD0000F7AF0000F7B00000F7B20000F7B40000F7B6"
    )
    values = readings.decode(edt)
    assert len(values) == 48
    assert values[0] == 0xF766
    assert values[-1] == 0xF7B6
    assert list(values) == sorted(values)  # a cumulative counter never goes down in a day
    assert readings.encode(values) == edt
    _decode_error(readings, edt[:-4])
    with pytest.raises(EncodeError):
        readings.encode(values[:-1])


def test_open_array() -> None:
    open_array = compile_type(
        {"kind": "array", "max_count": 3, "of": {"kind": "unsigned", "size": 2}}
    )
    assert open_array.decode(b"") == ()
    assert open_array.decode(bytes.fromhex("00010002")) == (1, 2)
    assert open_array.encode([1, 2]) == bytes.fromhex("00010002")
    _decode_error(open_array, bytes(8))  # 4 elements, max 3
    assert _decode_error(open_array, bytes(3)).offset == 2  # half an element left over
    with pytest.raises(EncodeError):
        open_array.encode([0, 0, 0, 0])
    variable = compile_type({"kind": "array", "of": {"kind": "ascii", "max_size": 4}})
    _decode_error(variable, b"ab")


def test_unknown_kind_is_refused_at_compile_time() -> None:
    with pytest.raises(ValueError, match="unknown EDT type kind"):
        compile_type({"kind": "float"})


# --- robustness -----------------------------------------------------------------------------

ALL_KINDS: Final[list[dict[str, Any]]] = [
    {"kind": "unsigned", "size": 3, "special": {0xFFFFFE: "no_data"}},
    {"kind": "signed", "size": 2, "decimals": 1},
    {"kind": "signed", "size": 8},
    ON_OFF,
    {"kind": "bitmap", "size": 1, "bits": {0: "a", 7: "b"}},
    {"kind": "ascii", "size": 3},
    {"kind": "ascii", "max_size": 5},
    {"kind": "raw", "min_size": 2, "max_size": 4},
    {"kind": "date"},
    {"kind": "time"},
    {"kind": "time_hms"},
    {"kind": "datetime"},
    {"kind": "datetime_hm"},
    {"kind": "property_map"},
    {"kind": "eoj_list", "max_count": 4},
    {"kind": "class_list", "max_count": 4},
    COUNTED,
    {"kind": "array", "max_count": 4, "of": {"kind": "unsigned", "size": 2}},
    {"kind": "array", "count": 2, "of": {"kind": "datetime"}},
]
COMPILED: Final = [compile_type(spec) for spec in ALL_KINDS]


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(range(len(COMPILED))), st.binary(max_size=40))
@example(13, b"\x10" + bytes(16))
@example(16, bytes.fromhex("07E70C13001E02000100"))
def test_any_edt_decodes_or_raises_decode_error(index: int, edt: bytes) -> None:
    data_type = COMPILED[index]
    error: DecodeError | None = None
    try:
        value = data_type.decode(edt)
    except DecodeError as exc:
        error = exc
    if error is not None:
        assert error.layer == LAYER
        assert 0 <= error.offset <= len(edt)
        return
    if data_type.kind in {"bitmap", "ascii", "property_map"}:
        return  # lossy by design: unnamed bits, trailing NULs, EPC order/duplicates
    assert data_type.encode(value) == edt
