"""decode_typed's three paths (compiled shape, one pass, general) give identical results."""

from __future__ import annotations

import array
import datetime as dt_
import gc
import pickle
import tracemalloc
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.echonet import datatypes, typed
from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.echonet.compiled import shape_decoder
from smartmeter_proto.echonet.properties import lookup
from smartmeter_proto.echonet.specs import SUPER_CLASS, known_classes, load_class
from smartmeter_proto.errors import DecodeError

CONTROLLER = fr.EOJ(5, 0xFF, 1)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    typed._SHAPES.clear()
    typed._SIGHTED.clear()
    yield
    typed._SHAPES.clear()
    typed._SIGHTED.clear()


def _comparable(result: typed.TypedFrame) -> typed.TypedFrame:
    # DecodeError compares by identity: compare the errors by what they say.
    return result._replace(
        errors=tuple((epc, (err.layer, err.offset, err.reason)) for epc, err in result.errors)
    )


def _outcome(decode: object, data: bytes) -> object:
    try:
        return _comparable(decode(data))  # type: ignore[operator]
    except DecodeError as exc:
        return ("raises", exc.layer, exc.offset, exc.reason)


def _check_paths(data: bytes) -> object:
    """Decode ``data`` by every path: the general one, then three times (one pass, one pass
    and compile at the second sighting, compiled); all must agree."""
    expected = _outcome(typed._general, data)
    got = [_outcome(typed.decode_typed, data) for _ in range(3)]
    assert got == [expected] * 3
    return expected


def _frame(seoj: fr.EOJ, props: list[tuple[int, bytes]], esv: int = fr.ESV.GET_RES) -> bytes:
    deoj = CONTROLLER
    if fr.ESV(esv).is_request:
        seoj, deoj = CONTROLLER, seoj
    return fr.encode(fr.Frame(7, seoj, deoj, esv, tuple(fr.Property(e, d) for e, d in props)))


def _fixed_size_properties() -> list[tuple[int, int, int]]:
    """(class, EPC, size) of every fixed-size property of every class file."""
    out = []
    for class_id in (SUPER_CLASS, *known_classes()):
        spec = load_class(class_id)
        assert spec is not None
        for epc, prop in sorted(spec.properties.items()):
            size = prop.data_type.size
            if isinstance(size, int) and 0 < size < 256:
                out.append((class_id, epc, size))
    return out


PROPERTIES = _fixed_size_properties()


def test_every_fixed_size_property_types_alike_on_every_path() -> None:
    """Each class's properties with edge EDTs (zeros, ones, 0x7F.., a byte short)."""
    checked = errors = 0
    for class_id, epc, size in PROPERTIES:
        seoj = fr.EOJ(class_id >> 8, class_id & 0xFF, 1) if class_id else fr.EOJ(0x02, 0x99, 1)
        for edt in (bytes(size), b"\xff" * size, b"\x7f" + b"\xff" * (size - 1), b"\x01" * size):
            data = _frame(seoj, [(epc, edt)])
            result = _check_paths(data)
            assert isinstance(result, typed.TypedFrame)
            errors += bool(result.errors)
            checked += 1
        _check_paths(_frame(seoj, [(epc, bytes(size + 1))]))  # a wrong size
    assert checked > 1000
    assert 0 < errors < checked  # both outcomes exercised


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(PROPERTIES),
    st.lists(st.tuples(st.sampled_from(PROPERTIES), st.binary(max_size=12)), max_size=5),
    st.data(),
    st.sampled_from([fr.ESV.GET_RES, fr.ESV.INF, fr.ESV.SETC, fr.ESV.GET_SNA, 0x7F]),
)
def test_random_edts_of_random_properties_agree(
    first: tuple[int, int, int],
    others: list[tuple[tuple[int, int, int], bytes]],
    data: st.DataObject,
    esv: int,
) -> None:
    class_id, epc, size = first
    seoj = fr.EOJ(class_id >> 8, class_id & 0xFF, 1)
    props = [(epc, data.draw(st.binary(min_size=size, max_size=size)))]
    props += [(other[1], edt) for other, edt in others]
    encoded = (
        _frame(seoj, props, esv)
        if esv != 0x7F
        else _frame(seoj, props)[:10] + bytes((0x7F,)) + _frame(seoj, props)[11:]
    )
    _check_paths(encoded)
    # The same skeleton with other EDT values, through the now compiled shape.
    again = [(e, data.draw(st.binary(min_size=len(d), max_size=len(d)))) for e, d in props]
    _check_paths(_frame(seoj, again, esv) if esv != 0x7F else encoded)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=48), st.sampled_from([b"", b"\x10\x81\x00\x01\x02\x88\x01\x05\xff\x01"]))
def test_random_bytes_agree_or_raise_alike(tail: bytes, head: bytes) -> None:
    _check_paths(head + tail)


def test_a_compiled_shape_hands_over_when_an_edt_breaks() -> None:
    meter = fr.EOJ(2, 0x88, 1)
    good = _frame(meter, [(0xE7, b"\x00\x00\x01\xf4"), (0x80, b"\x30")])
    for _ in range(2):
        typed.decode_typed(good)
    assert len(typed._SHAPES) == 1
    bad = _frame(meter, [(0xE7, b"\x00\x00\x01\xf4"), (0x80, b"\x99")])  # not a listed status
    special = _frame(meter, [(0xE7, b"\x7f\xff\xff\xfe"), (0x80, b"\x31")])  # no data
    wrong_ehd = b"\x10\x82" + good[2:]
    for data in (bad, special, good, wrong_ehd):
        _check_paths(data)


def test_shapes_added_later_do_not_lose_the_used_ones() -> None:
    """Adding a shape empties by_header: the shapes in use are found again by skeleton."""
    meter = fr.EOJ(2, 0x88, 1)
    hot = _frame(meter, [(0xE7, b"\x00\x00\x01\xf4")])
    typed.decode_typed(hot)
    typed.decode_typed(hot)
    other = _frame(meter, [(0xE0, b"\x00\x00\x00\x01")])
    typed.decode_typed(other)
    typed.decode_typed(other)  # compiled: by_header emptied, then holds this one
    assert list(typed._BY_HEADER) == [other[4:14]]
    assert typed.decode_typed(hot).values == (500,)
    assert set(typed._BY_HEADER) == {other[4:14], hot[4:14]}
    newest = list(typed._SHAPES.values())[-1]
    assert newest.skeleton_key == hot[4:12] + bytes((0xE7, 4))  # most recent again


def test_the_header_cache_evicts_in_batches_within_its_limit() -> None:
    typed._HEADS.clear()
    for index in range(3 * typed._HEADS_LIMIT):
        seoj = fr.EOJ(0x02, 0x88, index & 0xFF)
        typed.decode_typed(_frame(fr.EOJ(seoj.class_group, index >> 8, index & 0xFF), []))
        assert len(typed._HEADS) <= typed._HEADS_LIMIT


def test_the_quick_decode_error_is_the_decode_error() -> None:
    quick = datatypes._fail("enum: code 0x99 is not listed", 3)
    made = DecodeError(datatypes.LAYER, 3, "enum: code 0x99 is not listed")
    assert type(quick) is DecodeError
    assert quick.args == made.args == (datatypes.LAYER, 3, "enum: code 0x99 is not listed")
    assert (quick.layer, quick.offset, quick.reason) == (made.layer, made.offset, made.reason)
    assert (
        str(quick)
        == str(made)
        == "echonet-property: enum: code 0x99 is not listed (at byte offset 3)"
    )
    assert repr(quick) == repr(made)
    assert pickle.loads(pickle.dumps(quick)).args == made.args
    with pytest.raises(DecodeError, match="not listed"):
        raise quick


def test_generated_decoders_reject_a_layout_of_another_size() -> None:
    with pytest.raises(ValueError, match="laid out"):
        shape_decoder(20, ((0xE7, 4, None),), typed.TypedFrame, (), ())


def _inline_properties() -> list[tuple[int, int, int]]:
    """(class, EPC, size) of the fixed-size properties a compiled shape reads inline as a
    struct of fields or a date/time (0x0288 0xEA, 0xE8...)."""
    out = []
    for class_id, epc, size in PROPERTIES:
        spec = load_class(class_id)
        assert spec is not None
        data_type = spec.properties[epc].data_type
        if data_type.fields is not None or data_type.calendar is not None:
            out.append((class_id, epc, size))
    return out


INLINE = _inline_properties()


def _seed_edt(class_id: int, epc: int, size: int) -> bytes | None:
    """An EDT of the property that decodes without error (so its shape gets compiled)."""
    seoj = fr.EOJ(class_id >> 8, class_id & 0xFF, 1) if class_id else fr.EOJ(0x02, 0x99, 1)
    date = b"\x07\xea\x01\x1c\x17\x1e\x00"  # 2026-01-28 23:30:00
    for edt in (b"\xff" * size, bytes(size), b"\x01" * size, (date * 2)[:size]):
        if not typed._general(_frame(seoj, [(epc, edt)])).errors:
            return edt
    return None


def test_inline_kinds_are_met() -> None:
    kinds = {
        (dt.fields is not None, dt.calendar is not None)
        for class_id, epc, _ in INLINE
        if (spec := load_class(class_id)) is not None
        for dt in (spec.properties[epc].data_type,)
    }
    assert kinds == {(True, False), (False, True)}
    assert (0x0288, 0xEA, 11) in INLINE


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(INLINE),
    st.lists(
        st.one_of(
            st.binary(min_size=11, max_size=11),
            st.datetimes().map(
                lambda d: (
                    d.year.to_bytes(2, "big") + bytes((d.month, d.day, d.hour, d.minute, d.second))
                )
            ),
            st.just(b"\xff" * 11),
        ),
        min_size=1,
        max_size=4,
    ),
    st.binary(min_size=4, max_size=4),
)
def test_inline_structs_and_calendars_agree_on_every_path(
    prop: tuple[int, int, int], fills: list[bytes], tail: bytes
) -> None:
    """A compiled shape reading a struct or a date/time inline gives what the general path
    gives, for valid, unset (all 0xFF) and impossible dates alike."""
    class_id, epc, size = prop
    seed = _seed_edt(class_id, epc, size)
    if seed is None:
        return
    seoj = fr.EOJ(class_id >> 8, class_id & 0xFF, 1) if class_id else fr.EOJ(0x02, 0x99, 1)
    _check_paths(_frame(seoj, [(epc, seed)]))  # the second sighting compiles the shape
    assert typed._BY_HEADER.get(_frame(seoj, [(epc, seed)])[4:14]) is not None
    for fill in fills:
        edt = (fill + tail + fill)[:size]
        _check_paths(_frame(seoj, [(epc, edt)]))


def test_the_fixed_time_reading_is_built_inside_its_shape() -> None:
    meter, node = fr.EOJ(2, 0x88, 1), fr.EOJ(0x0E, 0xF0, 1)

    def inf(edt: bytes) -> bytes:
        return fr.encode(fr.Frame(1, meter, node, fr.ESV.INF, (fr.Property(0xEA, edt),)))

    good = inf(b"\x07\xea\x01\x1c\x17\x1e\x00\x00\x01\x23\x45")
    for _ in range(2):
        typed.decode_typed(good)
    decode = typed._BY_HEADER[good[4:14]]
    # No decoder called: the generated names of decoders are D<n>.
    assert not [name for name in decode.__globals__ if name[0] == "D" and name[1:].isdigit()]
    value = typed.decode_typed(good).values[0]
    assert value == {"timestamp": dt_.datetime(2026, 1, 28, 23, 30), "energy": 0x12345}
    assert list(value) == ["timestamp", "energy"]
    for edt in (
        b"\xff" * 7 + b"\x00\x00\x00\x01",  # not set yet: None
        b"\x07\xea\x0d\x1c\x17\x1e\x00\x00\x00\x00\x01",  # month 13: the error
        b"\x07\xea\x01\x1c\x17\x1e\x00\xff\xff\xff\xfe",  # no data
    ):
        _check_paths(inf(edt))


def test_wrong_size_errors_are_fresh_and_those_of_decode() -> None:
    checked = 0
    for class_id, epc, size in PROPERTIES[::7]:
        spec = load_class(class_id)
        assert spec is not None
        data_type = spec.properties[epc].data_type
        wrong_size = datatypes.size_error_maker(data_type)
        assert wrong_size is not None
        for pdc in (0, 1, size + 1, 255):
            if pdc == size:
                continue
            made, again = wrong_size(pdc), wrong_size(pdc)
            expected = datatypes.size_error(data_type, pdc)
            assert expected is not None
            with pytest.raises(DecodeError) as raised:
                data_type.decode(bytes(pdc))
            for error in (made, again, raised.value):
                assert type(error) is DecodeError
                assert error.args == expected.args
                assert str(error) == str(expected)
            assert made is not again
            checked += 1
    assert checked > 100
    assert len(datatypes._SIZE_ERRORS) <= datatypes._SIZE_ERROR_LIMIT


def test_a_shape_decoder_hands_other_frames_to_its_fallback() -> None:
    handed: list[bytes] = []

    def fallback(data: bytes) -> str:
        handed.append(data)
        return "fallback"

    shape = ((0xE7, 4, None),)
    tail = ((), (), (), (), 0x0288)
    decode = shape_decoder(18, shape, typed.TypedFrame, (1, 2, 3, (0xE7,)), tail, fallback)
    good = bytes.fromhex("1081000102880105ff017201e70400000228")
    assert decode(good)[5:7] == ((b"\x00\x00\x02\x28",), (b"\x00\x00\x02\x28",))
    for other in (good[:-1], good + b"\x00", b"\x10\x82" + good[2:]):
        assert decode(other) == "fallback"
    assert handed == [good[:-1], good + b"\x00", b"\x10\x82" + good[2:]]
    assert shape_decoder(18, shape, typed.TypedFrame, (), ())(good[:-1]) is None  # no fallback


def _growth(call: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        call()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_plans_and_wrong_size_texts_stay_within_their_budgets() -> None:
    owners = (SUPER_CLASS, *known_classes())
    for class_id in owners:
        for epc in range(256):
            lookup(class_id, epc)  # the class files are loaded once, not per input
    typed._PLANS.clear()
    datatypes._SIZE_ERRORS.clear()

    def fill_plans() -> None:
        for class_id in owners:
            plans = typed._plans(class_id)
            for epc in range(256):
                typed._plan(plans, class_id, epc)

    grown = _growth(fill_plans)
    assert len(typed._PLANS) <= len(owners)
    assert grown <= len(typed._PLANS) * typed._PLANS_OWNER_BUDGET
    fixed = [plan for _, plans in typed._PLANS.values() for plan in plans.values() if plan]
    makers = {plan[2] for plan in fixed if plan[0] >= 0}
    assert len(makers) == len(datatypes._MAKERS)  # shared by the types of one label and size

    def fill_texts() -> None:
        for pdc in range(256):
            for wrong_size in makers:
                wrong_size(pdc)

    grown = _growth(fill_texts)
    assert len(datatypes._SIZE_ERRORS) == datatypes._SIZE_ERROR_LIMIT
    assert grown <= datatypes._SIZE_ERROR_BUDGET


def _read_whole(data_type: datatypes.DataType, edt: bytes) -> object:
    """What ``DataType.decode`` gave before ``whole``: size check, ``read``, trailing check."""
    try:
        if data_type.size is not None and len(edt) != data_type.size:
            raise datatypes._fail(
                f"{data_type.kind}: EDT is {len(edt)} bytes, expected {data_type.size}", 0
            )
        value, end = data_type.read(edt, 0)
        if end != len(edt):
            raise datatypes._fail(f"{data_type.kind}: {len(edt) - end} trailing bytes in EDT", end)
    except DecodeError as exc:
        return ("raises", vars(exc))
    return value


def _whole_types(kinds: frozenset[str]) -> list[datatypes.DataType]:
    found = {}
    for class_id in (SUPER_CLASS, *known_classes()):
        spec = load_class(class_id)
        assert spec is not None
        for prop in spec.properties.values():
            if prop.data_type.kind in kinds:
                found[(prop.data_type.kind, prop.data_type.size, prop.data_type.max_size)] = (
                    prop.data_type
                )
    return list(found.values())


RAW_AND_MAPS = _whole_types(frozenset({"raw", "property_map"}))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(RAW_AND_MAPS), st.binary(max_size=40))
def test_raw_and_property_map_whole_decoders_read_as_read_does(
    data_type: datatypes.DataType, edt: bytes
) -> None:
    whole = data_type.whole
    assert whole is not None

    def outcome(edt: bytes) -> object:
        try:
            return whole(edt)
        except DecodeError as exc:
            return ("raises", vars(exc))

    assert outcome(edt) == _read_whole(data_type, edt)
    if data_type.kind == "property_map" and edt:  # a list-form map: mostly well-formed
        listed = (bytes((min(edt[0], 15),)) + edt[1:])[: 1 + min(edt[0], 15)]
        assert outcome(listed) == _read_whole(data_type, listed)


def _views(data: bytes) -> list[object]:
    """``data`` as every bytes-like object a caller may hand over."""
    spread = bytes(byte for pair in zip(data, bytes(len(data)), strict=True) for byte in pair)
    return [
        bytearray(data),
        memoryview(data),  # read-only: its slices hash like bytes
        memoryview(bytearray(data)),  # writable: its slices do not hash
        memoryview(spread)[::2],  # read-only, not C-contiguous: ``struct`` refuses it
        array.array("B", data),
        type("Subclass", (bytes,), {})(data),
    ]


def test_any_bytes_like_frame_decodes_as_its_bytes_on_every_path() -> None:
    # One struct property per kind of field: fields are sliced from the EDT inside a
    # compiled shape, and a raw field's value is the slice itself.
    by_field_kind: dict[str, tuple[int, int, int]] = {}
    for class_id, epc, size in PROPERTIES:
        spec = lookup(class_id, epc)
        assert spec is not None
        for _, field in spec.data_type.fields or ():
            by_field_kind.setdefault(field.kind, (class_id, epc, size))
    assert {"raw", "enum", "struct", "unsigned", "datetime"} <= set(by_field_kind)
    cases = [PROPERTIES[0], *by_field_kind.values()]
    checked = 0
    for class_id, epc, size in cases:
        seoj = fr.EOJ(class_id >> 8, class_id & 0xFF, 1)
        for fill in (b"\x00", b"\x01", b"\x30", b"\xff"):
            data = _frame(seoj, [(epc, (fill * size)[:size])])
            expected = [_outcome(typed._general, data)] * 3
            for view in _views(data):
                typed._SHAPES.clear()
                typed._SIGHTED.clear()
                got = [_outcome(typed.decode_typed, view) for _ in range(3)]
                assert got == expected, (hex(class_id), hex(epc), type(view))
                for result in got:  # one pass, one pass and compile, compiled
                    if isinstance(result, typed.TypedFrame):
                        assert all(type(edt) is bytes for edt in result.edts)
                        values = [*result.values]
                        values += [v for d in values if isinstance(d, dict) for v in d.values()]
                        assert not any(isinstance(v, memoryview | bytearray) for v in values)
                checked += 1
    assert checked > 100
