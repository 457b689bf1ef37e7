"""Release-dependent definitions (MRA ``valid_release``, EPC 0x82) and the MRA's MCRules.

Facts from specs/echonet/mra/ (ECHONET Consortium MRA v1.3.1): general lighting 0x0290
EPC 0xB1 (light colour) lists code 0xFD "undefined" from Release N on; Releases C..M
have 0x40 "other" but no 0xFD, Releases A..B neither. Storage battery 0x027D 0xDA
(operation mode) gains 0x46 "auto" in Release D. Home air conditioner 0x0130 0x8F
(power-saving operation) exists from Release D on.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.events import Notification, RequestDone
from smartmeter_proto.echonet.frame import EOJ, ESV, Frame, Property
from smartmeter_proto.echonet.properties import decode_frame_properties, typed_property
from smartmeter_proto.echonet.session import Session
from smartmeter_proto.echonet.specs import (
    RELEASES,
    SUPER_CLASS,
    known_classes,
    load_class,
    release_of,
    specs_dir,
)

LIGHTING: Final = 0x0290
LIGHT_COLOR: Final = 0xB1
UNDEFINED: Final = b"\xfd"
OTHER: Final = b"\x40"
BATTERY: Final = 0x027D
AIR_CONDITIONER: Final = 0x0130
METER: Final = 0x0288
LAMP: Final = EOJ(0x02, 0x90, 0x01)
LAMP_ADDR: Final = ("127.0.0.9", 3610)
OTHER_LAMP_ADDR: Final = ("127.0.0.10", 3610)


def _version(letter: str) -> bytes:
    """EPC 0x82 of a device object: 0x00 0x00, the release letter, revision 1."""
    return b"\x00\x00" + letter.encode("ascii") + b"\x01"


# ------------------------------------------------------------------ specs.release_of
@pytest.mark.parametrize(
    ("edt", "release"),
    [
        (_version("R"), "R"),
        (_version("H"), "H"),
        (b"\x00\x00\x41\x00", "A"),
        (b"\x01\x0e\x01\x00", None),  # a node profile's protocol version (Part II §6.11.1)
        (b"\x00\x00\x61\x00", None),  # lower case: not a release letter
        (b"\x00\x00H", None),  # 3 bytes
        (b"", None),
    ],
)
def test_release_of_reads_byte_three_of_0x82(edt: bytes, release: str | None) -> None:
    assert release_of(edt) == release


# ------------------------------------------------------------------ specs.load_class
def test_light_color_definition_follows_the_release() -> None:
    assert typed_property(LIGHTING, LIGHT_COLOR, UNDEFINED).value == "undefined"
    for release in "NR":
        assert typed_property(LIGHTING, LIGHT_COLOR, UNDEFINED, release).value == "undefined"
    for release in "CHM":
        refused = typed_property(LIGHTING, LIGHT_COLOR, UNDEFINED, release)
        assert refused.error is not None
        assert "0xFD is not listed" in refused.error.reason
        assert typed_property(LIGHTING, LIGHT_COLOR, OTHER, release).value == "other"
    oldest = typed_property(LIGHTING, LIGHT_COLOR, OTHER, "B")
    assert oldest.error is not None
    assert oldest.name == "light_color"
    assert typed_property(LIGHTING, LIGHT_COLOR, b"\x41", "A").value == "incandescent"


def test_a_release_with_the_newest_definitions_is_the_newest_class() -> None:
    newest = load_class(LIGHTING)
    assert newest is not None
    assert newest.release is None
    assert load_class(LIGHTING, "R") is newest
    assert load_class(LIGHTING, "Z") is newest  # a release newer than the data
    older = load_class(LIGHTING, "M")
    assert older is not None
    assert older is not newest
    assert older.release == "M"
    assert load_class(LIGHTING, "M") is older  # cached
    assert set(older.properties) == set(newest.properties)


def test_override_classes_take_the_older_mra_definition_under_their_names() -> None:
    newest, release_c = load_class(BATTERY), load_class(BATTERY, "C")
    assert newest is not None
    assert release_c is not None
    prop = release_c.properties[0xDA]
    assert prop.name == newest.properties[0xDA].name == "operation_mode_setting"
    assert release_c.epc("operation_mode_setting") == 0xDA
    assert newest.properties[0xDA].data_type.decode(b"\x46") == "automatic"  # override, Rel. R
    assert typed_property(BATTERY, 0xDA, b"\x46", "C").error is not None  # no auto before D
    assert typed_property(BATTERY, 0xDA, b"\x46", "D").value == "auto"  # MRA D..G
    assert typed_property(BATTERY, 0xDA, b"\x42", "C").value == "charging"


def test_properties_a_release_lacks_are_mandatory_in_none_of_it() -> None:
    newest, release_c = load_class(AIR_CONDITIONER), load_class(AIR_CONDITIONER, "C")
    assert newest is not None
    assert release_c is not None
    assert "get" in newest.properties[0x8F].mandatory
    assert release_c.properties[0x8F].mandatory == frozenset()
    assert 0x8F not in release_c.mandatory_epcs("get")
    assert (release_c.properties[0x8F].extra or {})["valid_release"]["from"] == "D"
    assert typed_property(AIR_CONDITIONER, 0x8F, b"\x41", "C").value == "power_saving"
    assert 0x80 in release_c.mandatory_epcs("get")


def test_every_class_loads_in_every_release() -> None:
    for class_id in (SUPER_CLASS, *known_classes()):
        for release in RELEASES:
            spec = load_class(class_id, release)
            assert spec is not None
            assert spec.class_id == class_id
            newest = load_class(class_id)
            assert newest is not None
            assert {p.name for p in spec.properties.values()} == {
                p.name for p in newest.properties.values()
            }


@pytest.mark.parametrize("release", ["", "r", "AB", "1", "latest"])
def test_bad_release_arguments_are_refused(release: str) -> None:
    with pytest.raises(ValueError, match="one letter"):
        load_class(LIGHTING, release)


def test_frame_properties_decode_by_release() -> None:
    props = (Property(0x80, b"\x30"), Property(LIGHT_COLOR, UNDEFINED))
    values, errors = decode_frame_properties(LIGHTING, props)
    assert [v.value for v in values] == ["on", "undefined"]
    assert errors == ()
    values, errors = decode_frame_properties(LIGHTING, props, "M")
    assert [v.value for v in values] == ["on"]
    assert [epc for epc, _ in errors] == [LIGHT_COLOR]


# ------------------------------------------------------------------ the client session
def _ask(session: Session, epcs: list[int], now: float) -> Frame:
    session.get(LAMP_ADDR, LAMP, epcs, now)
    [(data, _)] = session.datagrams_to_send()
    request = el_frame.decode(data)
    assert isinstance(request, Frame)
    return request


def _reply(request: Frame, edts: dict[int, bytes]) -> bytes:
    props = tuple(Property(p.epc, edts[p.epc]) for p in request.properties)
    return el_frame.encode(Frame(request.tid, LAMP, request.seoj, ESV.GET_RES, props))


def _values(events: list[Any]) -> dict[int, Any]:
    [done] = [e for e in events if isinstance(e, RequestDone)]
    return {epc: v.value for epc, v in done.values.items()}


def test_session_decodes_an_object_by_the_release_it_reported() -> None:
    session = Session()
    request = _ask(session, [0x82, LIGHT_COLOR], 0.0)
    events = session.receive_data(
        _reply(request, {0x82: _version("M"), LIGHT_COLOR: OTHER}), LAMP_ADDR, 0.0
    )
    assert _values(events)[LIGHT_COLOR] == "other"
    assert list(session.releases.values()) == ["M"]
    request = _ask(session, [LIGHT_COLOR], 1.0)
    done = session.receive_data(_reply(request, {LIGHT_COLOR: UNDEFINED}), LAMP_ADDR, 1.0)
    assert LIGHT_COLOR not in _values(done)  # 0xFD is not a Release M light colour
    # An announcement of the same object decodes by its release too.
    inf = Frame(9, LAMP, EOJ(0x05, 0xFF, 0x01), ESV.INF, (Property(LIGHT_COLOR, UNDEFINED),))
    [note] = session.receive_data(el_frame.encode(inf), LAMP_ADDR, 2.0)
    assert isinstance(note, Notification)
    assert note.values == ()
    # Another host's lamp has reported no release: the newest definitions.
    [note] = session.receive_data(el_frame.encode(inf), OTHER_LAMP_ADDR, 2.0)
    assert isinstance(note, Notification)
    assert [v.value for v in note.values] == ["undefined"]


def test_session_without_0x82_and_node_profile_0x82_use_the_newest() -> None:
    session = Session()
    request = _ask(session, [LIGHT_COLOR], 0.0)
    events = session.receive_data(_reply(request, {LIGHT_COLOR: UNDEFINED}), LAMP_ADDR, 0.0)
    assert _values(events)[LIGHT_COLOR] == "undefined"
    profile = EOJ(0x0E, 0xF0, 0x01)
    inf = Frame(3, profile, profile, ESV.INF, (Property(0x82, b"\x01\x0e\x01\x00"),))
    session.receive_data(el_frame.encode(inf), LAMP_ADDR, 1.0)
    assert session.releases == {}


def test_a_release_set_by_the_caller_is_used_before_0x82_is_read() -> None:
    session = Session()
    session.remember_release(LAMP_ADDR, LAMP, "H")
    with pytest.raises(ValueError, match="one letter"):
        session.remember_release(LAMP_ADDR, LAMP, "h")
    request = _ask(session, [LIGHT_COLOR], 0.0)
    events = session.receive_data(_reply(request, {LIGHT_COLOR: UNDEFINED}), LAMP_ADDR, 0.0)
    assert LIGHT_COLOR not in _values(events)


# ------------------------------------------------------------------ MCRules
def _mra(class_id: int) -> dict[str, Any]:
    path = specs_dir() / "mra" / f"{class_id:04X}.json"
    return json.loads(path.read_text("utf-8"))  # type: ignore[no-any-return]


def test_mcrules_are_kept_as_web_api_rules_and_not_applied() -> None:
    """MCRules convert the MRA to Web API Device Descriptions (MRA release note V1.0.0)."""
    meter_doc = _mra(METER)
    assert meter_doc["mc_rules"]["source"] == "MCRules/0x0288_mcrule.json"
    assert "Web API" in meter_doc["mc_rules"]["use"]
    assert meter_doc["copyright"] == (
        "(C) 2021-2025 Kanagawa Institute of Technology, ECHONET Consortium"
    )
    meter = load_class(METER)
    assert meter is not None
    # Deleted from the Web API, mandatory on the wire (digits, unit, day of history).
    for epc in (0xD7, 0xE1, 0xE5):
        assert meter_doc["properties"][f"0x{epc:02X}"]["mc_rule"] == {"action": "DEL"}
        assert epc in meter.properties
        assert "get" in meter.properties[epc].mandatory
    # The Web API's shape of a level (1..8) is not the EDT (0x31..0x38).
    shutter_rule = _mra(0x0263)["properties"]["0xED"]["mc_rule"]
    assert "data" in shutter_rule
    assert typed_property(0x0263, 0xED, b"\x31").value == 1
    assert typed_property(0x0263, 0xED, b"\x01").error is not None
    # The Web API's minutes are the wire's hours and minutes.
    assert "data" in _mra(AIR_CONDITIONER)["properties"]["0x92"]["mc_rule"]
    assert typed_property(AIR_CONDITIONER, 0x92, b"\x01\x1e").value == {
        "hours": 1,
        "minutes": 30,
    }
