"""The process-wide ECHONET decoder caches stay within their byte budgets (fuzz/README.md)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator

import pytest

from smartmeter_proto.echonet import frame as fr
from smartmeter_proto.echonet import properties, typed
from smartmeter_proto.echonet.specs import SUPER_CLASS, known_classes, load_class
from smartmeter_proto.errors import DecodeError

METER = fr.EOJ(2, 0x88, 1)
CONTROLLER = fr.EOJ(5, 0xFF, 1)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    for class_id in (SUPER_CLASS, *known_classes()):
        load_class(class_id)  # the class files are loaded once, not per input
    typed._SHAPES.clear()
    typed._SIGHTED.clear()
    typed._last[0] = typed._NO_SHAPE
    yield
    typed._SHAPES.clear()


def _crafted(index: int) -> bytes:
    """A Get_Res from a class without a file, all 255 EPCs with a 1-byte EDT."""
    group = 1 + index % 13  # every device group but the profile group 0x0E
    props = b"".join(bytes((epc, 1, epc)) for epc in range(1, 256))
    return (
        bytes.fromhex("10810001")
        + bytes((group, index >> 4, index & 0xF))
        + (CONTROLLER.to_bytes() + b"\x72\xff" + props)
    )


def _growth(call: object, *args: object) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        call(*args)  # type: ignore[operator]
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_crafted_class_ids_do_not_grow_the_decoder_tables() -> None:
    """Frames of unknown classes x 255 EPCs: 4 096 of them grew _TABLES by 55 MiB before
    (a table per class id); 512 grew it by 7 MiB. Now they share the super class's table."""

    def decode_all() -> None:
        for index in range(512):
            typed.decode_typed(_crafted(index))

    grown = _growth(decode_all)
    eoj_budget = 512 * 256  # the source EOJs interned by frame.decode, 256 B each at most
    assert grown < properties._TABLES_BUDGET_BYTES + eoj_budget
    assert len(properties._TABLES) <= len(known_classes()) + 2
    assert all(len(table) <= 256 for table in properties._TABLES.values())


def test_every_table_full_stays_within_the_tables_budget() -> None:
    properties._TABLES.clear()

    def fill() -> None:
        for class_id in (SUPER_CLASS, 0x0EF0, 0x0E01, *known_classes()):
            for epc in range(256):
                properties.typed_property(class_id, epc, b"\x00")

    grown = _growth(fill)
    entries = sum(len(table) for table in properties._TABLES.values())
    assert entries <= (len(known_classes()) + 2) * 256
    assert grown <= entries * properties._TABLE_ENTRY_BYTES
    assert grown <= properties._TABLES_BUDGET_BYTES


def test_unknown_class_ids_share_their_owners_table() -> None:
    assert properties.decoder_table(0x0131) is properties.decoder_table(SUPER_CLASS)
    assert properties.decoder_table(0x0E01) is properties.decoder_table(0x0E02)
    assert properties.lookup(0x0131, 0x80) is properties.lookup(SUPER_CLASS, 0x80)
    assert properties.lookup(0x0E01, 0x80) is None
    assert properties.decoder_table(0x0288) is not properties.decoder_table(SUPER_CLASS)


def _frame(epcs: tuple[int, ...], pdc: int = 4, tid: int = 1) -> bytes:
    props = tuple(fr.Property(epc, bytes(pdc)) for epc in epcs)
    return fr.encode(fr.Frame(tid, METER, CONTROLLER, fr.ESV.GET_RES, props))


def _decodable_properties() -> tuple[fr.Property, ...]:
    """Properties of the smart meter class whose all-zero EDT of the type's size decodes."""
    spec = load_class(0x0288)
    assert spec is not None
    out: list[fr.Property] = []
    for epc, prop in sorted(spec.properties.items()):
        size = prop.data_type.size
        if not isinstance(size, int) or not 0 < size < 256:
            continue
        try:
            prop.data_type.decode(bytes(size))
        except DecodeError:
            continue
        out.append(fr.Property(epc, bytes(size)))
    return tuple(out * 2)[:32]


@pytest.mark.parametrize("count", [1, 2, 4, 8, 16, 32])
def test_a_compiled_shape_costs_less_than_its_estimate(count: int) -> None:
    props = _decodable_properties()[:count]
    data = fr.encode(fr.Frame(1, METER, CONTROLLER, fr.ESV.GET_RES, props))
    typed.decode_typed(data)
    typed.decode_typed(data)  # the second sighting compiles
    (shape,) = typed._SHAPES.values()
    typed._SHAPES.clear()
    typed._SIGHTED.clear()
    typed._last[0] = typed._NO_SHAPE
    typed.decode_typed(data)  # seen once again (its slot is kept: no growth after)
    grown = _growth(typed.decode_typed, data)  # compiles and caches the shape again
    assert len(shape.plan) == count
    assert 0 < grown <= shape.cost


def test_shapes_with_the_same_header_are_both_kept() -> None:
    """Two skeletons behind one header used to evict each other on every frame."""
    first, second = _frame((0xE7, 0xE0)), _frame((0xE7, 0xE8))
    assert first[4:12] == second[4:12]
    for data in (first, second, first, second):  # compiled at the second sighting
        typed.decode_typed(data)
    assert len(typed._SHAPES) == 2
    compiled = 0
    original = typed._compile

    def counting(*args: object) -> object:
        nonlocal compiled
        compiled += 1
        return original(*args)  # type: ignore[arg-type]

    typed._compile = counting  # type: ignore[assignment]
    try:
        for tid in range(10):
            for data in (first, second):
                data = data[:2] + tid.to_bytes(2, "big") + data[4:]
                assert typed.decode_typed(data).tid == tid
    finally:
        typed._compile = original
    assert compiled == 0


def test_shape_cache_evicts_least_recently_used_within_its_budget() -> None:
    hot = _frame((0xE7,))
    typed.decode_typed(hot)
    typed.decode_typed(hot)
    spec = load_class(0x0288)
    assert spec is not None
    epcs = sorted(spec.properties)
    added = 0
    # Different PDCs give different skeletons: far more shapes than the budget holds.
    for pdc in range(1, 256):
        for epc in epcs[:8]:
            typed.decode_typed(_frame((epc, 0xE7), pdc=pdc))
            typed.decode_typed(_frame((epc, 0xE7), pdc=pdc))
            added += 1
            if added % 50 == 0:
                typed.decode_typed(hot)  # used now and then: never the least recent
        assert typed._SHAPES.cost <= typed.SHAPE_CACHE_BUDGET
    assert typed._SHAPES.cost == sum(s.cost for s in typed._SHAPES.values())
    assert typed._last[0].key in typed._SHAPES or len(typed._SHAPES) > 0
    keys = [s.skeleton_key for s in typed._SHAPES.values()]
    hot_key = hot[4:12] + bytes((0xE7, 4))
    assert hot_key in keys
    # A full cache still takes new shapes (it used to freeze at 512 entries).
    new = _frame((0xE0, 0xE7, 0xE8), pdc=4)
    typed.decode_typed(new)
    typed.decode_typed(new)
    newest = list(typed._SHAPES.values())[-1]
    assert newest.skeleton_key == new[4:12] + bytes((0xE0, 4, 0xE7, 4, 0xE8, 4))


def test_shape_cache_memory_stays_within_its_budget() -> None:
    def flood() -> None:
        for pdc in range(1, 256):
            for epc in (0xE0, 0xE1, 0xE7, 0xE8, 0xEA, 0xEB, 0xD3, 0xD7):
                typed.decode_typed(_frame((epc,) * 8, pdc=pdc))
                typed.decode_typed(_frame((epc,) * 8, pdc=pdc))

    grown = _growth(flood)
    assert typed._SHAPES.cost <= typed.SHAPE_CACHE_BUDGET
    assert grown <= typed.SHAPE_CACHE_BUDGET + typed._SIGHTED_BUDGET


def one_off(index: int) -> bytes:
    """Error-free frames of 8 192 different headers (OPC, first EPC and PDC): EPCs in the
    user-defined range 0xF0..0xFF, which the meter's class does not list."""
    count, first, pdc = 1 + index % 32, 0xF0 + (index >> 5) % 16, 1 + (index >> 9) % 16
    props = (fr.Property(first, bytes(pdc)),) + (fr.Property(0xFF, b"\x00"),) * (count - 1)
    return fr.encode(fr.Frame(1, METER, CONTROLLER, fr.ESV.GET_RES, props))


def test_the_sighting_table_evicts_in_batches_within_its_limit() -> None:
    typed._SIGHTED.clear()
    for index in range(2 * typed._SIGHTED_LIMIT):
        typed.decode_typed(one_off(index))
        assert len(typed._SIGHTED) <= typed._SIGHTED_LIMIT
    assert not typed._SHAPES  # one-off frames: nothing compiled


def test_sighted_headers_stay_within_their_budget() -> None:
    typed._SIGHTED.clear()

    def one_offs() -> None:
        for index in range(typed._SIGHTED_LIMIT + 500):
            typed.decode_typed(one_off(index))

    grown = _growth(one_offs)
    assert len(typed._SIGHTED) <= typed._SIGHTED_LIMIT
    assert len(typed._SHAPES) == 0  # nothing seen twice: nothing compiled
    assert grown <= typed._SIGHTED_BUDGET


def test_eoj_cache_evicts_when_full() -> None:
    for index in range(fr._EOJ_CACHE_LIMIT + 10):
        fr._eoj(bytes((index >> 16, (index >> 8) & 0xFF, index & 0xFF)))
    assert len(fr._EOJ_CACHE) == fr._EOJ_CACHE_LIMIT
    latest = bytes((0, (fr._EOJ_CACHE_LIMIT + 9) >> 8, (fr._EOJ_CACHE_LIMIT + 9) & 0xFF))
    assert latest in fr._EOJ_CACHE
