"""hes.push: the head end's decoding of A-route pushes and read-back rows."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartmeter_proto.aroute import wrapper
from smartmeter_proto.aroute.axdr import Data, DataType
from smartmeter_proto.aroute.cosem import datetime_from_data
from smartmeter_proto.aroute.security import InvocationCounters, split_ciphered, unprotect
from smartmeter_proto.errors import AuthError, DecodeError
from smartmeter_proto.hes.push import (
    PERIOD_5MIN,
    PERIOD_30MIN,
    POWER_EVENT,
    MeterKeys,
    PowerEvent,
    PowerEventKind,
    ValueReading,
    classify_push,
    open_push,
    open_push_datagram,
    open_push_fields,
    read_notification,
    readings_from_rows,
)
from smartmeter_proto.security_state import MemoryStateStore
from smartmeter_proto.sim.ameter import SimulatedAMeter
from smartmeter_proto.sim.load_curve import JST

EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLE = bytes.fromhex("4D4D4D0000BC614E")
START = datetime(2026, 5, 1, 11, 59, tzinfo=JST)


def keys(title: bytes) -> MeterKeys | None:
    return MeterKeys(EK, AK) if title == TITLE else None


def _meter() -> SimulatedAMeter:
    return SimulatedAMeter(
        start=START,
        system_title=TITLE,
        client_system_title=bytes(8),
        ek=EK,
        ak=AK,
        state=MemoryStateStore(),
        push_5min=True,
    )


def _pushes() -> tuple[SimulatedAMeter, list[bytes]]:
    meter = _meter()
    meter.tick(START + timedelta(minutes=40))
    meter.outage(START + timedelta(minutes=41))
    meter.restore(START + timedelta(minutes=50))
    return meter, meter.pushes_to_send()


def test_pushes_open_to_the_meters_own_values_and_power_events() -> None:
    meter, pushes = _pushes()
    counters = InvocationCounters()
    opened = [open_push(p, keys, counters) for p in pushes]
    values = [o.record for o in opened if isinstance(o.record, ValueReading)]
    events = [o.record for o in opened if isinstance(o.record, PowerEvent)]
    profile = meter.profiles[
        next(o for o in meter.profiles if meter.profiles[o].capture_period == PERIOD_30MIN)
    ]
    truth = {
        int(datetime_from_data(row[0]).to_datetime().timestamp()): tuple(d.value for d in row[1:])
        for row in profile.buffer
    }
    thirty = {v.period_end: v.values for v in values if v.period == PERIOD_30MIN}
    assert thirty
    assert all(truth[at] == pushed for at, pushed in thirty.items())
    assert {v.period for v in values} == {PERIOD_5MIN, PERIOD_30MIN}
    assert [e.kind for e in events] == [PowerEventKind.LAST_GASP, PowerEventKind.RESTORED]
    assert events[0].at == int((START + timedelta(minutes=41)).timestamp())
    assert [o.invocation_counter for o in opened] == sorted({o.invocation_counter for o in opened})


def test_replayed_forged_and_unknown_pushes_are_refused() -> None:
    _, pushes = _pushes()
    counters = InvocationCounters()
    open_push(pushes[0], keys, counters)
    with pytest.raises(AuthError, match="replayed"):
        open_push(pushes[0], keys, counters)
    forged = bytearray(pushes[1])
    forged[-1] ^= 0x01
    with pytest.raises(AuthError, match="tag does not verify"):
        open_push(bytes(forged), keys, counters)
    stranger = bytearray(pushes[1])
    stranger[2:10] = b"XXX\x00\x00\x00\x00\x01"
    with pytest.raises(AuthError, match="unknown meter"):
        open_push(bytes(stranger), keys, counters)
    # the forged copy was not recorded: the genuine push still opens
    assert open_push(pushes[1], keys, counters).invocation_counter == 2


def test_a_push_whose_title_field_names_another_meter_is_refused() -> None:
    fields = (
        Data(DataType.OCTET_STRING, bytes((0, 3, 25, 9, 0, 255))),
        Data(DataType.OCTET_STRING, b"OTHER\x00\x00\x01"),
        Data(DataType.OCTET_STRING, bytes(12)),
        Data(DataType.DOUBLE_LONG_UNSIGNED, 1),
    )
    with pytest.raises(AuthError):
        classify_push(Data(DataType.STRUCTURE, fields), TITLE)


def test_the_datagram_form_carries_the_wrapper() -> None:
    _, pushes = _pushes()
    datagram = wrapper.encode(wrapper.WrapperFrame(1, 1, pushes[0]))
    assert open_push_datagram(datagram, keys, None).invocation_counter == 1
    with pytest.raises(DecodeError):
        open_push_datagram(datagram[:5], keys, None)


def test_rows_read_back_equal_the_profile() -> None:
    meter = _meter()
    meter.tick(START + timedelta(hours=3))
    obis = next(o for o, p in meter.profiles.items() if p.capture_period == PERIOD_30MIN)
    rows = Data(
        DataType.ARRAY,
        tuple(Data(DataType.STRUCTURE, tuple(r)) for r in meter.profiles[obis].buffer),
    )
    readings = readings_from_rows(rows, TITLE, PERIOD_30MIN)
    assert len(readings) == 6
    assert [r.period_end % PERIOD_30MIN for r in readings] == [0] * 6
    assert readings[-1].values[0] >= readings[0].values[0]


@pytest.mark.parametrize(
    "body",
    [
        Data(DataType.NULL, None),
        Data(DataType.STRUCTURE, ()),
        Data(DataType.STRUCTURE, (Data(DataType.UNSIGNED, 1),)),
        Data(DataType.STRUCTURE, (Data(DataType.OCTET_STRING, bytes(6)),)),
        Data(
            DataType.STRUCTURE,
            (
                Data(DataType.OCTET_STRING, bytes((0, 0, 25, 9, 0, 255))),
                Data(DataType.OCTET_STRING, bytes(12)),
            ),
        ),
        Data(
            DataType.STRUCTURE,
            (
                Data(DataType.OCTET_STRING, bytes((0, 0, 25, 9, 0, 255))),
                Data(DataType.OCTET_STRING, bytes(12)),
                Data(DataType.UNSIGNED, 99),
            ),
        ),
    ],
)
def test_malformed_bodies_raise_decode_error(body: Data) -> None:
    with pytest.raises(DecodeError):
        classify_push(body, TITLE)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_push_or_decode_or_auth_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError, AuthError):
        open_push(data, keys, InvocationCounters())


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_genuine_pushes_never_escape_the_error_model(draw: st.DataObject) -> None:
    _, pushes = _pushes()
    raw = bytearray(draw.draw(st.sampled_from(pushes)))
    for _ in range(draw.draw(st.integers(1, 4))):
        raw[draw.draw(st.integers(0, len(raw) - 1))] = draw.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError, AuthError):
        open_push(bytes(raw), keys, InvocationCounters())


# ------------------------------------------------------- compiled layouts = general path

_PLAIN = [unprotect(p, ek=EK, ak=AK).apdu for p in _pushes()[1]]
# date-time octets (Blue Book 4.1.6.1) a mutation may set: month 13, hour 24, minute 60,
# a wildcard second, deviation 0x8000 (not specified) and out of range
_BAD_TIMES = [(2, 13), (5, 24), (6, 60), (7, 0xFF), (9, 0x80), (10, 0x00), (9, 0x7F)]


def _outcome(apdu: bytes, title: bytes, *, compiled: bool) -> object:
    try:
        return read_notification(apdu, title, compiled=compiled)
    except (DecodeError, AuthError) as exc:
        return type(exc), str(exc)


def _mutated(draw: st.DataObject, apdu: bytes) -> bytes:
    raw = bytearray(apdu)
    for _ in range(draw.draw(st.integers(1, 3))):
        action = draw.draw(st.sampled_from(["set", "flip", "time", "cut", "grow"]))
        at = draw.draw(st.integers(0, len(raw) - 1)) if raw else 0
        if action == "set" and raw:
            raw[at] = draw.draw(st.integers(0, 255))
        elif action == "flip" and raw:
            raw[at] ^= 1 << draw.draw(st.integers(0, 7))
        elif action == "time":  # inside the notification's or the body's date-time
            start = draw.draw(
                st.sampled_from(
                    [
                        i
                        for i in range(len(raw) - 13)
                        if bytes(raw[i : i + 2]) in (b"\x09\x0c", b"\x00\x0c")
                    ]
                    or [0]
                )
            )
            offset, value = draw.draw(st.sampled_from(_BAD_TIMES))
            if start + 2 + offset < len(raw):
                raw[start + 2 + offset] = value
        elif action == "cut":
            del raw[at : at + draw.draw(st.integers(1, 3))]
        else:
            raw[at:at] = draw.draw(st.binary(min_size=1, max_size=3))
    return bytes(raw)


def test_genuine_pushes_read_the_same_through_their_layouts() -> None:
    for apdu in _PLAIN:  # the first reading of each shape learns its layout
        assert read_notification(apdu, TITLE) == read_notification(apdu, TITLE, compiled=False)
    records = [read_notification(apdu, TITLE) for apdu in _PLAIN]
    assert records == [read_notification(apdu, TITLE, compiled=False) for apdu in _PLAIN]
    assert {r.period for r in records} == {PERIOD_30MIN, PERIOD_5MIN, POWER_EVENT}
    other = b"OTHER\x00\x00\x01"
    assert _outcome(_PLAIN[0], other, compiled=True) == _outcome(_PLAIN[0], other, compiled=False)


@settings(max_examples=3000, deadline=None)
@given(st.data())
def test_mutated_pushes_give_the_same_record_or_refusal_both_ways(draw: st.DataObject) -> None:
    for apdu in _PLAIN:
        read_notification(apdu, TITLE)  # layouts learnt
    apdu = _mutated(draw, draw.draw(st.sampled_from(_PLAIN)))
    title = draw.draw(st.sampled_from([TITLE, TITLE[:7] + b"\x00"]))
    assert _outcome(apdu, title, compiled=True) == _outcome(apdu, title, compiled=False)


def test_open_push_fields_is_open_push_in_one_pass() -> None:
    _, pushes = _pushes()
    meter = keys(TITLE)
    assert meter is not None
    for apdu in pushes:
        record = open_push_fields(split_ciphered(apdu), meter)
        opened = open_push(apdu, keys, None)
        said = opened.record
        assert record.sent_at == opened.sent_at
        if isinstance(said, ValueReading):
            assert (record.period, record.at, record.values) == (
                said.period,
                said.period_end,
                said.values,
            )
        else:
            assert (record.period, record.at, record.values) == (
                POWER_EVENT,
                said.at,
                (int(said.kind),),
            )
