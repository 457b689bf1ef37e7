"""The A-XDR value sample and canonical forms of interop/dlms_peers.py.

A fixed, seeded sample of Data values covering every type (boundaries, long-form lengths,
wildcards in dates, nesting, compact arrays), the 48-row load profile and 30-minute push
body used by the APDU checks, and :func:`canon`, our Data as plain comparable values.
"""

from __future__ import annotations

import datetime as _dt
import random
import struct
from collections.abc import Iterator
from typing import Final

from smartmeter_proto.aroute.axdr import (
    DEVIATION_NOT_SPECIFIED,
    BitString,
    CompactArray,
    CosemDate,
    CosemDateTime,
    CosemTime,
    Data,
    DataType,
    TypeDescription,
)

T = DataType
SEED: Final = 20261125


# ============================================================= the sample of Data values


def _ints(rng: random.Random, dtype: DataType, lo: int, hi: int) -> Iterator[Data]:
    for v in {lo, hi, 0, 1, lo + 1, hi - 1, *(rng.randint(lo, hi) for _ in range(8))}:
        yield Data(dtype, v)


def _floats(rng: random.Random, dtype: DataType, fmt: str) -> Iterator[Data]:
    size = struct.calcsize(fmt)
    values = [0.0, -0.0, 1.5, -2.25, float("inf"), float("-inf"), 101.3, 1e-38]
    while len(values) < 20:
        v = struct.unpack(fmt, rng.getrandbits(size * 8).to_bytes(size, "big"))[0]
        if v == v:  # no NaN: it is not equal to itself on either side
            values.append(v)
    for v in values:
        yield Data(dtype, struct.unpack(fmt, struct.pack(fmt, v))[0])


def _date_times() -> Iterator[Data]:
    for dev in (-540, -60, 0, 120, DEVIATION_NOT_SPECIFIED):
        for status in (0x00, 0x80, 0x01):
            yield Data(T.DATE_TIME, CosemDateTime(2026, 11, 25, 3, 14, 30, 0, 0, dev, status))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 3, 29, 7, 2, 0, 5, 50, -60, 0x80))
    yield Data(T.DATE_TIME, CosemDateTime(2024, 2, 29, 4, 23, 59, 59, 99, -540, 0))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 11, 25, 3, 14, 30, 0, 0, -540, 0xFF))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 11, 25, 3, 14, 30, 0, 0xFF, -540, 0x0F))
    yield Data(
        T.DATE_TIME,
        CosemDateTime(
            0xFFFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, DEVIATION_NOT_SPECIFIED, 0xFF
        ),
    )
    yield Data(
        T.DATE_TIME, CosemDateTime(0xFFFF, 1, 1, 0xFF, 0, 0, 0, 0xFF, DEVIATION_NOT_SPECIFIED, 0xFF)
    )  # every 1 Jan
    yield Data(T.DATE_TIME, CosemDateTime(0xFFFF, 0xFE, 0xFF, 0xFF, 2, 0, 0, 0xFF, -60, 0xFF))
    yield Data(T.DATE_TIME, CosemDateTime(2026, 0xFF, 0xFE, 7, 0xFF, 0, 0, 0, -540, 0xFF))
    yield Data(T.DATE, CosemDate(2026, 11, 25, 3))
    yield Data(T.DATE, CosemDate(2026, 11, 25, 0xFF))
    yield Data(T.DATE, CosemDate(0xFFFF, 12, 31, 0xFF))
    yield Data(T.DATE, CosemDate(2026, 0xFF, 1, 0xFF))
    for t in (
        (14, 30, 0, 0),
        (23, 59, 59, 99),
        (0, 0, 0, 0xFF),
        (12, 0xFF, 0xFF, 0xFF),
        (6, 30, 15, 50),
    ):
        yield Data(T.TIME, CosemTime(*t))


def _scalars(rng: random.Random) -> Iterator[Data]:
    yield Data(T.NULL, None)
    yield Data(T.BOOLEAN, True)
    yield Data(T.BOOLEAN, False)
    yield from _ints(rng, T.INTEGER, -128, 127)
    yield from _ints(rng, T.LONG, -0x8000, 0x7FFF)
    yield from _ints(rng, T.DOUBLE_LONG, -0x8000_0000, 0x7FFF_FFFF)
    yield from _ints(rng, T.LONG64, -(1 << 63), (1 << 63) - 1)
    yield from _ints(rng, T.UNSIGNED, 0, 0xFF)
    yield from _ints(rng, T.LONG_UNSIGNED, 0, 0xFFFF)
    yield from _ints(rng, T.DOUBLE_LONG_UNSIGNED, 0, 0xFFFF_FFFF)
    yield from _ints(rng, T.LONG64_UNSIGNED, 0, (1 << 64) - 1)
    yield from _ints(rng, T.ENUM, 0, 0xFF)
    for v in (0x00, 0x12, 0x99, 0x45):
        yield Data(T.BCD, v)
    yield from _floats(rng, T.FLOAT32, ">f")
    yield from _floats(rng, T.FLOAT64, ">d")
    for n in (0, 1, 5, 6, 12, 16, 127, 128, 200, 255, 256, 300, 1000):
        yield Data(T.OCTET_STRING, bytes(rng.getrandbits(8) for _ in range(n)))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -_.:/"
    for n in (0, 1, 8, 14, 32, 127, 128, 129, 255, 256):
        yield Data(T.VISIBLE_STRING, "".join(rng.choice(alphabet) for _ in range(n)))
    for s in ("", "abc", "電力量計 A-route", "Zähler Ünïcödé", "⚡🔌", "x" * 130):
        yield Data(T.UTF8_STRING, s)
    for bits in (
        "",
        "1",
        "0",
        "10110",
        "10000000",
        "101100111",
        "1" * 16,
        "0110" * 6,
        "1" * 64,
        "10" * 70,
    ):
        yield Data(T.BIT_STRING, BitString.from_bits(bits))
    yield from _date_times()


def _containers(rng: random.Random, scalars: list[Data]) -> Iterator[Data]:
    # Containers nest only types that gurux's native values can carry (see to_gurux).
    nestable = [
        d for d in scalars if d.type not in (T.UTF8_STRING, T.BCD, T.DATE, T.TIME, T.DATE_TIME)
    ]
    yield Data(T.ARRAY, ())
    yield Data(T.STRUCTURE, ())
    for n in (1, 3, 10, 127, 128, 200):
        yield Data(
            T.ARRAY,
            tuple(Data(T.DOUBLE_LONG_UNSIGNED, rng.randint(0, 0xFFFF_FFFF)) for _ in range(n)),
        )
    for _ in range(30):
        yield Data(T.STRUCTURE, tuple(rng.choice(nestable) for _ in range(rng.randint(1, 8))))
    for _ in range(10):
        inner = Data(T.STRUCTURE, tuple(rng.choice(nestable) for _ in range(3)))
        yield Data(T.ARRAY, (inner, Data(T.ARRAY, (inner, inner)), Data(T.STRUCTURE, ())))
    yield PROFILE
    row = TypeDescription(
        T.STRUCTURE, 2, (TypeDescription(T.DOUBLE_LONG_UNSIGNED), TypeDescription(T.LONG_UNSIGNED))
    )
    yield Data(
        T.COMPACT_ARRAY,
        CompactArray(
            row,
            tuple(
                Data(
                    T.STRUCTURE, (Data(T.DOUBLE_LONG_UNSIGNED, 1000 + i), Data(T.LONG_UNSIGNED, i))
                )
                for i in range(5)
            ),
        ),
    )
    yield Data(
        T.COMPACT_ARRAY,
        CompactArray(TypeDescription(T.LONG), tuple(Data(T.LONG, v) for v in (-3, 0, 7, 0x7FFF))),
    )


def _profile_row(i: int) -> Data:
    when = CosemDateTime(2026, 11, 24, 2, i // 2, 30 * (i % 2), 0, 0, -540, 0)
    return Data(
        T.STRUCTURE,
        (
            Data(T.OCTET_STRING, when.encode()),
            Data(T.DOUBLE_LONG_UNSIGNED, 1_234_000 + 150 * i),  # import Wh
            Data(T.DOUBLE_LONG_UNSIGNED, 56_000 + 7 * i),  # export Wh
            Data(T.LONG_UNSIGNED, 1010 + i % 7),  # voltage 0.1 V
            Data(T.UNSIGNED, 0 if i % 12 else 0x08),  # status
        ),
    )


PROFILE: Final = Data(T.ARRAY, tuple(_profile_row(i) for i in range(48)))
PUSH_BODY: Final = Data(
    T.STRUCTURE,
    (
        Data(T.OCTET_STRING, bytes((0, 0, 25, 9, 0, 255))),  # push setup 0-0:25.9.0*255
        Data(T.VISIBLE_STRING, "A-ROUTE-000123"),
        *_profile_row(47).value,  # type: ignore[misc]
    ),
)
PUSH_TIME: Final = CosemDateTime.from_datetime(  # end of the 00:00-00:30 JST period
    _dt.datetime(2026, 11, 25, 0, 30, tzinfo=_dt.timezone(_dt.timedelta(hours=9))), clock_status=0
)


def sample() -> list[Data]:
    rng = random.Random(SEED)
    scalars = list(_scalars(rng))
    return scalars + list(_containers(rng, scalars))


# ============================================================= canonical forms


def dt_fields(v: CosemDateTime) -> tuple[int, ...]:
    return (
        v.year,
        v.month,
        v.day,
        v.day_of_week,
        v.hour,
        v.minute,
        v.second,
        v.hundredths,
        v.deviation,
        v.clock_status,
    )


def canon(d: Data) -> object:
    """Our Data as plain comparable values (floats by their bits)."""
    v = d.value
    if d.type in (T.ARRAY, T.STRUCTURE):
        return [canon(x) for x in v]  # type: ignore[attr-defined]
    if isinstance(v, CompactArray):
        return [canon(x) for x in v.elements]
    if isinstance(v, BitString):
        return v.bits()
    if isinstance(v, CosemDateTime):
        return ("date-time", *dt_fields(v))
    if isinstance(v, CosemDate):
        return ("date", v.year, v.month, v.day, v.day_of_week)
    if isinstance(v, CosemTime):
        return ("time", v.hour, v.minute, v.second, v.hundredths)
    if d.type is T.FLOAT32:
        return struct.pack(">f", v)
    if d.type is T.FLOAT64:
        return struct.pack(">d", v)
    return v
