"""Every class of the ECHONET Consortium MRA (specs/echonet/mra/) loads and round-trips.

EDTs are generated from each property's ``type:`` mapping in the class file, so
the round trips cover every property of every class with a bounded number of
examples per class.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet.properties import (
    encode_property,
    property_epc,
    typed_property,
)
from smartmeter_proto.echonet.specs import SUPER_CLASS, load_class, specs_dir
from smartmeter_proto.errors import DecodeError, EncodeError

MRA_DIR: Final = specs_dir() / "mra"
MRA_FILES: Final = sorted(MRA_DIR.glob("*.json"))
AIR_CONDITIONER: Final = 0x0130
COPYRIGHT: Final = "(C) 2021-2025 Kanagawa Institute of Technology, ECHONET Consortium"


def _doc(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


def _code(key: Any) -> int:
    return key if isinstance(key, int) else int(str(key), 0)


def _edts(spec: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """EDTs valid for one MRA-generated ``type:`` mapping."""
    kind = spec["kind"]
    if kind in ("signed", "unsigned"):
        size, signed = spec["size"], kind == "signed"
        bits = 8 * size
        low = spec.get("min", -(1 << (bits - 1)) if signed else 0)
        high = spec.get("max", (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1)
        raws: st.SearchStrategy[int] = (
            st.sampled_from(spec["allowed"]) if "allowed" in spec else st.integers(low, high)
        )
        specials = [_code(k) for k in spec.get("special", {})]
        if specials:
            raws = st.one_of(raws, st.sampled_from(specials))
        return raws.map(lambda r: r.to_bytes(size, "big", signed=signed))
    if kind == "enum":
        size = spec["size"] or 1
        codes = [_code(k) for k in spec["values"]]
        for low, high, _name in spec.get("ranges", ()):
            codes += [_code(low), _code(high)]
        return st.sampled_from(codes).map(lambda c: c.to_bytes(size, "big"))
    if kind == "level":
        base, size = spec["base"], spec["size"]
        return st.integers(base, base + spec["max"] - spec["min"]).map(
            lambda c: c.to_bytes(size, "big")
        )
    if kind == "bitfield":
        return st.tuples(*(_edts(f["type"]) for f in spec["fields"])).map(
            lambda parts: _pack_bits(spec, parts)
        )
    if kind == "raw":
        low = spec.get("size", spec.get("min_size", 0))
        high = spec.get("size", spec.get("max_size", 255))
        return st.binary(min_size=low, max_size=min(high, 40))
    if kind == "date":
        return st.dates().map(lambda d: d.year.to_bytes(2, "big") + bytes((d.month, d.day)))
    if kind in ("time", "time_hms"):
        return st.times().map(
            lambda t: bytes((t.hour, t.minute) if kind == "time" else (t.hour, t.minute, t.second))
        )
    if kind in ("datetime", "datetime_hm"):
        n = 6 if kind == "datetime" else 5
        return st.datetimes().map(
            lambda d: (
                d.year.to_bytes(2, "big")
                + bytes((d.month, d.day, d.hour, d.minute, d.second)[: n - 1])
            )
        )
    if kind == "struct":
        return st.tuples(*(_edts(f["type"]) for f in spec["fields"])).map(b"".join)
    if kind == "array":
        low = spec.get("count", spec.get("min_count", 0))
        high = spec.get("count", spec.get("max_count", 8))
        return st.lists(_edts(spec["of"]), min_size=low, max_size=min(high, low + 4)).map(b"".join)
    if kind == "one_of":
        return st.one_of(*(_edts(option) for option in spec["of"]))
    raise AssertionError(f"no strategy for {kind}")


def _pack_bits(spec: dict[str, Any], parts: tuple[bytes, ...]) -> bytes:
    out = bytearray(spec["size"])
    for field, part in zip(spec["fields"], parts, strict=True):
        mask = field["mask"]
        shift = (mask & -mask).bit_length() - 1
        raw = part[-1] << shift
        if raw & ~mask:  # a level or code wider than its bits: leave the bits clear
            continue
        out[field["index"]] |= raw
    return bytes(out)


def _override_epcs(class_id: int) -> set[int]:
    """EPCs a hand-written override file types (they keep their own tests)."""
    found: set[int] = set()
    for path in specs_dir().glob(f"{class_id:04X}_*.yaml"):
        found |= {int(e) for e in yaml.safe_load(path.read_text("utf-8"))["properties"]}
    return found


def _cases(path: Path) -> list[tuple[int, int, dict[str, Any]]]:
    doc = _doc(path)
    skip = _override_epcs(doc["class"]) | _override_epcs(SUPER_CLASS)
    spec = load_class(doc["class"])
    assert spec is not None
    cases = []
    for key, entry in doc["properties"].items():
        epc = int(key, 16)
        if epc not in skip:
            assert spec.properties[epc].name == entry["name"]
            cases.append((doc["class"], epc, entry["type"]))
    return cases


@pytest.mark.parametrize("path", MRA_FILES, ids=lambda p: p.stem)
def test_every_mra_class_loads_with_copyright(path: Path) -> None:
    doc = _doc(path)
    assert doc["copyright"] == COPYRIGHT
    spec = load_class(doc["class"])
    assert spec is not None
    for key in doc["properties"]:
        assert int(key, 16) in spec.properties


def test_all_classes_of_the_mra_are_there() -> None:
    ids = {_doc(p)["class"] for p in MRA_FILES}
    assert len(ids) == 57  # 55 device classes, the super class and the node profile
    assert {SUPER_CLASS, 0x0EF0, 0x05FF, AIR_CONDITIONER, 0x0288} <= ids


@pytest.mark.parametrize("path", MRA_FILES, ids=lambda p: p.stem)
def test_round_trips_every_property(path: Path) -> None:
    cases = _cases(path)
    if not cases:
        pytest.skip("every property typed by an override file")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(cases).flatmap(lambda c: st.tuples(st.just(c), _edts(c[2]))))
    def check(case: tuple[tuple[int, int, dict[str, Any]], bytes]) -> None:
        (class_id, epc, _type), edt = case
        decoded = typed_property(class_id, epc, edt)
        assert decoded.error is None, (hex(epc), edt.hex(), decoded.error)
        assert encode_property(class_id, epc, decoded.value) == edt
        again = typed_property(class_id, epc, encode_property(class_id, epc, decoded.value))
        assert again.value == decoded.value

    check()


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([_doc(p)["class"] for p in MRA_FILES]),
    st.integers(0x80, 0xFF),
    st.binary(max_size=24),
)
def test_any_bytes_give_a_value_or_a_named_error(class_id: int, epc: int, edt: bytes) -> None:
    value = typed_property(class_id, epc, edt)
    assert value.edt == edt
    if value.error is not None:
        assert isinstance(value.error, DecodeError)
        assert value.error.reason


def test_air_conditioner_is_typed() -> None:
    target = typed_property(AIR_CONDITIONER, 0xB3, b"\x19")
    assert (target.name, target.value, target.unit) == ("target_temperature", 25, "Celsius")
    assert typed_property(AIR_CONDITIONER, 0xB3, b"\xfd").value == "undefined"
    broken = typed_property(AIR_CONDITIONER, 0xB3, b"\x50")
    assert broken.value is None
    assert broken.edt == b"\x50"
    assert broken.error is not None
    assert "0..50" in broken.error.reason
    assert typed_property(AIR_CONDITIONER, 0xB0, b"\x42").value == "cooling"
    assert typed_property(AIR_CONDITIONER, 0xA0, b"\x33").value == 3  # level 3 of 8
    assert typed_property(0x05FF, 0x80, b"\x30").value == "on"  # controller: no longer unknown


def test_short_names_resolve_to_epcs() -> None:
    assert property_epc(AIR_CONDITIONER, "targetTemperature") == 0xB3
    assert property_epc(AIR_CONDITIONER, "target_temperature") == 0xB3
    assert property_epc(AIR_CONDITIONER, "operationStatus") == 0x80
    assert property_epc(0x0288, "instantaneousElectricPower") == 0xE7
    assert encode_property(AIR_CONDITIONER, "operationStatus", True) == b"\x30"
    assert encode_property(AIR_CONDITIONER, "targetTemperature", 25) == b"\x19"
    with pytest.raises(KeyError):
        property_epc(AIR_CONDITIONER, "noSuchThing")


@pytest.mark.parametrize(
    ("name", "value", "rule"),
    [
        ("targetTemperature", 51, "0..50"),
        ("targetTemperature", "warm", "expected a number"),
        ("operationMode", "turbo", "one of"),
        ("airFlowLevel", 9, "level 1..8"),
    ],
)
def test_bad_set_values_name_the_property_and_rule(name: str, value: Any, rule: str) -> None:
    with pytest.raises(EncodeError, match=rule) as caught:
        encode_property(AIR_CONDITIONER, name, value)
    assert f"(0x{property_epc(AIR_CONDITIONER, name):02X})" in str(caught.value)
