"""Profile rows read in blocks: one Struct per block, every tag and length octet checked.

The block reader must give exactly what a row-by-row walk gives, for rows that all share
one shape, rows of another shape anywhere (first, inside a block, last), more rows than
one block takes, and damaged tag or length octets; and its caches stay bounded.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute.axdr import codec, values
from smartmeter_proto.aroute.axdr.codec import Data, DataType, decode_data, encode_data
from smartmeter_proto.errors import DecodeError


def _row(i: int, *, odd: bool = False) -> Data:
    cells = [
        Data(DataType.OCTET_STRING, bytes(12) if not odd else bytes(11)),
        Data(DataType.DOUBLE_LONG_UNSIGNED, 1_234_000 + 150 * i),
        Data(DataType.DOUBLE_LONG_UNSIGNED, 56_000 + 7 * i),
        Data(DataType.LONG_UNSIGNED, 1010 + i % 7),
        Data(DataType.UNSIGNED, i % 256),
    ]
    return Data(DataType.STRUCTURE, tuple(cells))


def _profile(rows: int, odd: frozenset[int] = frozenset()) -> Data:
    return Data(DataType.ARRAY, tuple(_row(i, odd=i in odd) for i in range(rows)))


def _native(d: Data) -> object:
    if d.type in (DataType.ARRAY, DataType.STRUCTURE):
        assert isinstance(d.value, tuple)
        return [_native(x) for x in d.value]
    return d.value


def test_a_48_row_profile_reads_back_typed_and_as_values() -> None:
    profile = _profile(48)
    raw = encode_data(profile)
    assert decode_data(raw) == profile
    assert values.decode_values(raw) == _native(profile)


def test_more_rows_than_one_block_takes() -> None:
    profile = _profile(codec.BLOCK_ROWS * 2 + 5)
    raw = encode_data(profile)
    assert decode_data(raw) == profile
    assert values.decode_values(raw) == _native(profile)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.integers(min_value=0, max_value=120),
    odd=st.frozensets(st.integers(min_value=0, max_value=119), max_size=4),
)
def test_rows_of_another_shape_anywhere(rows: int, odd: frozenset[int]) -> None:
    profile = _profile(rows, frozenset(i for i in odd if i < rows))
    raw = encode_data(profile)
    assert decode_data(raw) == profile
    assert values.decode_values(raw) == _native(profile)


@settings(max_examples=300, deadline=None)
@given(rows=st.integers(min_value=3, max_value=60), data=st.data())
def test_a_damaged_octet_is_read_as_the_row_walk_reads_it(rows: int, data: st.DataObject) -> None:
    raw = bytearray(encode_data(_profile(rows)))
    at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    raw[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    damaged = bytes(raw)
    try:
        got = decode_data(damaged)
    except DecodeError:
        return
    # The values path reads the same bytes to the same values as the typed path.
    assert values.decode_values(damaged) == _native(got)


def test_the_shape_caches_stay_bounded() -> None:
    for width in range(2, 2 + 3 * codec.MAX_ROW_SHAPES):
        row = Data(
            DataType.STRUCTURE,
            tuple(Data(DataType.UNSIGNED, i) for i in range(width % 100 + 2)),
        )
        for rows in (3, 4, 5, 6, 7, 8):
            raw = encode_data(Data(DataType.ARRAY, (row,) * rows))
            assert decode_data(raw).value == (row,) * rows
    shapes = codec.cached_row_shapes()
    assert 0 < len(shapes) <= codec.MAX_ROW_SHAPES
    assert all(len(shape.blocks) <= codec.MAX_ROW_BLOCKS for shape in shapes)


def test_threads_churning_the_shape_cache_only_ever_get_their_data() -> None:
    import threading

    errors: list[BaseException] = []

    def churn(offset: int) -> None:
        try:
            for width in range(2, 2 + 2 * codec.MAX_ROW_SHAPES):
                members = tuple(Data(DataType.UNSIGNED, i) for i in range(width + offset % 3))
                profile = Data(DataType.ARRAY, (Data(DataType.STRUCTURE, members),) * 4)
                assert decode_data(encode_data(profile)) == profile
        except BaseException as exc:  # collected: a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []  # no RuntimeError from an eviction racing a lookup
    assert len(codec.cached_row_shapes()) <= codec.MAX_ROW_SHAPES
