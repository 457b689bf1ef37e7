"""COSEM interface classes and OBIS codes.

Oracles: gurux_dlms (Gurux.DLMS.Python) object classes for class ids and attribute/method
counts; dlms-cosem (pwitab/dlms-cosem) for the byte encoding of capture objects, range
descriptors and A-XDR scalars. Both are test-time tools only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.aroute.axdr import CosemDateTime, Data, DataType, decode_data, encode_data
from smartmeter_proto.aroute.cosem import (
    ActionItem,
    AssociationLN,
    CaptureObject,
    ClassId,
    Clock,
    ControlState,
    CosemAccessError,
    CosemData,
    DataAccessResult,
    DisconnectControl,
    EntryDescriptor,
    Limiter,
    ProfileGeneric,
    PushSetup,
    RangeDescriptor,
    Register,
    SecuritySetup,
    Unit,
    ValueDefinition,
    datetime_data,
    parse_selective_access,
)
from smartmeter_proto.aroute.obis import Obis

#: gurux-dlms is GPLv2: only the extra "interop" installs it; its cross-checks skip.
GURUX_MISSING = "gurux-dlms (GPLv2 oracle, extra 'interop') is not installed"
dlms_cosem = pytest.importorskip("dlms_cosem")
from dlms_cosem import cosem as dc_cosem  # type: ignore[import-untyped]  # noqa: E402
from dlms_cosem import dlms_data as dc_data  # noqa: E402
from dlms_cosem import enumerations as dc_enum  # noqa: E402
from dlms_cosem.cosem import selective_access as dc_sa  # type: ignore[import-untyped]  # noqa: E402
from dlms_cosem.cosem.capture_object import CaptureObject as DcCaptureObject  # type: ignore[import-untyped]  # noqa: E402

CLOCK_LN = Obis.parse("0-0:1.0.0.255")
ENERGY_LN = Obis.parse("1-0:1.8.0.255")
JST = dt.timezone(dt.timedelta(hours=9))


# --- OBIS ----------------------------------------------------------------------------------


def test_obis_text_forms() -> None:
    code = Obis.parse("1-0:1.8.0.255")
    assert code == Obis.parse("1.0.1.8.0.255") == Obis.parse("1-0:1.8.0*255")
    assert code == Obis.parse("1-0:1.8.0")  # five groups: F defaults to 255
    assert bytes(code) == b"\x01\x00\x01\x08\x00\xff"
    assert str(code) == "1-0:1.8.0.255"
    assert code.dotted == "1.0.1.8.0.255"
    assert Obis.from_bytes(bytes(code)) == code


@pytest.mark.parametrize("text", ["", "1-0:1.8", "1-0:1.8.0.256", "a.b.c.d.e.f", "1.0.1.8.0.255.1"])
def test_obis_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="OBIS"):
        Obis.parse(text)


def test_obis_manufacturer_specific() -> None:
    # gurux OBISCodes.txt "Manufacturer specific" rows: C 128..199 or 240, D/E 128..254.
    assert Obis.parse("0-0:128.17.0.255").manufacturer_specific
    assert Obis.parse("0-0:96.3.128.255").manufacturer_specific
    assert not Obis.parse("0-0:96.3.10.255").manufacturer_specific
    assert not ENERGY_LN.manufacturer_specific


@given(st.binary(min_size=6, max_size=6))
def test_obis_round_trip(raw: bytes) -> None:
    code = Obis.from_bytes(raw)
    assert bytes(Obis.parse(str(code))) == raw == bytes(Obis.parse(code.dotted))
    # dlms-cosem agrees on the 6-byte form.
    assert dc_cosem.Obis.from_bytes(raw).to_bytes() == raw


# --- class ids and attribute/method counts against gurux_dlms -------------------------------


def _ours() -> list[tuple[object, str]]:
    lim = Limiter(
        Obis.parse("0-0:17.0.0.255"),
        ValueDefinition(3, ENERGY_LN, 2),
        threshold_normal=Data(DataType.LONG_UNSIGNED, 30),
        threshold_emergency=Data(DataType.LONG_UNSIGNED, 10),
        min_over_threshold_duration=10,
        min_under_threshold_duration=10,
        action_over=ActionItem(Obis.parse("0-0:10.0.106.255"), 1),
        action_under=ActionItem(Obis.parse("0-0:10.0.106.255"), 2),
    )
    return [
        (CosemData(Obis.parse("0-0:96.1.0.255"), Data(DataType.UNSIGNED, 1)), "GXDLMSData"),
        (Register(ENERGY_LN, Data(DataType.DOUBLE_LONG_UNSIGNED, 0), 1, Unit.WH), "GXDLMSRegister"),
        (
            ProfileGeneric(
                Obis.parse("1-0:99.1.0.255"), (), capture_period=1800, profile_entries=2
            ),
            "GXDLMSProfileGeneric",
        ),
        (
            Clock(CLOCK_LN, CosemDateTime(2024, 4, 1, 1, 0, 0, 0, 0, -540, 0), time_zone=-540),
            "GXDLMSClock",
        ),
        (DisconnectControl(Obis.parse("0-0:96.3.10.255")), "GXDLMSDisconnectControl"),
        (lim, "GXDLMSLimiter"),
        (PushSetup(Obis.parse("0-0:25.9.0.255"), (), destination=b"hes"), "GXDLMSPushSetup"),
        (
            SecuritySetup(
                Obis.parse("0-0:43.0.0.255"), server_system_title=b"MMM\x00\x00\x00\x00\x01"
            ),
            "GXDLMSSecuritySetup",
        ),
        (
            AssociationLN(Obis.parse("0-0:40.0.0.255"), (), client_sap=1, server_sap=1),
            "GXDLMSAssociationLogicalName",
        ),
    ]


@pytest.mark.parametrize(("ours", "gurux_name"), _ours(), ids=lambda v: str(v))
def test_class_ids_and_counts_match_gurux(ours: object, gurux_name: str) -> None:
    gurux_objects = pytest.importorskip("gurux_dlms.objects", reason=GURUX_MISSING)
    theirs = getattr(gurux_objects, gurux_name)()
    theirs.version = ours.version  # type: ignore[attr-defined]
    assert int(theirs.objectType) == ours.class_id  # type: ignore[attr-defined]
    assert theirs.getAttributeCount() == len(ours.attribute_names)  # type: ignore[attr-defined]
    assert theirs.getMethodCount() == len(ours.method_names)  # type: ignore[attr-defined]


def test_every_attribute_reads_as_encodable_data() -> None:
    for obj, _ in _ours():
        assert isinstance(
            obj,
            Register
            | CosemData
            | ProfileGeneric
            | Clock
            | DisconnectControl
            | Limiter
            | PushSetup
            | SecuritySetup
            | AssociationLN,
        )
        for index in range(1, len(obj.attribute_names) + 1):
            try:
                value = obj.get(index)
            except CosemAccessError as exc:
                assert exc.result == DataAccessResult.READ_WRITE_DENIED
                continue
            assert decode_data(encode_data(value)) == value


def test_unit_numbers_match_gurux() -> None:
    GxUnit = pytest.importorskip("gurux_dlms.enums", reason=GURUX_MISSING).Unit

    assert (Unit.W, Unit.WH, Unit.VARH, Unit.A, Unit.V) == (27, 30, 32, 33, 35)
    assert GxUnit.ACTIVE_ENERGY == Unit.WH
    assert GxUnit.REACTIVE_ENERGY == Unit.VARH
    assert GxUnit.CURRENT == Unit.A
    assert GxUnit.VOLTAGE == Unit.V
    assert GxUnit.ACTIVE_POWER == Unit.W


# --- byte-level encodings, checked against dlms-cosem ----------------------------------------


def test_register_scaler_unit_bytes() -> None:
    reg = Register(ENERGY_LN, Data(DataType.DOUBLE_LONG_UNSIGNED, 12345), -1, Unit.WH)
    expected = b"\x02\x02" + dc_data.IntegerData(-1).to_bytes() + dc_data.EnumData(30).to_bytes()
    assert encode_data(reg.get(3)) == expected == bytes.fromhex("02020fff161e")
    assert reg.physical() == pytest.approx(1234.5)
    reg.invoke(1)
    assert reg.get(2) == Data(DataType.DOUBLE_LONG_UNSIGNED, 0)


def test_capture_object_bytes_match_dlms_cosem() -> None:
    ours = CaptureObject(ClassId.CLOCK, CLOCK_LN, 2, 0)
    theirs = DcCaptureObject(
        dc_cosem.CosemAttribute(
            interface=dc_enum.CosemInterface.CLOCK,
            instance=dc_cosem.Obis(0, 0, 1, 0, 0, 255),
            attribute=2,
        )
    )
    assert encode_data(ours.to_data()) == theirs.to_bytes()
    assert CaptureObject.from_data(decode_data(theirs.to_bytes())) == ours


def test_range_descriptor_bytes_match_dlms_cosem() -> None:
    start = dt.datetime(2024, 4, 1, 0, 0, tzinfo=dt.UTC)
    end = dt.datetime(2024, 4, 1, 12, 0, tzinfo=dt.UTC)
    theirs = dc_sa.RangeDescriptor(
        restricting_object=DcCaptureObject(
            dc_cosem.CosemAttribute(
                interface=dc_enum.CosemInterface.CLOCK,
                instance=dc_cosem.Obis(0, 0, 1, 0, 0, 255),
                attribute=2,
            )
        ),
        from_value=start,
        to_value=end,
    )
    raw = theirs.to_bytes()
    assert raw[0] == RangeDescriptor.SELECTOR
    parsed = parse_selective_access(raw[0], decode_data(raw[1:]))
    assert isinstance(parsed, RangeDescriptor)
    assert parsed.restricting_object == CaptureObject(8, CLOCK_LN, 2, 0)
    assert encode_data(parsed.to_data()) == raw[1:]


def test_entry_descriptor_round_trip() -> None:
    desc = EntryDescriptor(2, 3, 1, 2)
    raw = encode_data(desc.to_data())
    assert raw == bytes.fromhex("020406000000020600000003120001120002")
    assert parse_selective_access(2, decode_data(raw)) == desc
    with pytest.raises(CosemAccessError) as info:
        parse_selective_access(3, decode_data(raw))
    assert info.value.hint == DataAccessResult.OTHER_REASON


# --- profile generic -------------------------------------------------------------------------


def _stamp(minute: int) -> Data:
    return datetime_data(
        CosemDateTime.from_datetime(
            dt.datetime(2024, 4, 1, 0, 0, tzinfo=JST) + dt.timedelta(minutes=minute)
        )
    )


def _profile(entries: int = 4) -> ProfileGeneric:
    columns = (
        CaptureObject(8, CLOCK_LN, 2),
        CaptureObject(3, ENERGY_LN, 2),
        CaptureObject(3, Obis.parse("1-0:32.7.0.255"), 2),
    )
    return ProfileGeneric(
        Obis.parse("1-0:99.2.0.255"), columns, capture_period=300, profile_entries=entries
    )


def _fill(p: ProfileGeneric, n: int) -> None:
    for i in range(n):
        p.capture_row(
            (
                _stamp(5 * i),
                Data(DataType.DOUBLE_LONG_UNSIGNED, 100 + i),
                Data(DataType.LONG_UNSIGNED, 1010 + i),
            )
        )


def test_profile_fifo_and_entries() -> None:
    p = _profile(entries=3)
    _fill(p, 5)
    assert p.entries_in_use == 3
    assert p.get(7) == Data(DataType.DOUBLE_LONG_UNSIGNED, 3)
    assert [r[1].value for r in p.buffer] == [102, 103, 104]  # the two oldest were dropped
    buffer = p.get(2)
    assert isinstance(buffer.value, tuple)
    assert len(buffer.value) == 3
    with pytest.raises(ValueError, match="columns"):
        p.capture_row((_stamp(0),))


def test_profile_entry_selector() -> None:
    p = _profile()
    _fill(p, 4)
    got = p.get(2, EntryDescriptor(2, 3, 2, 0).to_data(), selector=2)
    assert got == Data(
        DataType.ARRAY,
        (
            Data(
                DataType.STRUCTURE,
                (Data(DataType.DOUBLE_LONG_UNSIGNED, 101), Data(DataType.LONG_UNSIGNED, 1011)),
            ),
            Data(
                DataType.STRUCTURE,
                (Data(DataType.DOUBLE_LONG_UNSIGNED, 102), Data(DataType.LONG_UNSIGNED, 1012)),
            ),
        ),
    )
    assert p.select(EntryDescriptor(9, 0)) == []  # past the end: empty, not an error


def test_profile_range_selector_with_columns() -> None:
    p = _profile()
    _fill(p, 4)  # minutes 0, 5, 10, 15
    desc = RangeDescriptor(
        CaptureObject(8, CLOCK_LN, 2), _stamp(5), _stamp(10), (CaptureObject(3, ENERGY_LN, 2),)
    )
    rows = p.select(desc)
    assert rows == [
        (Data(DataType.DOUBLE_LONG_UNSIGNED, 101),),
        (Data(DataType.DOUBLE_LONG_UNSIGNED, 102),),
    ]
    # The wire path: access selector 1 with the encoded descriptor.
    assert p.get(2, decode_data(encode_data(desc.to_data())), selector=1) == Data(
        DataType.ARRAY, tuple(Data(DataType.STRUCTURE, r) for r in rows)
    )
    bad = RangeDescriptor(CaptureObject(3, Obis.parse("1-0:2.8.0.255"), 2), _stamp(0), _stamp(1))
    with pytest.raises(CosemAccessError):
        p.select(bad)


def test_profile_methods_and_writes() -> None:
    values = {ENERGY_LN: Data(DataType.DOUBLE_LONG_UNSIGNED, 7)}
    p = ProfileGeneric(
        Obis.parse("1-0:99.1.0.255"),
        (CaptureObject(3, ENERGY_LN, 2),),
        capture_period=1800,
        profile_entries=2,
        source=lambda c: values[c.logical_name],
    )
    p.invoke(2)
    assert p.buffer == [(Data(DataType.DOUBLE_LONG_UNSIGNED, 7),)]
    p.set(4, Data(DataType.DOUBLE_LONG_UNSIGNED, 900))  # switch to 15-minute values
    assert p.capture_period == 900
    p.invoke(1)
    assert p.entries_in_use == 0
    p.invoke(2)
    p.set(3, Data(DataType.ARRAY, (CaptureObject(8, CLOCK_LN, 2).to_data(),)))
    assert p.entries_in_use == 0
    assert p.capture_objects == (CaptureObject(8, CLOCK_LN, 2),)


# --- the other classes -----------------------------------------------------------------------


def test_logical_name_and_unknown_indices() -> None:
    reg = Register(ENERGY_LN, Data(DataType.DOUBLE_LONG_UNSIGNED, 1), 0, Unit.WH)
    assert reg.get(1) == Data(DataType.OCTET_STRING, b"\x01\x00\x01\x08\x00\xff")
    calls: list[Callable[[], object]] = [
        lambda: reg.get(4),
        lambda: reg.set(1, reg.get(1)),
        lambda: reg.invoke(2),
    ]
    for call in calls:
        with pytest.raises(CosemAccessError) as info:
            call()
        assert info.value.hint == DataAccessResult.READ_WRITE_DENIED
    with pytest.raises(CosemAccessError) as info:
        reg.set(2, Data(DataType.LONG, 1))
    assert info.value.result == DataAccessResult.TYPE_UNMATCHED


def test_disconnect_control_transitions() -> None:
    dc = DisconnectControl(Obis.parse("0-0:96.3.10.255"), control_mode=1)
    assert dc.get(2) == Data(DataType.BOOLEAN, True)
    dc.invoke(1, Data(DataType.INTEGER, 0))
    assert ControlState(dc.control_state) == ControlState.DISCONNECTED
    assert dc.get(2).value is False
    dc.invoke(2, Data(DataType.INTEGER, 0))  # mode 1: remote reconnect connects (d)
    assert ControlState(dc.control_state) == ControlState.CONNECTED
    dc.set(4, Data(DataType.ENUM, 2))
    dc.invoke(1)
    dc.invoke(2)  # mode 2: remote reconnect only arms the local button (a)
    assert ControlState(dc.control_state) == ControlState.READY_FOR_RECONNECTION
    assert dc.get(3) == Data(DataType.ENUM, 2)
    dc.set(4, Data(DataType.ENUM, 0))
    with pytest.raises(CosemAccessError):
        dc.invoke(1)


def test_limiter_attributes() -> None:
    lim = _ours()[5][0]
    assert isinstance(lim, Limiter)
    assert lim.get(2) == ValueDefinition(3, ENERGY_LN, 2).to_data()
    lim.set(4, Data(DataType.LONG_UNSIGNED, 40))
    assert lim.get(3) == Data(DataType.LONG_UNSIGNED, 40)
    lim.emergency_profile_active = True
    assert lim.get(3) == Data(DataType.LONG_UNSIGNED, 10)
    with pytest.raises(CosemAccessError):
        lim.set(3, Data(DataType.LONG_UNSIGNED, 99))  # threshold_active is read-only
    actions = lim.get(11)
    lim.set(11, actions)
    assert lim.get(11) == actions


def test_clock_and_security_setup() -> None:
    clock = _ours()[3][0]
    assert isinstance(clock, Clock)
    assert len(clock.get(2).value) == 12  # type: ignore[arg-type]
    clock.invoke(6, Data(DataType.LONG, 30))
    assert clock.shift_requests == [30]
    with pytest.raises(CosemAccessError):
        clock.invoke(6, Data(DataType.LONG, 901))
    sec = _ours()[7][0]
    assert isinstance(sec, SecuritySetup)
    sec.invoke(1, Data(DataType.ENUM, 3))
    with pytest.raises(CosemAccessError):
        sec.invoke(1, Data(DataType.ENUM, 1))  # never weaken
    with pytest.raises(CosemAccessError):
        sec.invoke(2, Data(DataType.ARRAY, ()))  # keys go through the security layer


def test_push_setup_and_association() -> None:
    event = CosemData(Obis.parse("0-0:96.11.1.255"), Data(DataType.UNSIGNED, 1))
    push = PushSetup(
        Obis.parse("0-0:25.9.0.255"),
        (CaptureObject(1, event.logical_name, 2),),
        destination=b"10.0.0.1:4059",
        source=lambda c: event.get(c.attribute_index),
    )
    push.invoke(1, Data(DataType.INTEGER, 0))
    assert push.pending == [Data(DataType.STRUCTURE, (Data(DataType.UNSIGNED, 1),))]
    assoc = AssociationLN(
        Obis.parse("0-0:40.0.0.255"),
        (event, push, _profile()),
        client_sap=1,
        server_sap=1,
        application_context=3,
        mechanism=5,
    )
    objects = assoc.get(2).value
    assert isinstance(objects, tuple)
    assert len(objects) == 3
    first = objects[0].value
    assert isinstance(first, tuple)
    assert first[0] == Data(DataType.LONG_UNSIGNED, 1)
    assert first[2].value == bytes(event.logical_name)
    # application context 2.16.756.5.8.1.3 = LN referencing with ciphering.
    ctx = assoc.get(4).value
    assert isinstance(ctx, tuple)
    assert [d.value for d in ctx] == [2, 16, 756, 5, 8, 1, 3]
    assert assoc.find(push.logical_name) is push
    with pytest.raises(CosemAccessError):
        assoc.get(7)  # the secret is never readable
