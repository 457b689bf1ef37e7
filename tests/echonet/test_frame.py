"""ECHONET Lite frame codec (``smartmeter_proto.echonet.frame``).

Real frames live in ``tests/vectors/echonet/*.hex``; each file names its source. Generated
frames cover every ESV (the SetGet family with its two lists) and format 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet.frame import (
    EOJ,
    ESV,
    LAYER,
    ArbitraryFrame,
    Frame,
    Property,
    decode,
    encode,
)
from smartmeter_proto.errors import DecodeError, EncodeError

VECTORS: Final = Path(__file__).resolve().parents[1] / "vectors" / "echonet"
METER: Final = EOJ(0x02, 0x88, 0x01)
CONTROLLER: Final = EOJ(0x05, 0xFF, 0x01)
NODE_PROFILE: Final = EOJ(0x0E, 0xF0, 0x01)
SETGET_FAMILY: Final = (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA)


def load_vectors() -> dict[str, tuple[str, bytes]]:
    """``name -> (file, bytes)`` for every frame of every vector file."""
    found: dict[str, tuple[str, bytes]] = {}
    for path in sorted(VECTORS.glob("*.hex")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, hex_text = line.partition(" ")
            key = f"{path.stem}:{name}"
            assert key not in found, f"duplicate vector {key}"
            found[key] = (path.name, bytes.fromhex(hex_text.replace(" ", "")))
    return found


ALL_VECTORS: Final = load_vectors()
GOOD: Final = sorted(k for k in ALL_VECTORS if ":malformed_" not in k)
MALFORMED: Final = sorted(k for k in ALL_VECTORS if ":malformed_" in k)


def _frame(key: str) -> Frame:
    decoded = decode(ALL_VECTORS[key][1])
    assert isinstance(decoded, Frame)
    return decoded


# --- real frames ----------------------------------------------------------------------------


def test_vector_files_are_present() -> None:
    assert len(GOOD) >= 30
    assert len(MALFORMED) >= 4


@pytest.mark.parametrize("key", GOOD)
def test_real_frames_round_trip(key: str) -> None:
    data = ALL_VECTORS[key][1]
    decoded = decode(data)
    assert encode(decoded) == data
    assert decode(encode(decoded)) == decoded


@pytest.mark.parametrize("key", MALFORMED)
def test_malformed_real_frames_are_refused(key: str) -> None:
    data = ALL_VECTORS[key][1]
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.layer == LAYER
    assert 0 <= info.value.offset <= len(data)


def test_b_route_get_and_answer() -> None:
    request = _frame("b_route_nerves_qiita:get_e7")
    assert request.tid == 0x5253
    assert (request.seoj, request.deoj, request.esv) == (CONTROLLER, METER, ESV.GET)
    assert request.properties == (Property(0xE7),)
    answer = _frame("b_route_nerves_qiita:get_res_e7")
    assert answer.tid == request.tid
    assert (answer.seoj, answer.deoj, answer.esv) == (METER, CONTROLLER, ESV.GET_RES)
    assert answer.properties == (Property(0xE7, bytes.fromhex("000000E4")),)
    assert answer.get_properties == ()


def test_b_route_periodic_inf_has_two_properties() -> None:
    inf = _frame("b_route_nerves_qiita:inf_ea_eb")
    assert inf.esv is ESV.INF
    assert inf.tid == 1
    assert inf.epcs == (0xEA, 0xEB)
    assert [p.pdc for p in inf.properties] == [11, 11]


def test_instance_list_notification() -> None:
    inf = _frame("b_route_nerves_qiita:instance_list_inf")
    assert (inf.tid, inf.seoj, inf.deoj, inf.esv) == (0, NODE_PROFILE, NODE_PROFILE, ESV.INF)
    assert inf.properties == (Property(0xD5, bytes.fromhex("01028801")),)
    # The same notification, captured by a second, independent source.
    assert ALL_VECTORS["b_route_home_meter:inf_d5"][1] == encode(inf)


def test_get_sna_carries_pdc_zero() -> None:
    sna = _frame("b_route_home_meter:get_sna_83")
    assert sna.esv is ESV.GET_SNA
    assert sna.esv.is_sna
    assert not sna.esv.is_request
    assert sna.properties == (Property(0x83),)


def test_long_edt_and_bitmap_map() -> None:
    history = _frame("b_route_home_meter:get_res_e2")
    assert history.properties[0].pdc == 194
    get_map = _frame("b_route_home_meter:get_res_9f")
    assert get_map.properties[0].pdc == 17


def test_lan_frames() -> None:
    get = _frame("lan_go_echonetlite_test:get_d6_from_controller")
    assert (get.tid, get.esv, get.epcs) == (0x39, ESV.GET, (0xD6,))
    on = _frame("lan_go_echonetlite_test:aircon_inf_80_on")
    assert on.seoj == EOJ(0x01, 0x30, 0x01)
    assert on.properties == (Property(0x80, b"\x30"),)


def test_seti_from_a_switch() -> None:
    seti = _frame("seti_blog_nimokichi:seti_light_on")
    assert (seti.seoj, seti.deoj) == (EOJ(0x05, 0xFD, 0x01), EOJ(0x02, 0x90, 0x01))
    assert seti.esv is ESV.SETI
    assert seti.esv.is_request
    assert seti.properties == (Property(0x80, b"\x30"),)


@pytest.mark.parametrize("name", ["setget", "setget_res", "setget_sna"])
def test_setget_family_has_two_lists(name: str) -> None:
    frame = _frame(f"smdn_setget_edata:{name}")
    assert frame.esv in SETGET_FAMILY
    assert frame.properties == (Property(0x10, b"\x11"), Property(0x20, b"\x21\x22"))
    assert frame.get_properties == (
        Property(0x30, b"\x31\x32\x33"),
        Property(0x40, b"\x41\x42\x43\x44"),
    )


def test_setget_sna_with_one_empty_list() -> None:
    no_set = _frame("smdn_setget_edata:setget_sna_no_set")
    assert no_set.properties == ()
    assert no_set.get_properties == (Property(0x30, b"\x31\x32\x33"),)
    no_get = _frame("smdn_setget_edata:setget_sna_no_get")
    assert no_get.properties == (Property(0x10, b"\x11"),)
    assert no_get.get_properties == ()


@pytest.mark.parametrize(
    ("name", "edata"),
    [
        ("smdn_setget_edata:arbitrary_empty", b""),
        ("smdn_setget_edata:arbitrary_2", b"\x00\x01"),
        ("el_js_unit_tests:arbitrary_format", bytes.fromhex("0EF0010EF001620180")),
    ],
)
def test_format_2_keeps_edata_opaque(name: str, edata: bytes) -> None:
    decoded = decode(ALL_VECTORS[name][1])
    assert isinstance(decoded, ArbitraryFrame)
    assert decoded.edata == edata


def test_the_same_edata_without_the_setget_rule_is_trailing_garbage() -> None:
    # 0x62 (Get) with the SetGet body: the OPCGet list is left over after OPC.
    data = bytearray(ALL_VECTORS["smdn_setget_edata:setget"][1])
    data[10] = ESV.GET
    with pytest.raises(DecodeError) as info:
        decode(bytes(data))
    assert info.value.offset == 12 + 3 + 4  # after OPC, EPC 0x10 (1 byte), EPC 0x20 (2 bytes)


# --- errors, with their offsets -------------------------------------------------------------

GET_RES_E7: Final = bytes.fromhex("1081525302880105FF017201E704000000E4")


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"", 0),
        (b"\x10\x81\x00", 3),
        (bytes.fromhex("1181000102880105FF017201E70400000001"), 0),  # EHD1
        (bytes.fromhex("1080000102880105FF017201E70400000001"), 1),  # EHD2
        (bytes.fromhex("1081000102880105FF0172"), 11),  # no OPC
        (bytes.fromhex("1081000102880105FF017201E7"), 12),  # EPC without PDC
        (bytes.fromhex("1081000102880105FF017201E7040000"), 13),  # PDC 4, 2 bytes left
        (bytes.fromhex("1081000102880105FF0172000000"), 12),  # OPC 0 and 2 spare bytes
    ],
)
def test_malformed_frames_name_their_offset(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.layer == LAYER
    assert info.value.offset == offset


def test_unknown_esv_is_kept_unless_strict() -> None:
    data = bytearray(GET_RES_E7)
    data[10] = 0x99
    decoded = decode(bytes(data))
    assert isinstance(decoded, Frame)
    assert decoded.esv == 0x99
    assert not isinstance(decoded.esv, ESV)
    assert encode(decoded) == bytes(data)
    with pytest.raises(DecodeError) as info:
        decode(bytes(data), strict=True)
    assert info.value.offset == 10


def test_decode_accepts_buffers() -> None:
    assert decode(bytearray(GET_RES_E7)) == decode(memoryview(GET_RES_E7)) == decode(GET_RES_E7)


def test_encode_refuses_other_objects() -> None:
    with pytest.raises(EncodeError):
        encode(b"\x10\x81")  # type: ignore[arg-type]


# --- value objects --------------------------------------------------------------------------


def test_eoj_forms() -> None:
    assert EOJ.from_int(0x028801) == EOJ.parse("028801") == EOJ.parse("0x02-88-01") == METER
    assert int(METER) == 0x028801
    assert str(METER) == "028801"
    assert METER.class_id == 0x0288
    assert METER.to_bytes() == b"\x02\x88\x01"
    for bad in (-1, 0x1000000):
        with pytest.raises(ValueError, match="EOJ"):
            EOJ.from_int(bad)
    with pytest.raises(ValueError, match="6 hex digits"):
        EOJ.parse("0288")
    with pytest.raises(ValueError, match="instance"):
        EOJ(2, 0x88, 256)


def test_frame_and_property_validate_on_construction() -> None:
    with pytest.raises(ValueError, match="EPC"):
        Property(0x100)
    with pytest.raises(ValueError, match="PDC"):
        Property(0x80, bytes(256))
    assert Property(0x80, bytes(255)).pdc == 255
    with pytest.raises(ValueError, match="TID"):
        Frame(0x10000, CONTROLLER, METER, ESV.GET)
    with pytest.raises(ValueError, match="ESV"):
        Frame(1, CONTROLLER, METER, 0x100)
    with pytest.raises(ValueError, match="properties"):
        Frame(1, CONTROLLER, METER, ESV.GET, tuple(Property(0x80) for _ in range(256)))
    with pytest.raises(ValueError, match="SetGet"):
        Frame(1, CONTROLLER, METER, ESV.GET, (), (Property(0x80),))
    with pytest.raises(ValueError, match="TID"):
        ArbitraryFrame(-1, b"")


def test_esv_classification() -> None:
    requests = {e for e in ESV if e.is_request}
    assert requests == {ESV.SETI, ESV.SETC, ESV.GET, ESV.INF_REQ, ESV.SETGET}
    snas = {e for e in ESV if e.is_sna}
    assert snas == {ESV.SETI_SNA, ESV.SETC_SNA, ESV.GET_SNA, ESV.INF_SNA, ESV.SETGET_SNA}
    # An SNA is its request's code minus 0x10 (Part II Tables 3-9/3-10).
    assert {e + 0x10 for e in snas} == {int(e) for e in requests}


def test_setget_with_empty_get_list_still_writes_opcget() -> None:
    frame = Frame(7, CONTROLLER, METER, ESV.SETGET, (Property(0xE5, b"\x01"),))
    data = encode(frame)
    assert data.endswith(bytes.fromhex("6E01E5010100"))
    assert decode(data) == frame


# --- generated frames -----------------------------------------------------------------------

eojs = st.builds(EOJ, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
props = st.builds(Property, st.integers(0, 255), st.binary(max_size=20))
prop_lists = st.lists(props, max_size=6).map(tuple)
esvs = st.one_of(st.sampled_from(list(ESV)), st.integers(0, 255))


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    esv = draw(esvs)
    gets = draw(prop_lists) if esv in SETGET_FAMILY else ()
    return Frame(draw(st.integers(0, 0xFFFF)), draw(eojs), draw(eojs), esv, draw(prop_lists), gets)


arbitrary_frames = st.builds(ArbitraryFrame, st.integers(0, 0xFFFF), st.binary(max_size=40))
any_frames = st.one_of(frames(), arbitrary_frames)


@settings(max_examples=300, deadline=None)
@given(any_frames)
def test_generated_frames_round_trip(frame: Frame | ArbitraryFrame) -> None:
    data = encode(frame)
    decoded = decode(data)
    assert decoded == frame
    assert encode(decoded) == data


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SETGET_FAMILY), prop_lists, prop_lists)
def test_every_setget_service_keeps_both_lists(
    esv: ESV, sets: tuple[Property, ...], gets: tuple[Property, ...]
) -> None:
    frame = Frame(1, CONTROLLER, METER, esv, sets, gets)
    decoded = decode(encode(frame))
    assert isinstance(decoded, Frame)
    assert (decoded.properties, decoded.get_properties) == (sets, gets)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
@example(b"\x10\x81" + bytes(10))
@example(b"\x10\x82")
@example(bytes.fromhex("1081000102880105FF01FF"))
@example(bytes.fromhex("1081000102880105FF016E01E70100"))
def test_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    error: DecodeError | None = None
    try:
        decoded = decode(data)
    except DecodeError as exc:
        error = exc
    if error is not None:
        assert error.layer == LAYER
        assert 0 <= error.offset <= len(data)
        return
    assert isinstance(decoded, Frame | ArbitraryFrame)
    assert encode(decoded) == data
    strict_error: DecodeError | None = None
    try:
        assert decode(data, strict=True) == decoded
    except DecodeError as exc:
        strict_error = exc
    if strict_error is not None:  # only an ESV the specification does not define
        assert isinstance(decoded, Frame)
        assert not isinstance(decoded.esv, ESV)
        assert strict_error.offset == 10


@settings(max_examples=80, deadline=None)
@given(frames())
def test_every_truncation_is_a_decode_error(frame: Frame) -> None:
    data = encode(frame)
    for cut in range(len(data)):
        with pytest.raises(DecodeError) as info:
            decode(data[:cut])
        assert 0 <= info.value.offset <= cut


@settings(max_examples=80, deadline=None)
@given(frames(), st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_a_decode_error(frame: Frame, extra: bytes) -> None:
    data = encode(frame)
    with pytest.raises(DecodeError) as info:
        decode(data + extra)
    assert info.value.offset == len(data)


@st.composite
def lying_pdc(draw: st.DrawFn) -> tuple[bytes, int]:
    """A frame with one property whose PDC claims more bytes than the frame holds."""
    frame = draw(frames().filter(lambda f: bool(f.properties or f.get_properties)))
    data = bytearray(encode(frame))
    offsets: list[int] = []
    at = 11
    lists = [frame.properties]
    if frame.esv in SETGET_FAMILY:
        lists.append(frame.get_properties)
    for plist in lists:
        at += 1  # OPC / OPCGet
        for prop in plist:
            offsets.append(at + 1)
            at += 2 + prop.pdc
    pdc_at = draw(st.sampled_from(offsets))
    remaining = len(data) - pdc_at - 1
    assume(remaining < 255)  # a PDC of 255 that fits would not be a lie
    data[pdc_at] = draw(st.integers(remaining + 1, 255))
    return bytes(data), pdc_at


@settings(max_examples=150, deadline=None)
@given(lying_pdc())
def test_a_lying_pdc_names_its_own_offset(case: tuple[bytes, int]) -> None:
    data, pdc_at = case
    with pytest.raises(DecodeError) as info:
        decode(data)
    # Every property before the lie is intact, so the error is at the lying PDC itself.
    assert info.value.offset == pdc_at
    assert "PDC" in info.value.reason
