"""IoT-route frame codec (``smartmeter_proto.iot.frame`` / ``.senml``; specs/iot/frame.cddl)."""

from __future__ import annotations

import time
import tracemalloc

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.errors import DecodeError, EncodeError
from smartmeter_proto.iot import (
    MAX_DEPTH_CEILING,
    AckResult,
    BackfillRequest,
    BackfillResponse,
    Header,
    Label,
    Message,
    MessageType,
    MeterKind,
    Reading,
    Route,
    SenmlPack,
    SenmlRecord,
    StatusFlags,
    ValveAck,
    ValveAction,
    ValveCancel,
    ValveCommand,
    ValveReservation,
    ValveState,
    ValveStatus,
    decode,
    decode_senml,
    encode,
    encode_senml,
)
from smartmeter_proto.iot.frame import BackfillEntry

# RFC 8428 §6 (CBOR Representation), the hex dump of the CBOR example, verbatim (0x00c3 bytes).
RFC8428_CBOR_EXAMPLE = bytes.fromhex(
    "87a721781b75726e3a6465763a6f773a"
    "3130653230373361303130383030363a"
    "22fb41d303a15b001062236141200500"
    "67766f6c7461676501615602fb405e06"
    "6666666666a3006763757272656e7406"
    "2402fb3ff3333333333333a300676375"
    "7272656e74062302fb3ff4cccccccccc"
    "cda3006763757272656e74062202fb3f"
    "f6666666666666a3006763757272656e"
    "74062102f93e00a3006763757272656e"
    "74062002fb3ff999999999999aa30067"
    "63757272656e74060002fb3ffb333333"
    "333333"
)

# Golden frame of our own format (frame.cddl), pinned so the wire format cannot drift:
# a7 map(7) | 00 01 version 1 | 01 67 "WM-0001" | 02 02 water | 03 02 B-route(IoT)
# 04 18 2a seq 42 | 05 01 reading | 07 82 pack of 2 records:
#   a5 {0:"vol", 2:123.5 (f9 57b8), -2:"urn:dev:wm:0001:", -3:1700000000, -4:"m3"}
#   a3 {0:"vol", 2:123.25 (f9 57b4), 6:-1800 (39 0707)}
WATER_READING = bytes.fromhex(
    "a700010167574d2d303030310202030204182a05010782a50063766f6c02f957b8217075726e3a"
    "6465763a776d3a303030313a221a6553f10023626d33a30063766f6c02f957b406390707"
)

T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def hdr(kind: MeterKind | int = MeterKind.GAS, **kw: object) -> Header:
    fields: dict[str, object] = {"meter_id": "GM-7", "kind": kind, "route": Route.A_IOT, "seq": 1}
    fields.update(kw)
    return Header(**fields)  # type: ignore[arg-type]


def frame_map(**override: object) -> dict[object, object]:
    """The CBOR map of a valve-cancel frame, for hand-made invalid variants."""
    base: dict[object, object] = {0: 1, 1: "GM-7", 2: 1, 3: 1, 4: 1, 5: 7, 7: {0: 9}}
    for key, value in override.items():
        k = int(key.removeprefix("k"))
        if value is None:
            base.pop(k, None)
        else:
            base[k] = value
    return base


def raw(obj: object) -> bytes:
    return cbor2.dumps(obj, canonical=True)


# ---------------------------------------------------------------- RFC 8428


def test_rfc8428_cbor_example_decodes_as_a_senml_pack() -> None:
    assert len(RFC8428_CBOR_EXAMPLE) == 0xC3
    pack = decode_senml(RFC8428_CBOR_EXAMPLE, require_canonical=False)
    first = pack.records[0]
    assert first.base_name == "urn:dev:ow:10e2073a0108006:"
    assert first.base_time == 1276020076.001
    assert first.base_unit == "A"
    assert first.base_version == 5
    assert (first.name, first.unit, first.value) == ("voltage", "V", 120.1)
    currents = [(r.name, r.time, r.value) for r in pack.records[1:]]
    assert currents == [
        ("current", -5, 1.2),
        ("current", -4, 1.3),
        ("current", -3, 1.4),
        ("current", -2, 1.5),
        ("current", -1, 1.6),
        ("current", 0, 1.7),
    ]


def test_rfc8428_example_is_not_deterministic_and_is_rejected_by_default() -> None:
    # The RFC writes -2 (0x21) before 0 (0x00): not bytewise key order (RFC 8949 §4.2.1).
    with pytest.raises(DecodeError) as info:
        decode_senml(RFC8428_CBOR_EXAMPLE)
    assert info.value.layer == "iot"
    assert info.value.offset == 2
    assert "deterministic" in info.value.reason


def test_rfc8428_example_re_encodes_to_the_same_items_in_key_order() -> None:
    pack = decode_senml(RFC8428_CBOR_EXAMPLE, require_canonical=False)
    data = encode_senml(pack)
    assert len(data) == len(RFC8428_CBOR_EXAMPLE)  # same items, only reordered
    assert data.startswith(bytes.fromhex("87a70067766f6c74616765"))  # {0: "voltage", ...
    assert cbor2.loads(data) == cbor2.loads(RFC8428_CBOR_EXAMPLE)
    assert decode_senml(data) == pack
    assert encode_senml(decode_senml(data)) == data


def test_senml_label_numbers_match_rfc8428_table_4() -> None:
    table4 = {"bver": -1, "bn": -2, "bt": -3, "bu": -4, "bv": -5, "bs": -6, "n": 0, "u": 1}
    table4 |= {"v": 2, "vs": 3, "vb": 4, "s": 5, "t": 6, "ut": 7, "vd": 8}
    names = {
        "bver": Label.BASE_VERSION, "bn": Label.BASE_NAME, "bt": Label.BASE_TIME,
        "bu": Label.BASE_UNIT, "bv": Label.BASE_VALUE, "bs": Label.BASE_SUM, "n": Label.NAME,
        "u": Label.UNIT, "v": Label.VALUE, "vs": Label.STRING_VALUE, "vb": Label.BOOL_VALUE,
        "s": Label.SUM, "t": Label.TIME, "ut": Label.UPDATE_TIME, "vd": Label.DATA_VALUE,
    }  # fmt: skip
    assert {k: int(v) for k, v in names.items()} == table4
    assert len(Label) == len(table4)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({99: 1}, "unknown integer label 99"),
        ({"crit_": 1}, "must-understand"),
        ({"v": 1.0}, "integer CBOR label"),
        ({2: 1.5, 3: "x"}, "more than one of v/vs/vb/vd"),
        ({2: True}, "expected number"),
        ({-1: -1}, "expected uint"),
        ({4: 1}, "expected bool"),
        ({8: "text"}, "expected bytes"),
        ({0: b"bytes"}, "expected text"),
        ({2: float("nan")}, "expected number"),
    ],
)
def test_invalid_senml_records_are_rejected(record: dict[object, object], reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_senml(raw([record]))
    assert reason in info.value.reason


def test_empty_pack_and_record_limit() -> None:
    with pytest.raises(DecodeError, match="at least one record"):
        decode_senml(raw([]))
    with pytest.raises(DecodeError, match="max_records=2"):
        decode_senml(raw([{0: "a"}] * 3), max_records=2)
    assert len(decode_senml(raw([{0: "a"}] * 2), max_records=2).records) == 2


def test_unknown_text_label_survives_a_round_trip() -> None:
    data = raw([{0: "flow", 2: 0.5, "src": [1, "meter"]}])
    pack = decode_senml(data)
    assert pack.records[0].extensions == (("src", raw([1, "meter"])),)
    assert encode_senml(pack) == data


# ---------------------------------------------------------------- scenarios


def test_water_meter_reading_golden_bytes() -> None:
    msg = decode(WATER_READING)
    assert isinstance(msg, Reading)
    assert msg.header == Header("WM-0001", MeterKind.WATER, Route.B_IOT, 42)
    base, older = msg.pack.records
    assert (base.base_name, base.base_time, base.base_unit) == ("urn:dev:wm:0001:", T0, "m3")
    assert (base.name, base.value) == ("vol", 123.5)
    assert (older.name, older.time, older.value) == ("vol", -1800, 123.25)
    assert encode(msg) == WATER_READING


def test_gas_meter_with_leak_alarm_and_safety_shut_off() -> None:
    flags = StatusFlags.LEAK | StatusFlags.SHUT_OFF
    msg = Reading(
        hdr(MeterKind.GAS, seq=1001, flags=flags),
        SenmlPack((SenmlRecord(base_name="urn:dev:gm:7:", name="vol", unit="m3", value=845.31,
                               time=T0),)),
    )  # fmt: skip
    data = encode(msg)
    out = decode(data)
    assert out == msg
    assert StatusFlags.LEAK in out.header.flags
    assert StatusFlags.TAMPER not in out.header.flags
    assert cbor2.loads(data)[6] == 0b1001  # envelope key 6: bit 0 leak, bit 3 shut-off


def test_no_flags_means_no_key_6_and_explicit_zero_is_rejected() -> None:
    assert 6 not in cbor2.loads(encode(ValveCancel(hdr(), 9)))
    with pytest.raises(DecodeError, match="zero flags must be omitted"):
        decode(raw(frame_map(k6=0)))


def test_unknown_flag_bits_survive() -> None:
    data = raw(frame_map(k6=0x81))
    msg = decode(data)
    assert int(msg.header.flags) == 0x81
    assert StatusFlags.LEAK in msg.header.flags
    assert encode(msg) == data


def test_pv_special_meter_reading_in_kwh_and_w() -> None:
    # "kWh" is a secondary unit (RFC 8798 §3); "W" is a primary SenML unit (RFC 8428 §12.1).
    pack = SenmlPack(
        (
            SenmlRecord(base_name="urn:dev:pv:pcs-01:", base_time=T0, name="gen", unit="kWh",
                        value=12345.6),
            SenmlRecord(name="power", unit="W", value=3210),
        )
    )  # fmt: skip
    msg = Reading(hdr(MeterKind.SPECIAL_PV, meter_id=b"\x01\x02\x03\x04", route=Route.B_IOT), pack)
    out = decode(encode(msg))
    assert out == msg
    assert out.header.kind is MeterKind.SPECIAL_PV
    assert [(r.unit, r.value) for r in out.pack.records] == [("kWh", 12345.6), ("W", 3210)]
    assert type(out.pack.records[1].value) is int  # integers stay integers


def test_valve_reservation_ack_status_and_cancel() -> None:
    h = hdr(MeterKind.WATER, meter_id="WM-0001")
    command = ValveCommand(h, command_id=77, action=ValveAction.CLOSE, activate_at=T0 + 3600)
    ack = ValveAck(h, 77, AckResult.SCHEDULED)
    status = ValveStatus(h, ValveState.OPEN, ValveReservation(77, ValveAction.CLOSE, T0 + 3600))
    cancel = ValveCancel(h, 77)
    cancelled = ValveAck(h, 77, AckResult.DONE)
    idle = ValveStatus(h, ValveState.OPEN)
    for msg in (command, ack, status, cancel, cancelled, idle):
        data = encode(msg)
        assert decode(data) == msg
        assert cbor2.loads(data)[5] == msg.TYPE
    assert cbor2.loads(encode(command))[7] == {0: 77, 1: 2, 2: T0 + 3600}
    assert cbor2.loads(encode(status))[7] == {0: 1, 1: {0: 77, 1: 2, 2: T0 + 3600}}
    immediate = ValveCommand(h, 78, ValveAction.OPEN)
    assert cbor2.loads(encode(immediate))[7] == {0: 78, 1: 1}


def _vol(value: float, t: int = T0) -> SenmlPack:
    return SenmlPack((SenmlRecord(base_time=t, name="vol", unit="m3", value=value),))


def test_backfill_by_sequence_number() -> None:
    h = hdr(MeterKind.GAS)
    request = BackfillRequest(h, request_id=3, first_seq=41, last_seq=44)
    entries = (BackfillEntry(41, T0, _vol(1.5)), BackfillEntry(43, T0 + 120, _vol(1.75, T0 + 120)))
    response = BackfillResponse(h, 3, entries, more=True)
    gone = BackfillResponse(h, 3, ())
    for msg in (request, response, gone):
        data = encode(msg)
        assert decode(data) == msg
        assert encode(decode(data)) == data
    assert cbor2.loads(encode(request))[7] == {0: 3, 1: 41, 2: 44}
    wire = cbor2.loads(encode(response))[7]
    assert wire[2] is True
    assert [(e[0], e[1]) for e in wire[1]] == [(41, T0), (43, T0 + 120)]  # seq 42 is gone
    assert wire[1][0][2] == [{-3: T0, 0: "vol", 1: "m3", 2: 1.5}]
    assert cbor2.loads(encode(gone))[7] == {0: 3, 1: [], 2: False}
    single = BackfillRequest(h, 4, 7, 7)
    assert decode(encode(single)) == single


def _entry(seq: object, t: object = T0, pack: object = None) -> dict[int, object]:
    return {0: seq, 1: t, 2: [{0: "vol", 2: 1}] if pack is None else pack}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({0: 3, 1: 10, 2: 9}, "first_seq 10 after last_seq 9"),
        ({0: 3, 1: 0, 2: 9}, "first_seq: seq 0 below 1"),
        ({0: 3, 1: 1, 2: 0}, "last_seq: seq 0 below 1"),
        ({0: 3, 1: -1, 2: 9}, "expected uint"),
        ({0: 3, 1: 1}, "missing key 2"),
        ({0: 3, 1: 1, 2: 2, 3: 0}, "unknown key 3"),
    ],
)
def test_invalid_backfill_requests(payload: dict[int, object], reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(raw(frame_map(k5=2, k7=payload)))
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([_entry(5), _entry(4)], "payload.entries[1]: unsorted seq 4 after 5"),
        ([_entry(5), _entry(5)], "payload.entries[1]: duplicate seq 5 after 5"),
        ([_entry(0)], "payload.entries[0].seq: seq 0 below 1"),
        ([_entry(1, -5)], "entries[0].time: expected uint"),
        ([_entry(1, 1.5)], "entries[0].time: expected uint"),
        ([_entry(1, T0, [])], "entries[0].pack: a SenML pack needs at least one record"),
        ([{0: 1, 1: T0}], "entries[0]: missing key 2"),
        ([{**_entry(1), 3: 0}], "entries[0]: unknown key 3"),
        ([[1, T0, [{0: "vol"}]]], "entries[0]: expected a map"),
        ({0: _entry(1)}, "payload.entries: expected an array"),
    ],
)
def test_invalid_backfill_entries(entries: object, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(raw(frame_map(k5=3, k7={0: 3, 1: entries, 2: False})))
    assert info.value.layer == "iot"
    assert reason in info.value.reason


def test_backfill_response_needs_its_entries_and_more_keys() -> None:
    with pytest.raises(DecodeError, match="missing key 1"):
        decode(raw(frame_map(k5=3, k7={0: 3, 2: False})))  # the old "nothing stored" form
    with pytest.raises(DecodeError, match="more: expected bool"):
        decode(raw(frame_map(k5=3, k7={0: 3, 1: [], 2: 0})))


def test_backfill_entries_count_against_max_records() -> None:
    msg = BackfillResponse(hdr(), 1, tuple(BackfillEntry(s, T0 + s, _vol(s)) for s in (1, 2, 3)))
    data = encode(msg)
    assert decode(data, max_records=3) == msg
    with pytest.raises(DecodeError, match="3 entries exceed max_records=2"):
        decode(data, max_records=2)
    with pytest.raises(EncodeError, match="max_records=2"):
        encode(msg, max_records=2)


def test_unknown_codes_keep_their_raw_value() -> None:
    msg = ValveAck(hdr(kind=99, route=7), 1, result=42)
    out = decode(encode(msg))
    assert isinstance(out, ValveAck)
    assert (out.header.kind, out.header.route, out.result) == (99, 7, 42)
    assert type(out.result) is int


# ---------------------------------------------------------------- envelope rules


def test_critical_and_extension_keys() -> None:
    for key in (8, 31, -1):
        with pytest.raises(DecodeError, match="unknown critical key"):
            decode(raw({**frame_map(), key: 0}))
    text_key = frame_map()
    text_key["x"] = 0
    with pytest.raises(DecodeError, match="envelope key must be an integer"):
        decode(raw(text_key))
    data = raw({**frame_map(), 32: "note", 1000: [1, 2]})
    msg = decode(data)
    assert msg.header.extensions == ((32, raw("note")), (1000, raw([1, 2])))
    assert encode(msg) == data


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"k0": 2}, "unsupported version 2"),
        ({"k0": None}, "missing key 0"),
        ({"k1": 5}, "expected text or bytes"),
        ({"k1": ""}, "length 0"),
        ({"k1": "x" * 65}, "length 65"),
        ({"k2": -1}, "expected uint"),
        ({"k4": True}, "expected uint"),
        ({"k5": 99}, "unknown message type 99"),
        ({"k7": None}, "missing key 7"),
        ({"k7": {0: 9, 1: 1}}, "unknown key 1"),
        ({"k7": [1]}, "expected a map"),
        ({"k5": 1, "k7": {}}, "expected an array"),
        ({"k5": 4, "k7": {0: 1}}, "missing key 1"),
    ],
)
def test_schema_violations(override: dict[str, object], reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(raw(frame_map(**override)))
    assert info.value.layer == "iot"
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("data", "offset", "reason"),
    [
        (b"", 0, "truncated"),
        (bytes.fromhex("a1"), 0, "declares 2 items, 0 bytes left"),
        (bytes.fromhex("1a0001"), 0, "truncated head"),
        (bytes.fromhex("1801"), 0, "shortest form"),  # 1 in a 2-byte head
        (bytes.fromhex("9f00ff"), 0, "indefinite length"),
        (bytes.fromhex("ff"), 0, "unexpected break"),
        (bytes.fromhex("1c"), 0, "reserved additional information 28"),
        (bytes.fromhex("c11a00000001"), 0, "tag 1 not allowed"),
        (bytes.fromhex("f6"), 0, "simple value 22"),  # null
        (bytes.fromhex("f814"), 0, "simple value 20"),  # false in the 2-byte form
        (bytes.fromhex("8262c328"), 1, "not UTF-8"),
        (bytes.fromhex("0000"), 1, "trailing"),
        (bytes.fromhex("fb3ff0000000000000"), 0, "deterministic"),  # 1.0 as a double
        (bytes.fromhex("a2020001f4"), 1, "deterministic"),  # keys out of order
    ],
)
def test_structural_errors_name_their_offset(data: bytes, offset: int, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.offset == offset
    assert reason in info.value.reason


def test_duplicate_keys_are_rejected() -> None:
    with pytest.raises(DecodeError):
        decode(bytes.fromhex("a200010001"))


def test_max_bytes_limit() -> None:
    data = encode(ValveCancel(hdr(), 9))
    assert decode(data, max_bytes=len(data)) == ValveCancel(hdr(), 9)
    with pytest.raises(DecodeError, match="exceed max_bytes"):
        decode(data, max_bytes=len(data) - 1)


# ---------------------------------------------------------------- hostile input


def _fails_fast(data: bytes, **limits: int) -> DecodeError:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DecodeError) as info:
            decode(data, **limits)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 1_000_000 + 4 * len(data)
    return info.value


@pytest.mark.parametrize("major", [0x5B, 0x7B, 0x9B, 0xBB])  # bstr, tstr, array, map
def test_huge_declared_length_fails_fast_without_allocating(major: int) -> None:
    header = bytes([major]) + (1 << 32).to_bytes(8, "big")  # declares 2**32 bytes/items
    assert len(header) == 9
    error = _fails_fast(header)
    assert error.offset == 0
    assert "left" in error.reason


def test_huge_length_inside_a_valid_frame_prefix() -> None:
    data = bytes.fromhex("a1015b") + (1 << 32).to_bytes(8, "big")  # {1: h'...'}
    error = _fails_fast(data)
    assert error.offset == 2


def test_cbor2_alone_does_not_preallocate_a_declared_length() -> None:
    # Documents why the pre-scan is a guard and not a workaround: cbor2 6.x reads in chunks.
    tracemalloc.start()
    try:
        with pytest.raises(cbor2.CBORDecodeError):
            cbor2.loads(bytes([0x5B]) + (1 << 32).to_bytes(8, "big"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


@pytest.mark.parametrize("opener", [b"\x81", b"\xa1\x00"])
def test_deep_nesting_fails_fast_without_recursion(opener: bytes) -> None:
    data = opener * 200_000 + b"\x00"
    error = _fails_fast(data, max_bytes=len(data))
    assert "max_depth=16" in error.reason
    assert error.offset == 16 * len(opener)


def test_max_depth_has_a_ceiling() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        decode(b"\x00", max_depth=MAX_DEPTH_CEILING + 1)


# ---------------------------------------------------------------- encode side


@pytest.mark.parametrize(
    "msg",
    [
        ValveCancel(hdr(meter_id=""), 1),
        ValveCancel(hdr(seq=-1), 1),
        ValveCancel(hdr(seq=1 << 64), 1),
        ValveCancel(hdr(version=2), 1),
        ValveCommand(hdr(), 1, ValveAction.OPEN, activate_at=-5),
        Reading(hdr(), SenmlPack(())),
        Reading(hdr(), SenmlPack((SenmlRecord(value=float("inf")),))),
        Reading(hdr(), SenmlPack((SenmlRecord(value=1, string_value="x"),))),
        Reading(hdr(), SenmlPack((SenmlRecord(extensions=(("x", b"\xff"),)),))),
        Reading(hdr(), SenmlPack((SenmlRecord(extensions=(("x", b"\x81" * 100 + b"\x00"),)),))),
        ValveCancel(hdr(extensions=((8, raw(1)),)), 1),
        BackfillRequest(hdr(), 1, 0, 3),
        BackfillRequest(hdr(), 1, 5, 4),
        BackfillRequest(hdr(), 1, 1, 1 << 64),
        BackfillResponse(hdr(), 1, (BackfillEntry(2, T0, _vol(1)), BackfillEntry(1, T0, _vol(1)))),
        BackfillResponse(hdr(), 1, (BackfillEntry(2, T0, _vol(1)), BackfillEntry(2, T0, _vol(1)))),
        BackfillResponse(hdr(), 1, (BackfillEntry(0, T0, _vol(1)),)),
        BackfillResponse(hdr(), 1, (BackfillEntry(1, -1, _vol(1)),)),
        BackfillResponse(hdr(), 1, [BackfillEntry(1, T0, _vol(1))]),  # type: ignore[arg-type]
        BackfillResponse(hdr(), 1, (BackfillEntry(1, T0, SenmlPack(())),)),
    ],
)
def test_encode_refuses_what_decode_would_reject(msg: Message) -> None:
    with pytest.raises(EncodeError):
        encode(msg)


# ---------------------------------------------------------------- properties

_uint64 = st.integers(0, (1 << 64) - 1)
_number = st.one_of(
    st.integers(-(1 << 63), (1 << 64) - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
_text = st.text(max_size=12)
_cbor_value = st.recursive(
    st.integers(-1000, 1000) | st.text(max_size=4) | st.booleans() | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
).map(lambda v: cbor2.dumps(v, canonical=True))


@st.composite
def _records(draw: st.DrawFn) -> SenmlRecord:
    fields: dict[str, object] = {}
    for name, strategy in (
        ("base_name", _text), ("base_time", _number), ("base_unit", _text),
        ("base_value", _number), ("base_sum", _number), ("base_version", _uint64),
        ("name", _text), ("unit", st.sampled_from(["m3", "l", "W", "J", "kWh", "Wh", "%EL"])),
        ("sum", _number), ("time", _number), ("update_time", _number),
    ):  # fmt: skip
        if draw(st.booleans()):
            fields[name] = draw(strategy)
    value_field = draw(st.sampled_from([None, "value", "string_value", "bool_value", "data_value"]))
    value_strategy = {
        "value": _number, "string_value": _text, "bool_value": st.booleans(),
        "data_value": st.binary(max_size=8),
    }  # fmt: skip
    if value_field is not None:
        fields[value_field] = draw(value_strategy[value_field])
    labels = draw(st.lists(st.text(min_size=1, max_size=5).filter(
        lambda s: not s.endswith("_") and s not in {"v", "n", "u", "t", "s", "bn", "bt", "bu",
                                                   "bv", "bs", "bver", "vs", "vb", "vd", "ut"}),
        max_size=2, unique=True))  # fmt: skip
    ext = tuple(sorted(((k, draw(_cbor_value)) for k in labels), key=lambda kv: raw(kv[0])))
    return SenmlRecord(**fields, extensions=ext)  # type: ignore[arg-type]


_packs = st.lists(_records(), min_size=1, max_size=4).map(lambda rs: SenmlPack(tuple(rs)))
_headers = st.builds(
    Header,
    meter_id=st.one_of(st.text(min_size=1, max_size=16), st.binary(min_size=1, max_size=64)),
    kind=st.one_of(st.sampled_from(MeterKind), st.integers(0, 1000)),
    route=st.one_of(st.sampled_from(Route), _uint64),
    seq=_uint64,
    flags=st.integers(0, 0xFFFF).map(StatusFlags),
    extensions=st.lists(st.tuples(st.integers(32, 5000), _cbor_value), max_size=2,
                        unique_by=lambda kv: kv[0]).map(lambda kvs: tuple(sorted(kvs))),
)  # fmt: skip
_reading_seq = st.integers(1, (1 << 64) - 1)
_entries = st.lists(
    st.tuples(_reading_seq, _uint64, _packs), max_size=4, unique_by=lambda e: e[0]
).map(lambda es: tuple(BackfillEntry(*e) for e in sorted(es, key=lambda e: e[0])))
_action = st.one_of(st.sampled_from(ValveAction), st.integers(0, 300))
_messages = st.one_of(
    st.builds(Reading, _headers, _packs),
    st.builds(
        lambda h, r, a, b: BackfillRequest(h, r, min(a, b), max(a, b)),
        _headers, _uint64, _reading_seq, _reading_seq,
    ),
    st.builds(BackfillResponse, _headers, _uint64, _entries, st.booleans()),
    st.builds(ValveCommand, _headers, _uint64, _action, st.none() | _uint64),
    st.builds(ValveAck, _headers, _uint64, st.one_of(st.sampled_from(AckResult), _uint64)),
    st.builds(
        ValveStatus, _headers, st.one_of(st.sampled_from(ValveState), _uint64),
        st.none() | st.builds(ValveReservation, _uint64, _action, _uint64),
    ),
    st.builds(ValveCancel, _headers, _uint64),
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(_messages)
def test_every_message_type_round_trips(msg: Message) -> None:
    data = encode(msg)
    back = decode(data)
    assert back == msg
    assert encode(back) == data
    assert cbor2.loads(data)[5] == msg.TYPE


def test_the_property_strategy_covers_every_message_type() -> None:
    kinds = {cls.TYPE for cls in (Reading, BackfillRequest, BackfillResponse, ValveCommand,
                                  ValveAck, ValveStatus, ValveCancel)}  # fmt: skip
    assert kinds == set(MessageType)


@settings(max_examples=300, deadline=None)
@given(_packs)
def test_senml_packs_round_trip(pack: SenmlPack) -> None:
    data = encode_senml(pack)
    assert decode_senml(data) == pack
    assert encode_senml(decode_senml(data)) == data


def _decode_or_error(data: bytes) -> None:
    try:
        msg = decode(data)
    except DecodeError as exc:
        assert exc.layer == "iot"
        assert 0 <= exc.offset <= len(data)
    else:
        assert encode(msg) == data  # whatever is accepted is canonical


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_give_a_message_or_decode_error(data: bytes) -> None:
    _decode_or_error(data)


@settings(max_examples=1000, deadline=None)
@given(_messages, st.data())
def test_mutated_frames_give_a_message_or_decode_error(msg: Message, data: st.DataObject) -> None:
    frame = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(frame) - 1))
        frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    _decode_or_error(bytes(frame[:cut]) if data.draw(st.booleans()) else bytes(frame))


@settings(max_examples=500, deadline=None)
@given(st.recursive(
    st.integers(-3, 40) | st.text(max_size=3) | st.booleans() | st.binary(max_size=3)
    | st.floats(allow_nan=False, width=16),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.integers(-3, 40), inner,
                                                                max_size=4),
    max_leaves=12,
))  # fmt: skip
def test_arbitrary_cbor_gives_a_message_or_decode_error(obj: object) -> None:
    _decode_or_error(raw(obj))
