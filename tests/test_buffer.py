"""The bounds-checked cursor and writer every codec shares (``smartmeter_proto._buffer``)."""

from __future__ import annotations

import copy
import pickle
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto._buffer import (
    ACSE_LENGTH,
    AXDR_LENGTH,
    MINIMAL_LENGTH,
    Cursor,
    LengthPolicy,
    Writer,
    read_ber_length,
)
from smartmeter_proto.errors import DecodeError, EncodeError

# A real B-route answer (Qiita 74f11b729a7859da63af, see tests/vectors/echonet/README.md).
GET_RES_E7 = bytes.fromhex("1081525302880105FF017201E704000000E4")


def test_reads_a_real_frame_field_by_field() -> None:
    cursor = Cursor(GET_RES_E7, "echonet-lite")
    assert cursor.pull_uint16("EHD") == 0x1081
    assert cursor.pull_uint16("TID") == 0x5253
    assert cursor.pull_bytes(3, "SEOJ") == b"\x02\x88\x01"
    assert cursor.pull_bytes(3, "DEOJ") == b"\x05\xff\x01"
    assert cursor.pull_uint8("ESV") == 0x72
    assert cursor.pull_uint8("OPC") == 1
    assert cursor.pull_uint8("EPC") == 0xE7
    assert cursor.pull_uint8("PDC") == 4
    assert cursor.remaining == 4
    assert cursor.pull_uint32("EDT") == 228
    assert cursor.at_end()
    cursor.expect_end("frame")


@pytest.mark.parametrize(
    ("method", "size"),
    [("pull_uint8", 1), ("pull_uint16", 2), ("pull_uint32", 4)],
)
def test_short_reads_raise_at_the_field_start(method: str, size: int) -> None:
    data = bytes(range(size + 1))
    cursor = Cursor(data, "test")
    cursor.pull_bytes(2)
    with pytest.raises(DecodeError) as info:
        getattr(cursor, method)("field")
    assert info.value.layer == "test"
    assert info.value.offset == 2
    assert info.value.reason == f"field: need {size} bytes, {size - 1} left"
    # A failed read does not move the cursor.
    assert cursor.offset == info.value.offset


def test_failed_read_leaves_the_offset_alone() -> None:
    cursor = Cursor(b"\x01\x02\x03", "test")
    cursor.pull_uint8()
    with pytest.raises(DecodeError) as info:
        cursor.pull_uint32("value")
    assert info.value.offset == 1
    assert info.value.reason == "value: need 4 bytes, 2 left"
    assert cursor.offset == 1
    assert cursor.pull_uint16() == 0x0203


def test_negative_length_is_an_error() -> None:
    cursor = Cursor(b"abc", "test")
    with pytest.raises(DecodeError):
        cursor.pull_bytes(-1)
    assert cursor.offset == 0


def test_expect_end_reports_trailing_bytes() -> None:
    cursor = Cursor(b"\x00\x01\x02", "test")
    cursor.pull_uint8()
    with pytest.raises(DecodeError) as info:
        cursor.expect_end("header")
    assert info.value.offset == 1
    assert info.value.reason == "2 trailing bytes after header"


def test_pull_rest_and_start_offset() -> None:
    cursor = Cursor(memoryview(b"\xaa\xbb\xcc\xdd"), "test", offset=1)
    assert cursor.remaining == 3
    assert cursor.pull_rest() == b"\xbb\xcc\xdd"
    assert cursor.at_end()
    assert cursor.pull_rest() == b""
    assert cursor.pull_bytes(0) == b""


def test_cursor_copies_its_input() -> None:
    data = bytearray(b"\x01\x02")
    cursor = Cursor(data, "test")
    data[0] = 0xFF
    assert cursor.pull_uint8() == 0x01


def test_a_decode_error_is_its_layer_offset_and_reason() -> None:
    error = DecodeError("layer-x", 7, "bad tag")
    assert error.args == ("layer-x", 7, "bad tag")
    assert (error.layer, error.offset, error.reason) == ("layer-x", 7, "bad tag")
    assert str(error) == "layer-x: bad tag (at byte offset 7)"
    assert repr(error) == "DecodeError('layer-x', 7, 'bad tag')"
    # Built without __init__ (what bulk decoders do), it is the same error.
    quick = DecodeError.__new__(DecodeError, "layer-x", 7, "bad tag")
    assert (quick.args, str(quick), repr(quick)) == (error.args, str(error), repr(error))
    for copied in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(copied) is DecodeError
        assert (copied.args, str(copied)) == (error.args, str(error))
    with pytest.raises(AttributeError):
        error.offset = 0  # type: ignore[misc]
    with pytest.raises(DecodeError, match=r"^layer-x: bad tag \(at byte offset 7\)$"):
        raise error


def test_error_helper() -> None:
    cursor = Cursor(b"\x00\x00", "layer-x")
    cursor.pull_uint8()
    at_cursor = cursor.error("bad")
    assert (at_cursor.layer, at_cursor.offset, at_cursor.reason) == ("layer-x", 1, "bad")
    assert cursor.error("bad", offset=0).offset == 0
    assert str(at_cursor) == "layer-x: bad (at byte offset 1)"


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=24),
    st.lists(st.sampled_from(["u8", "u16", "u32", "b3", "rest"]), max_size=12),
)
def test_cursor_matches_struct_or_raises(data: bytes, reads: list[str]) -> None:
    """Any read sequence either agrees with ``struct`` on the same bytes or raises DecodeError."""
    cursor = Cursor(data, "test")
    at = 0
    formats = {"u8": ">B", "u16": ">H", "u32": ">I"}
    for read in reads:
        before = cursor.offset
        failed: DecodeError | None = None
        try:
            if read == "rest":
                value: object = cursor.pull_rest()
                expected: object = data[at:]
            elif read == "b3":
                value = cursor.pull_bytes(3)
                expected = data[at : at + 3]
            else:
                value = getattr(cursor, f"pull_uint{read[1:]}")()
                expected = struct.unpack_from(formats[read], data, at)[0]
        except DecodeError as exc:
            failed = exc
        if failed is not None:
            assert failed.offset == before == at
            assert cursor.offset == before
            continue
        assert value == expected
        at = cursor.offset
    assert cursor.remaining == len(data) - at


# --- writer ---------------------------------------------------------------------------------


def test_writer_builds_the_same_frame() -> None:
    writer = Writer()
    writer.push_uint16(0x1081)
    writer.push_uint16(0x5253)
    writer.push_bytes(b"\x02\x88\x01\x05\xff\x01")
    writer.push_uint8(0x72)
    writer.push_uint8(1)
    writer.push_uint8(0xE7)
    with writer.length_prefix(1):
        writer.push_uint32(228)
    assert writer.getvalue() == GET_RES_E7
    assert len(writer) == len(GET_RES_E7)


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("push_uint8", -1),
        ("push_uint8", 0x100),
        ("push_uint16", 0x10000),
        ("push_uint32", 0x100000000),
        ("push_uint32", -1),
    ],
)
def test_writer_refuses_out_of_range(method: str, value: int) -> None:
    writer = Writer()
    with pytest.raises(EncodeError, match="out of range"):
        getattr(writer, method)(value)
    assert writer.getvalue() == b""


def test_length_prefix_extra_and_nesting() -> None:
    writer = Writer()
    with writer.length_prefix(2, extra=4):
        writer.push_bytes(b"abc")
        with writer.length_prefix(1):
            writer.push_bytes(b"xy")
    assert writer.getvalue() == b"\x00\x0a" + b"abc" + b"\x02xy"


def test_length_prefix_overflow() -> None:
    writer = Writer()
    with pytest.raises(EncodeError, match="does not fit"), writer.length_prefix(1):
        writer.push_bytes(bytes(256))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, 4]), st.integers(0, 0xFFFFFFFF)), max_size=10))
def test_writer_and_cursor_agree(fields: list[tuple[int, int]]) -> None:
    writer = Writer()
    kept = []
    for size, value in fields:
        value &= (1 << (8 * size)) - 1
        getattr(writer, f"push_uint{8 * size}")(value)
        kept.append((size, value))
    cursor = Cursor(writer.getvalue(), "test")
    for size, value in kept:
        assert getattr(cursor, f"pull_uint{8 * size}")() == value
    cursor.expect_end("fields")


# -- BER definite lengths: one reader, the policy named by each layer ----------------------


@pytest.mark.parametrize(
    ("data", "policy", "expected"),
    [
        (b"\x05", AXDR_LENGTH, (5, 1)),
        (b"\x81\x80", AXDR_LENGTH, (0x80, 2)),
        (b"\x81\x05", AXDR_LENGTH, (5, 2)),  # non-minimal: A-XDR reads it
        (b"\x84\x00\x00\x01\x00", AXDR_LENGTH, (256, 5)),
        (b"\x82\x01\x00", MINIMAL_LENGTH, (256, 3)),
    ],
)
def test_lengths_the_policies_accept(
    data: bytes, policy: LengthPolicy, expected: tuple[int, int]
) -> None:
    assert read_ber_length(data, 0, len(data), "t", "len", policy) == expected


@pytest.mark.parametrize(
    ("data", "policy", "reason"),
    [
        (b"", AXDR_LENGTH, "input ended"),
        (b"\x80", AXDR_LENGTH, "is not 0x00..0x7F or 0x81..0x84"),
        (b"\x85\x00\x00\x00\x00\x01", AXDR_LENGTH, "is not 0x00..0x7F or 0x81..0x84"),
        (b"\x82\x01", AXDR_LENGTH, "needs 2 octets, 1 left"),
        (b"\x81\x05", MINIMAL_LENGTH, "not in its shortest form"),
        (b"\x82\x00\x80", MINIMAL_LENGTH, "not in its shortest form"),
        (b"\x83\x01\x00\x00", ACSE_LENGTH, "0x81..0x82"),
        (b"\x03\x00", ACSE_LENGTH, "exceeds 1 remaining bytes"),
    ],
)
def test_lengths_the_policies_refuse_with_layer_and_offset(
    data: bytes, policy: LengthPolicy, reason: str
) -> None:
    with pytest.raises(DecodeError, match=reason) as caught:
        read_ber_length(b"\xaa" + data, 1, 1 + len(data), "layer-x", "len", policy)
    assert caught.value.layer == "layer-x"
    assert caught.value.offset == 1


def test_a_cursor_reads_a_length_and_moves_past_it() -> None:
    cur = Cursor(b"\x82\x01\x00rest", "t")
    assert cur.pull_ber_length("len", MINIMAL_LENGTH) == 256
    assert cur.offset == 3
