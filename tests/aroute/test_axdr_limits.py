"""A-XDR nesting: ``max_depth`` has a hard ceiling, and decoding never hits RecursionError."""

from __future__ import annotations

import inspect
import sys

import pytest

from smartmeter_proto._buffer import Cursor
from smartmeter_proto.aroute.axdr import (
    DEFAULT_MAX_DEPTH,
    MAX_DEPTH_CEILING,
    decode_data,
    decode_values,
    pull_data,
)
from smartmeter_proto.errors import DecodeError

#: 100 000 structures of one element each, around a null-data: nesting no meter sends.
DEEP = b"\x02\x01" * 100_000 + b"\x00"
#: A compact array whose description nests arrays to the ceiling (Blue Book 4.1.5).
DEEP_COMPACT = b"\x13" + b"\x01\x00\x01" * (MAX_DEPTH_CEILING - 2) + b"\x11\x01\x05"


@pytest.mark.parametrize("decode", [decode_data, decode_values])
@pytest.mark.parametrize("max_depth", [MAX_DEPTH_CEILING + 1, 100_000, -1])
def test_max_depth_beyond_the_ceiling_is_the_callers_mistake(
    decode: object, max_depth: int
) -> None:
    with pytest.raises(ValueError, match=f"0..{MAX_DEPTH_CEILING}"):
        decode(DEEP, max_depth=max_depth)  # type: ignore[operator]


def test_pull_data_checks_the_ceiling_too() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        pull_data(Cursor(DEEP, "axdr"), max_depth=100_000)


@pytest.mark.parametrize("decode", [decode_data, decode_values])
@pytest.mark.parametrize("max_depth", [0, DEFAULT_MAX_DEPTH, MAX_DEPTH_CEILING])
def test_deep_input_is_a_decode_error(decode: object, max_depth: int) -> None:
    with pytest.raises(DecodeError, match="max_depth") as err:
        decode(DEEP, max_depth=max_depth)  # type: ignore[operator]
    assert err.value.offset == 2 * max_depth


@pytest.mark.parametrize(
    "data", [b"\x02\x01" * MAX_DEPTH_CEILING + b"\x00", DEEP_COMPACT], ids=["structure", "compact"]
)
def test_the_ceiling_fits_in_a_small_stack(data: bytes) -> None:
    """At the ceiling, decoding needs under 80 frames above the caller's."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 80)
    try:
        for decode in (decode_data, decode_values):
            try:
                decode(data, max_depth=MAX_DEPTH_CEILING)
            except DecodeError as exc:  # the compact array's weight, checked after its description
                assert "values per element" in exc.reason
    finally:
        sys.setrecursionlimit(limit)
