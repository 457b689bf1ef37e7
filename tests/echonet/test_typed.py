"""decode_typed: the compiled-shape path and the general path give identical results."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.echonet import typed
from smartmeter_proto.echonet.properties import PropertyValue, decode_property
from smartmeter_proto.errors import DecodeError

VECTORS = Path(__file__).parent.parent / "vectors" / "echonet"


def _vectors() -> list[bytes]:
    frames = []
    for path in sorted(VECTORS.glob("*.hex")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                frames.append(bytes.fromhex(line.split()[-1]))
    return frames


def _comparable(result: typed.TypedFrame) -> typed.TypedFrame:
    # DecodeError compares by identity: compare the errors by their text.
    return result._replace(errors=tuple((epc, str(err)) for epc, err in result.errors))


def _general(data: bytes) -> typed.TypedFrame:
    typed._SHAPES.clear()
    typed._last[0] = typed._last[-1]
    return _comparable(typed._general(data))


def test_every_vector_decodes_the_same_twice_and_matches_the_general_path() -> None:
    checked = 0
    for data in _vectors():
        try:
            decoded = fr.decode(data)
        except DecodeError:
            continue  # vectors of malformed frames
        if not isinstance(decoded, fr.Frame):
            continue
        first = _comparable(typed.decode_typed(data))
        second = _comparable(typed.decode_typed(data))  # compiles the shape (second sighting)
        third = _comparable(typed.decode_typed(data))  # the compiled shape, where one was made
        assert first == second == third == _general(data)
        assert first.frame().properties == tuple(
            p if not p.edt else first.frame().properties[i]
            for i, p in enumerate(decoded.properties)
        )
        checked += 1
    assert checked >= 10


def test_values_are_the_property_codec_values() -> None:
    data = bytes.fromhex("1081000102880105FF017203E70400000228E8040012FFECD30400000001")
    for _ in range(3):  # general, general and compile, compiled shape
        result = typed.decode_typed(data)
        assert result.values[0] == 0x228
        assert result.value(0xE8) == decode_property(0x0288, 0xE8, bytes.fromhex("0012FFEC")).value
        assert result.value(0xD3) == 1
        props = result.frame().properties
        assert all(isinstance(p, PropertyValue) for p in props)
        assert [p.name for p in props] == [
            "instantaneous_power",
            "instantaneous_current",
            "coefficient",
        ]


def test_special_codes_and_bad_edts_leave_the_fast_path_safely() -> None:
    good = bytes.fromhex("1081000102880105FF017201E70400000228")
    no_data = bytes.fromhex("1081000102880105FF017201E7047FFFFFFE")
    for _ in range(2):
        assert typed.decode_typed(good).values == (0x228,)
        assert typed.decode_typed(no_data).values == (None,)


def test_setget_with_empty_get_list_decodes_every_time() -> None:
    # A SetGet with OPCSet 0 and OPCGet 0: the OPCGet count byte is part of the frame
    # (found by fuzz/echonet_typed).
    data = bytes.fromhex("1081000105ff010288016e0000")
    for _ in range(3):
        assert typed.decode_typed(data).esv is fr.ESV.SETGET


frames = st.builds(
    lambda tid, epcs_edts: fr.encode(
        fr.Frame(
            tid,
            fr.EOJ(2, 0x88, 1),
            fr.EOJ(5, 0xFF, 1),
            fr.ESV.GET_RES,
            tuple(fr.Property(e, d) for e, d in epcs_edts),
        )
    ),
    st.integers(0, 0xFFFF),
    st.lists(
        st.tuples(
            st.sampled_from([0xE0, 0xE3, 0xE7, 0xD3, 0xD7, 0xE1, 0xE8, 0x80]),
            st.binary(min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=4,
    ),
)


@settings(max_examples=300, deadline=None)
@given(frames, st.binary(max_size=4))
def test_fast_path_equals_general_path_or_both_raise(data: bytes, noise: bytes) -> None:
    for candidate in (data, data[:-1] + noise if noise else data):
        try:
            expected = _general(candidate)
        except DecodeError:
            expected = None
        for _ in range(2):
            try:
                got = _comparable(typed.decode_typed(candidate))
            except DecodeError:
                got = None
            assert got == expected
