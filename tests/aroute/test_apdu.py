"""xDLMS service APDUs: real vectors, round trips, robustness, dlms-cosem cross-checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.aroute.apdu import (
    ActionOutcome,
    ActionRequestNextPblock,
    ActionRequestNormal,
    ActionRequestWithFirstPblock,
    ActionRequestWithList,
    ActionRequestWithListAndFirstPblock,
    ActionRequestWithPblock,
    ActionResponseNextPblock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithPblock,
    ActionResult,
    AttributeWithSelection,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    DataAccessResult,
    DataBlock,
    DataNotification,
    EventNotificationRequest,
    ExceptionResponse,
    ExceptionServiceError,
    ExceptionStateError,
    GeneralBlockTransfer,
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDatablock,
    GetResponseWithList,
    InvokeIdAndPriority,
    LongInvokeIdAndPriority,
    SelectiveAccess,
    SetRequestNormal,
    SetRequestWithDatablock,
    SetRequestWithFirstDatablock,
    SetRequestWithList,
    SetRequestWithListAndFirstDatablock,
    SetResponseDatablock,
    SetResponseLastDatablock,
    SetResponseLastDatablockWithList,
    SetResponseNormal,
    SetResponseWithList,
    UnknownApdu,
    decode_apdu,
)
from smartmeter_proto.aroute.axdr import Data, DataType, decode_data
from smartmeter_proto.errors import DecodeError

CLOCK = CosemAttributeDescriptor(8, bytes.fromhex("0000010000FF"), 2)


# --- real vectors -----------------------------------------------------------------------------


def test_get_request_clock_time() -> None:
    # Green Book / brief example: GET clock (class 8, 0.0.1.0.0.255) attribute 2, invoke 1.
    raw = bytes.fromhex("C001C100080000010000FF0200")
    apdu = decode_apdu(raw)
    assert apdu == GetRequestNormal(CLOCK, None, InvokeIdAndPriority(1, True, True))
    assert apdu.encode() == raw


def test_data_notification_from_real_meter() -> None:
    # dlms-cosem tests/test_xdlms/test_data_notification.py (a meter's push, no date-time):
    raw = (
        b'\x0f\x00\x00\x01\xdb\x00\t"\x12Z\x85\x916\x00\x00\x00\x00I\x00\x00\x00\x11\x00\x00'
        b"\x00\nZ\x85\x13\xd0\x14\x80\x00\x00\x00\r\x00\x00\x00\n\x01\x00"
    )
    apdu = decode_apdu(raw)
    assert isinstance(apdu, DataNotification)
    assert apdu.long_invoke.long_invoke_id == 475
    assert apdu.date_time is None
    assert apdu.body.type == DataType.OCTET_STRING
    assert len(apdu.body.value) == 0x22  # type: ignore[arg-type]
    assert apdu.encode() == raw


def test_data_notification_with_date_time() -> None:
    # A-XDR OCTET STRING date-time: length 0x0C then the 12-byte COSEM date-time (gurux-dlms
    # GXDLMS.handleDataNotification reads a length octet then that many bytes).
    dt = bytes.fromhex("07E3010101000000FF800000")
    raw = bytes.fromhex("0F40000001") + b"\x0c" + dt + bytes.fromhex("1200FF")
    apdu = decode_apdu(raw)
    assert apdu == DataNotification(
        Data(DataType.LONG_UNSIGNED, 255), dt, LongInvokeIdAndPriority(1, confirmed=True)
    )
    assert apdu.encode() == raw


def test_get_response_normal_and_error() -> None:
    # GET response carrying long-unsigned 0x1234, and one carrying object-undefined (4).
    ok = bytes.fromhex("C401C100121234")
    assert decode_apdu(ok) == GetResponseNormal(Data(DataType.LONG_UNSIGNED, 0x1234))
    err = bytes.fromhex("C401C10104")
    apdu = decode_apdu(err)
    assert apdu == GetResponseNormal(DataAccessResult.OBJECT_UNDEFINED)
    assert decode_apdu(bytes.fromhex("C401C10163")) == GetResponseNormal(0x63)  # unknown kept


def test_exception_response() -> None:
    # gurux-dlms handleExceptionResponse: state-error, service-error, counter only for 6.
    assert decode_apdu(bytes.fromhex("D80102")) == ExceptionResponse(
        ExceptionStateError.SERVICE_NOT_ALLOWED, ExceptionServiceError.SERVICE_NOT_SUPPORTED
    )
    raw = bytes.fromhex("D8010600000010")
    assert decode_apdu(raw) == ExceptionResponse(1, 6, 16)
    assert decode_apdu(raw).encode() == raw


def test_general_block_transfer() -> None:
    raw = bytes.fromhex("E0C1000100000301C000")
    apdu = decode_apdu(raw)
    assert apdu == GeneralBlockTransfer(True, 1, 0, bytes.fromhex("01C000"), streaming=True)
    assert apdu.encode() == raw


def test_invoke_id_byte_bits() -> None:
    assert InvokeIdAndPriority.from_byte(0xC1) == InvokeIdAndPriority(1, True, True)
    assert InvokeIdAndPriority.from_byte(0x05) == InvokeIdAndPriority(5, False, False)
    assert InvokeIdAndPriority(3, True, False).to_byte() == 0x43
    assert InvokeIdAndPriority.from_byte(0xB7).to_byte() == 0xB7  # reserved bits survive


def test_errors_are_decode_errors() -> None:
    with pytest.raises(DecodeError) as ei:
        decode_apdu(bytes.fromhex("C001C100080000"))
    assert ei.value.layer == "xdlms"
    with pytest.raises(DecodeError):
        decode_apdu(bytes.fromhex("C009C1"))  # unknown choice
    with pytest.raises(DecodeError):
        decode_apdu(bytes.fromhex("C001C100080000010000FF020000"))  # trailing byte
    with pytest.raises(DecodeError):
        decode_apdu(bytes.fromhex("C403C184FFFFFFFF"))  # list count beyond input
    with pytest.raises(DecodeError):
        decode_apdu(b"")
    assert decode_apdu(bytes.fromhex("DB0102")) == UnknownApdu(0xDB, b"\x01\x02")
    with pytest.raises(DecodeError):
        decode_apdu(bytes.fromhex("DB0102"), strict=True)


# --- hypothesis round trips ------------------------------------------------------------------

u32 = st.integers(0, 0xFFFFFFFF)
invokes = st.builds(
    InvokeIdAndPriority, st.integers(0, 15), st.booleans(), st.booleans(), st.integers(0, 3)
)
datas = st.recursive(
    st.one_of(
        st.just(Data(DataType.NULL, None)),
        st.integers(0, 0xFFFF).map(lambda v: Data(DataType.LONG_UNSIGNED, v)),
        st.binary(max_size=40).map(lambda v: Data(DataType.OCTET_STRING, v)),
        st.booleans().map(lambda v: Data(DataType.BOOLEAN, v)),
    ),
    lambda inner: st.lists(inner, max_size=4).map(lambda v: Data(DataType.STRUCTURE, tuple(v))),
    max_leaves=8,
)
attrs = st.builds(
    CosemAttributeDescriptor,
    st.integers(0, 0xFFFF),
    st.binary(min_size=6, max_size=6),
    st.integers(0, 255),
)
methods = st.builds(
    CosemMethodDescriptor,
    st.integers(0, 0xFFFF),
    st.binary(min_size=6, max_size=6),
    st.integers(0, 255),
)
access = st.none() | st.builds(SelectiveAccess, st.integers(0, 255), datas)
with_sel = st.builds(AttributeWithSelection, attrs, access)
dar = st.sampled_from(list(DataAccessResult)) | st.integers(0, 255)
get_results = datas | dar
blocks = st.builds(DataBlock, st.booleans(), u32, st.binary(max_size=300))
outcomes = st.builds(
    ActionOutcome,
    st.sampled_from(list(ActionResult)) | st.integers(0, 255),
    st.none() | get_results,
)
tup = lambda s: st.lists(s, max_size=4).map(tuple)  # noqa: E731

apdus = st.one_of(
    st.builds(GetRequestNormal, attrs, access, invokes),
    st.builds(GetRequestNext, u32, invokes),
    st.builds(GetRequestWithList, tup(with_sel), invokes),
    st.builds(GetResponseNormal, get_results, invokes),
    st.builds(GetResponseWithDatablock, st.booleans(), u32, st.binary(max_size=300) | dar, invokes),
    st.builds(GetResponseWithList, tup(get_results), invokes),
    st.builds(SetRequestNormal, attrs, datas, access, invokes),
    st.builds(SetRequestWithFirstDatablock, attrs, blocks, access, invokes),
    st.builds(SetRequestWithDatablock, blocks, invokes),
    st.builds(SetRequestWithList, tup(with_sel), tup(datas), invokes),
    st.builds(SetRequestWithListAndFirstDatablock, tup(with_sel), blocks, invokes),
    st.builds(SetResponseNormal, dar, invokes),
    st.builds(SetResponseDatablock, u32, invokes),
    st.builds(SetResponseLastDatablock, dar, u32, invokes),
    st.builds(SetResponseLastDatablockWithList, tup(dar), u32, invokes),
    st.builds(SetResponseWithList, tup(dar), invokes),
    st.builds(ActionRequestNormal, methods, st.none() | datas, invokes),
    st.builds(ActionRequestNextPblock, u32, invokes),
    st.builds(ActionRequestWithList, tup(methods), tup(datas), invokes),
    st.builds(ActionRequestWithFirstPblock, methods, blocks, invokes),
    st.builds(ActionRequestWithListAndFirstPblock, tup(methods), blocks, invokes),
    st.builds(ActionRequestWithPblock, blocks, invokes),
    st.builds(ActionResponseNormal, outcomes, invokes),
    st.builds(ActionResponseWithPblock, blocks, invokes),
    st.builds(ActionResponseWithList, tup(outcomes), invokes),
    st.builds(ActionResponseNextPblock, u32, invokes),
    st.builds(
        DataNotification,
        datas,
        st.none() | st.binary(min_size=1, max_size=12),
        st.builds(
            LongInvokeIdAndPriority,
            st.integers(0, 0xFFFFFF),
            st.booleans(),
            st.booleans(),
            st.booleans(),
            st.booleans(),
            st.integers(0, 15),
        ),
    ),
    st.builds(EventNotificationRequest, attrs, datas, st.none() | st.binary(max_size=12)),
    st.builds(ExceptionResponse, st.integers(0, 255), st.integers(0, 5)),
    st.builds(ExceptionResponse, st.integers(0, 255), st.just(6), st.none() | u32),
    st.builds(
        GeneralBlockTransfer,
        st.booleans(),
        st.integers(0, 0xFFFF),
        st.integers(0, 0xFFFF),
        st.binary(max_size=300),
        st.booleans(),
        st.integers(0, 63),
    ),
)


@given(apdus)
def test_round_trip(apdu: object) -> None:
    raw = apdu.encode()  # type: ignore[attr-defined]
    decoded = decode_apdu(raw)
    assert decoded == apdu
    assert decoded.encode() == raw


@given(st.binary(max_size=200))
def test_any_bytes(raw: bytes) -> None:
    try:
        apdu = decode_apdu(raw)
    except DecodeError as exc:
        assert exc.layer == "xdlms"
        return
    assert decode_apdu(apdu.encode()) == apdu


@given(
    st.sampled_from([0xC0, 0xC1, 0xC3, 0xC4, 0xC5, 0xC7, 0x0F, 0xC2, 0xD8, 0xE0]),
    st.binary(max_size=120),
)
def test_any_body_after_known_tag(tag: int, body: bytes) -> None:
    try:
        apdu = decode_apdu(bytes((tag,)) + body)
    except DecodeError:
        return
    assert decode_apdu(apdu.encode()) == apdu


# --- cross-checks against dlms-cosem --------------------------------------------------------

xdlms = pytest.importorskip("dlms_cosem.protocol.xdlms")
cosem = pytest.importorskip("dlms_cosem.cosem")


def test_dlms_cosem_parses_our_get_request() -> None:
    ours = GetRequestNormal(CLOCK, invoke=InvokeIdAndPriority(2, True, False))
    theirs = xdlms.GetRequestFactory.from_bytes(ours.encode())
    assert theirs.cosem_attribute.interface == 8
    assert theirs.cosem_attribute.attribute == 2
    assert theirs.invoke_id_and_priority.invoke_id == 2
    assert not theirs.invoke_id_and_priority.high_priority


def test_we_parse_dlms_cosem_get_request() -> None:
    from dlms_cosem import enumerations
    from dlms_cosem.cosem.obis import Obis

    req = xdlms.GetRequestNormal(
        cosem_attribute=cosem.CosemAttribute(
            interface=enumerations.CosemInterface.CLOCK,
            instance=Obis(0, 0, 1, 0, 0, 255),
            attribute=2,
        )
    )
    assert decode_apdu(req.to_bytes()) == GetRequestNormal(CLOCK)


def test_get_response_both_ways() -> None:
    # dlms-cosem 25.1 GetResponseNormal.to_bytes() raises TypeError (appends a bytes object),
    # so "we parse theirs" uses its error and block encoders; "they parse ours" covers data.
    from dlms_cosem import enumerations

    theirs_err = xdlms.GetResponseNormalWithError(enumerations.DataAccessResult.TEMPORARY_FAILURE)
    assert decode_apdu(theirs_err.to_bytes()) == GetResponseNormal(
        DataAccessResult.TEMPORARY_FAILURE
    )
    theirs_block = xdlms.GetResponseWithBlock(b"\x01\x02", block_number=5)
    assert decode_apdu(theirs_block.to_bytes()) == GetResponseWithDatablock(False, 5, b"\x01\x02")
    ours_data = GetResponseNormal(Data(DataType.OCTET_STRING, b"\x01\x02\x03\x04"))
    assert xdlms.GetResponseFactory.from_bytes(ours_data.encode()).data == bytes.fromhex(
        "090401020304"
    )
    ours = GetResponseWithDatablock(False, 3, b"\xaa\xbb")
    parsed = xdlms.GetResponseFactory.from_bytes(ours.encode())
    assert parsed.block_number == 3
    assert parsed.data == b"\xaa\xbb"
    ours_err = GetResponseNormal(DataAccessResult.READ_WRITE_DENIED)
    parsed_err = xdlms.GetResponseFactory.from_bytes(ours_err.encode())
    assert parsed_err.error.value == 3


def test_data_notification_both_ways() -> None:
    body = Data(DataType.STRUCTURE, (Data(DataType.LONG_UNSIGNED, 7),))
    ours = DataNotification(body, None, LongInvokeIdAndPriority(9))
    theirs = xdlms.DataNotification.from_bytes(ours.encode())
    assert theirs.long_invoke_id_and_priority.long_invoke_id == 9
    assert theirs.date_time is None
    assert decode_data(theirs.body) == body
    # and ours parses theirs (their encoder writes date-time only as a flag, so none here)
    assert decode_apdu(theirs.to_bytes()) == ours
