"""Fuzz ``aroute.axdr.decode_data``: any bytes -> Data or DecodeError.

A decoded value must re-encode, and its encoding must decode to the same encoding again
(``encode_data(decode_data(encode_data(d))) == encode_data(d)``): bytes compared, not
values, since a NaN float never equals itself. ``to_python`` must not raise either.

Input: one tagged A-XDR Data (IEC 62056-6-2 / Blue Book 4.1.5), as in a GET response body.
Run ``python fuzz/dlms_axdr.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.aroute import axdr
    from smartmeter_proto.errors import DecodeError

    def call(data: bytes) -> object:
        value = axdr.decode_data(data)
        wire = axdr.encode_data(value)
        if axdr.encode_data(axdr.decode_data(wire)) != wire:
            raise AssertionError("re-encoding a decoded Data is not stable")
        return axdr.to_python(value)

    return Target("dlms_axdr", call, (DecodeError,), "bytes")


def seeds() -> dict[str, bytes]:
    """Encodings of a broad Data sample, the real vectors of tests/aroute/test_axdr.py."""
    from pana_message import load_test_module

    from smartmeter_proto.aroute.axdr import (
        BitString,
        CompactArray,
        CosemDate,
        CosemDateTime,
        CosemTime,
        Data,
        DataType,
        TypeDescription,
        encode_data,
    )

    t = DataType
    stamp = CosemDateTime(2026, 11, 25, 3, 18, 45, 0, 0, -540, 0)  # JST, Blue Book sign
    scalars: dict[str, Data] = {
        "null": Data(t.NULL, None),
        "boolean": Data(t.BOOLEAN, True),
        "bit-string": Data(t.BIT_STRING, BitString.from_bits("1011000001")),
        "double-long": Data(t.DOUBLE_LONG, -123456789),
        "double-long-unsigned": Data(t.DOUBLE_LONG_UNSIGNED, 0xFFFFFFFF),
        "octet-string": Data(t.OCTET_STRING, bytes(range(6))),
        "octet-string-long": Data(t.OCTET_STRING, bytes(200)),  # long-form length 81 C8
        "visible-string": Data(t.VISIBLE_STRING, "Kamstrup_V0001"),
        "utf8-string": Data(t.UTF8_STRING, "電力量"),
        "bcd": Data(t.BCD, 0x42),
        "integer": Data(t.INTEGER, -3),
        "long": Data(t.LONG, -540),
        "unsigned": Data(t.UNSIGNED, 255),
        "long-unsigned": Data(t.LONG_UNSIGNED, 0x1234),
        "long64": Data(t.LONG64, -(1 << 62)),
        "long64-unsigned": Data(t.LONG64_UNSIGNED, (1 << 64) - 1),
        "enum": Data(t.ENUM, 30),  # Wh
        "float32": Data(t.FLOAT32, 1.5),
        "float64": Data(t.FLOAT64, -2.25),
        "date-time": Data(t.DATE_TIME, stamp),
        "date": Data(t.DATE, CosemDate(2026, 11, 25, 3)),
        "time": Data(t.TIME, CosemTime(18, 45, 0, 0)),
    }
    out = {f"scalar-{k}": encode_data(v) for k, v in scalars.items()}
    # A register scaler_unit and a nested array of structures of every scalar.
    out["scaler-unit"] = encode_data(Data(t.STRUCTURE, (Data(t.INTEGER, -1), Data(t.ENUM, 30))))
    out["nested-all-scalars"] = encode_data(
        Data(t.ARRAY, (Data(t.STRUCTURE, tuple(scalars.values())),) * 2)
    )
    # A 48-entry (half-hourly day) profile buffer: {date-time octet-string(12), status, Wh}.
    rows = []
    for i in range(48):
        when = CosemDateTime(2026, 11, 25, 3, i // 2, 30 * (i % 2), 0, 0, -540, 0)
        rows.append(
            Data(
                t.STRUCTURE,
                (
                    Data(t.OCTET_STRING, when.encode()),
                    Data(t.UNSIGNED, 0),
                    Data(t.DOUBLE_LONG_UNSIGNED, 1_000_000 + 137 * i),
                ),
            )
        )
    out["profile-buffer-48"] = encode_data(Data(t.ARRAY, tuple(rows)))
    # The same rows as a compact array (Blue Book 4.1.5 compact-array).
    desc = TypeDescription(
        t.STRUCTURE,
        3,
        (
            TypeDescription(t.OCTET_STRING),
            TypeDescription(t.UNSIGNED),
            TypeDescription(t.DOUBLE_LONG_UNSIGNED),
        ),
    )
    out["compact-array-48"] = encode_data(Data(t.COMPACT_ARRAY, CompactArray(desc, tuple(rows))))
    small = TypeDescription(
        t.STRUCTURE, 2, (TypeDescription(t.LONG_UNSIGNED), TypeDescription(t.OCTET_STRING))
    )
    out["compact-array-small"] = encode_data(
        Data(
            t.COMPACT_ARRAY,
            CompactArray(
                small,
                tuple(
                    Data(t.STRUCTURE, (Data(t.LONG_UNSIGNED, i), Data(t.OCTET_STRING, b"ab"[:i])))
                    for i in range(3)
                ),
            ),
        )
    )
    test_axdr = load_test_module("tests/aroute/test_axdr.py")
    out["dlms-cosem-load-profile-24"] = test_axdr.LOAD_PROFILE_24[1:]  # without the Data choice
    out["dlms-cosem-kamstrup-han"] = test_axdr.KAMSTRUP_HAN
    # Edges: truncated, trailing byte, unknown tag, deep nesting, length lies.
    out["edge-empty"] = b""
    out["edge-unknown-tag"] = b"\x07\x00"
    out["edge-trailing"] = out["scalar-long-unsigned"] + b"\x00"
    out["edge-cut"] = out["profile-buffer-48"][:-5]
    out["edge-deep"] = b"\x01\x01" * 20 + b"\x00"
    out["edge-count-lie"] = b"\x01\x84\xff\xff\xff\xff\x00"
    out["edge-length-lie"] = b"\x09\x82\xff\xff\x00"
    return out


if __name__ == "__main__":
    sys.exit(main("dlms_axdr"))
