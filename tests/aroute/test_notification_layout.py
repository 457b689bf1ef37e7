"""aroute.notification_layout: a compiled layout reads exactly what the general decoder reads.

Bodies are drawn as a shape (types, string lengths, counts) and then values for it, so two
notifications of one shape share a skeleton; mutated bytes either miss every layout or
are read as the general decoder reads them.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute.apdu import DataNotification, LongInvokeIdAndPriority, decode_apdu
from smartmeter_proto.aroute.axdr import Data, DataType
from smartmeter_proto.aroute.notification_layout import (
    NotificationLayout,
    NotificationLayouts,
    flatten,
)
from smartmeter_proto.errors import DecodeError

_INTEGERS: dict[DataType, tuple[int, int]] = {
    DataType.INTEGER: (-(1 << 7), (1 << 7) - 1),
    DataType.LONG: (-(1 << 15), (1 << 15) - 1),
    DataType.DOUBLE_LONG: (-(1 << 31), (1 << 31) - 1),
    DataType.LONG64: (-(1 << 63), (1 << 63) - 1),
    DataType.UNSIGNED: (0, 0xFF),
    DataType.LONG_UNSIGNED: (0, 0xFFFF),
    DataType.DOUBLE_LONG_UNSIGNED: (0, 0xFFFFFFFF),
    DataType.LONG64_UNSIGNED: (0, (1 << 64) - 1),
    DataType.ENUM: (0, 0xFF),
}
_STRINGS = (DataType.OCTET_STRING, DataType.VISIBLE_STRING)
Shape = tuple[Any, ...]  # (type, string length) or (container type, (shapes...))

_LEAF_SHAPES = st.one_of(
    st.tuples(st.sampled_from(sorted(_INTEGERS)), st.just(0)),
    st.tuples(st.sampled_from(_STRINGS), st.integers(0, 24)),
)
SHAPES = st.recursive(
    _LEAF_SHAPES,
    lambda children: st.tuples(
        st.sampled_from([DataType.STRUCTURE, DataType.ARRAY]),
        st.lists(children, max_size=5).map(tuple),
    ),
    max_leaves=16,
)


def _value(draw: st.DrawFn, shape: Shape) -> Data:
    kind, detail = shape
    if kind in (DataType.STRUCTURE, DataType.ARRAY):
        return Data(kind, tuple(_value(draw, member) for member in detail))
    if kind is DataType.OCTET_STRING:
        return Data(kind, draw(st.binary(min_size=detail, max_size=detail)))
    if kind is DataType.VISIBLE_STRING:
        return Data(kind, "".join(chr(draw(st.integers(0, 255))) for _ in range(detail)))
    low, high = _INTEGERS[kind]
    return Data(kind, draw(st.integers(low, high)))


@st.composite
def notifications(draw: st.DrawFn, shape: Shape) -> bytes:
    date_time = draw(
        st.one_of(st.none(), st.binary(min_size=12, max_size=12), st.binary(min_size=1, max_size=5))
    )
    invoke = LongInvokeIdAndPriority.from_int(draw(st.integers(0, 0xFFFFFFFF)))
    return DataNotification(_value(draw, shape), date_time, invoke).encode()


def general(apdu: bytes) -> tuple[Any, ...]:
    """What the general decoder reads, as a layout's values (and the scalars' types)."""
    notification = decode_apdu(apdu, strict=True)
    assert isinstance(notification, DataNotification)
    leaves = flatten(notification.body)
    return (
        notification.long_invoke.to_int(),
        notification.date_time or b"",
        *(d.value for d in leaves),
        tuple(d.type for d in leaves),
    )


def _read(layouts: NotificationLayouts, apdu: bytes) -> tuple[Any, ...] | None:
    hit = layouts.match(apdu)
    if hit is None:
        return None
    layout, values = hit
    return (*values, layout.leaf_types)


@settings(max_examples=500, deadline=None)
@given(st.data(), SHAPES)
def test_one_shape_is_read_through_its_layout_as_the_general_decoder_reads_it(
    data: st.DataObject, shape: Shape
) -> None:
    first = data.draw(notifications(shape))
    second = data.draw(notifications(shape))
    assume(len(first) == len(second))  # the date-time length is part of the skeleton
    layouts = NotificationLayouts()
    assert layouts.match(first) is None
    decoded = decode_apdu(first, strict=True)
    assert isinstance(decoded, DataNotification)
    layout = layouts.learn(first, decoded)
    assert layout is not None
    assert _read(layouts, first) == general(first)
    assert _read(layouts, second) == general(second)
    assert layouts.learn(first, decoded) is None  # learnt once
    assert len(layouts) == 1


@settings(max_examples=1000, deadline=None)
@given(st.data(), SHAPES)
def test_mutated_bytes_miss_every_layout_or_read_as_the_general_decoder(
    data: st.DataObject, shape: Shape
) -> None:
    genuine = data.draw(notifications(shape))
    layouts = NotificationLayouts()
    decoded = decode_apdu(genuine, strict=True)
    assert isinstance(decoded, DataNotification)
    assert layouts.learn(genuine, decoded) is not None
    mutated = bytearray(genuine)
    for _ in range(data.draw(st.integers(1, 3))):
        action = data.draw(st.sampled_from(["flip", "set", "cut", "grow"]))
        at = data.draw(st.integers(0, max(len(mutated) - 1, 0)))
        if action == "flip" and mutated:
            mutated[at] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "set" and mutated:
            mutated[at] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del mutated[at : at + data.draw(st.integers(1, 4))]
        else:
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=4))
    apdu = bytes(mutated)
    read = _read(layouts, apdu)
    if read is not None:  # a layout took it: the general decoder must agree exactly
        assert read == general(apdu)
    else:
        with contextlib.suppress(DecodeError):  # refused, or read by the general decoder
            general(apdu)


@pytest.mark.parametrize(
    "body",
    [
        Data(DataType.STRUCTURE, (Data(DataType.BOOLEAN, True),)),
        Data(DataType.STRUCTURE, (Data(DataType.NULL, None),)),
        Data(DataType.STRUCTURE, (Data(DataType.FLOAT32, 1.5),)),
        Data(DataType.STRUCTURE, (Data(DataType.OCTET_STRING, bytes(200)),)),  # long form
        Data(DataType.ARRAY, tuple(Data(DataType.UNSIGNED, 1) for _ in range(130))),
    ],
)
def test_types_outside_the_compiled_set_are_never_compiled(body: Data) -> None:
    apdu = DataNotification(body).encode()
    layouts = NotificationLayouts()
    decoded = decode_apdu(apdu, strict=True)
    assert isinstance(decoded, DataNotification)
    assert layouts.learn(apdu, decoded) is None
    assert layouts.match(apdu) is None
    assert len(layouts) == 0


def test_layouts_are_bounded_oldest_first_out() -> None:
    layouts = NotificationLayouts(max_layouts=3)
    apdus = [
        DataNotification(
            Data(DataType.STRUCTURE, (Data(DataType.OCTET_STRING, bytes(n)),))
        ).encode()
        for n in range(5)
    ]
    for apdu in apdus:
        decoded = decode_apdu(apdu, strict=True)
        assert isinstance(decoded, DataNotification)
        assert layouts.learn(apdu, decoded) is not None
    assert len(layouts) == 3
    assert [layouts.match(a) is not None for a in apdus] == [False, False, True, True, True]
    with pytest.raises(ValueError, match="max_layouts"):
        NotificationLayouts(max_layouts=0)


def test_the_annotation_is_made_once_per_layout() -> None:
    seen: list[object] = []

    def annotate(layout: NotificationLayout) -> str:
        seen.append(layout.fields)
        return "noted"

    layouts = NotificationLayouts(annotate=annotate)
    body = Data(
        DataType.STRUCTURE, (Data(DataType.OCTET_STRING, b"ab"), Data(DataType.LONG_UNSIGNED, 7))
    )
    apdu = DataNotification(body, bytes(12)).encode()
    decoded = decode_apdu(apdu, strict=True)
    assert isinstance(decoded, DataNotification)
    layouts.learn(apdu, decoded)
    hit = layouts.match(apdu)
    assert hit is not None
    assert hit[0].note == "noted"
    assert hit[1] == (0, bytes(12), b"ab", 7)
    assert seen == [((DataType.OCTET_STRING, 2), (DataType.LONG_UNSIGNED, 0))]
