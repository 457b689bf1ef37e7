"""Fuzz ``aroute.apdu.decode_apdu(strict=True)`` and ``aroute.acse.decode_acse``.

Any bytes -> an APDU or DecodeError, from each decoder. What decodes must encode again,
and that encoding must decode and encode to the same bytes (no EncodeError on a value the
decoder accepted).

Input: one xDLMS APDU (IEC 62056-5-3) or one ACSE APDU (AARQ/AARE/RLRQ/RLRE); both decoders
see every input. Run ``python fuzz/dlms_apdu.py`` (atheris) or ``--fallback``.
"""

from __future__ import annotations

import sys

from _harness import Target, main


def build() -> Target:
    from smartmeter_proto.aroute.acse import decode_acse
    from smartmeter_proto.aroute.apdu import decode_apdu
    from smartmeter_proto.errors import DecodeError

    def xdlms(data: bytes) -> object:
        return decode_apdu(data, strict=True)

    def call(data: bytes) -> object:
        results: list[object] = []
        for decode in (xdlms, decode_acse):
            try:
                apdu = decode(data)
            except DecodeError as exc:
                results.append(exc)
                continue
            wire = apdu.encode()
            if decode(wire).encode() != wire:
                raise AssertionError(f"{type(apdu).__name__}: re-encoding is not stable")
            results.append(apdu)
        return results

    return Target("dlms_apdu", call, (DecodeError,), "bytes")


def seeds() -> dict[str, bytes]:
    """GET/SET/ACTION requests and responses, notifications, exception, GBT, ACSE vectors."""
    from pana_message import load_test_module

    from smartmeter_proto.aroute import acse
    from smartmeter_proto.aroute import apdu as a
    from smartmeter_proto.aroute.axdr import Data, DataType

    t = DataType
    inv = a.InvokeIdAndPriority(1, True, True)
    clock = a.CosemAttributeDescriptor(8, bytes.fromhex("0000010000FF"), 2)
    profile = a.CosemAttributeDescriptor(7, bytes.fromhex("0100630100FF"), 2)
    disconnect = a.CosemMethodDescriptor(70, bytes.fromhex("0000600300FF"), 1)
    # Profile generic entry descriptor (selector 2): entries 1..4, all columns.
    entry = a.SelectiveAccess(
        2,
        Data(
            t.STRUCTURE,
            (
                Data(t.DOUBLE_LONG_UNSIGNED, 1),
                Data(t.DOUBLE_LONG_UNSIGNED, 4),
                Data(t.LONG_UNSIGNED, 1),
                Data(t.LONG_UNSIGNED, 0),
            ),
        ),
    )
    energy = Data(t.DOUBLE_LONG_UNSIGNED, 123456)
    block = a.DataBlock(False, 1, bytes.fromhex("0102020309060000010000FF"))
    last = a.DataBlock(True, 2, bytes.fromhex("1200FF"))
    with_sel = (a.AttributeWithSelection(clock, None), a.AttributeWithSelection(profile, entry))
    built = {
        "get-request-normal": a.GetRequestNormal(clock, None, inv),
        "get-request-selective": a.GetRequestNormal(profile, entry, inv),
        "get-request-next": a.GetRequestNext(1, inv),
        "get-request-with-list": a.GetRequestWithList(with_sel, inv),
        "get-response-normal": a.GetResponseNormal(energy, inv),
        "get-response-error": a.GetResponseNormal(a.DataAccessResult.OBJECT_UNDEFINED, inv),
        "get-response-datablock": a.GetResponseWithDatablock(False, 1, block.raw_data, inv),
        "get-response-with-list": a.GetResponseWithList(
            (energy, a.DataAccessResult.READ_WRITE_DENIED), inv
        ),
        "set-request-normal": a.SetRequestNormal(clock, Data(t.OCTET_STRING, bytes(12)), None, inv),
        "set-request-first-datablock": a.SetRequestWithFirstDatablock(clock, block, None, inv),
        "set-request-datablock": a.SetRequestWithDatablock(last, inv),
        "set-request-with-list": a.SetRequestWithList(with_sel, (Data(t.NULL, None), energy), inv),
        "set-request-list-first-datablock": a.SetRequestWithListAndFirstDatablock(
            with_sel, block, inv
        ),
        "set-response-normal": a.SetResponseNormal(a.DataAccessResult.SUCCESS, inv),
        "set-response-datablock": a.SetResponseDatablock(1, inv),
        "set-response-last-datablock": a.SetResponseLastDatablock(
            a.DataAccessResult.SUCCESS, 2, inv
        ),
        "set-response-last-datablock-list": a.SetResponseLastDatablockWithList(
            (a.DataAccessResult.SUCCESS, a.DataAccessResult.TYPE_UNMATCHED), 2, inv
        ),
        "set-response-with-list": a.SetResponseWithList((a.DataAccessResult.SUCCESS,) * 2, inv),
        "action-request-normal": a.ActionRequestNormal(disconnect, Data(t.INTEGER, 0), inv),
        "action-request-no-parameter": a.ActionRequestNormal(disconnect, None, inv),
        "action-request-next-pblock": a.ActionRequestNextPblock(1, inv),
        "action-request-with-list": a.ActionRequestWithList(
            (disconnect, disconnect), (Data(t.INTEGER, 0), Data(t.NULL, None)), inv
        ),
        "action-request-first-pblock": a.ActionRequestWithFirstPblock(disconnect, block, inv),
        "action-request-list-first-pblock": a.ActionRequestWithListAndFirstPblock(
            (disconnect,), block, inv
        ),
        "action-request-pblock": a.ActionRequestWithPblock(last, inv),
        "action-response-normal": a.ActionResponseNormal(
            a.ActionOutcome(a.ActionResult.SUCCESS, None), inv
        ),
        "action-response-return": a.ActionResponseNormal(
            a.ActionOutcome(a.ActionResult.SUCCESS, energy), inv
        ),
        "action-response-pblock": a.ActionResponseWithPblock(block, inv),
        "action-response-with-list": a.ActionResponseWithList(
            (
                a.ActionOutcome(a.ActionResult.SUCCESS, None),
                a.ActionOutcome(a.ActionResult.OTHER_REASON, a.DataAccessResult.HARDWARE_FAULT),
            ),
            inv,
        ),
        "action-response-next-pblock": a.ActionResponseNextPblock(1, inv),
        "data-notification-date-time": a.DataNotification(
            Data(t.STRUCTURE, (energy, Data(t.OCTET_STRING, bytes.fromhex("0100010800FF")))),
            bytes.fromhex("07EA0B1903120000FF800000"),
            a.LongInvokeIdAndPriority(1),
        ),
        "event-notification": a.EventNotificationRequest(clock, energy, None),
        "exception-response": a.ExceptionResponse(
            a.ExceptionStateError.SERVICE_NOT_ALLOWED, a.ExceptionServiceError.SERVICE_NOT_SUPPORTED
        ),
        "exception-response-counter": a.ExceptionResponse(1, 6, 16),
        "general-block-transfer": a.GeneralBlockTransfer(
            True, 1, 0, a.GetRequestNormal(clock, None, inv).encode(), streaming=True
        ),
    }
    out = {k: v.encode() for k, v in built.items()}
    # Real vectors (sources named in tests/aroute/test_apdu.py): dlms-cosem's data
    # notification from a meter, the Green Book GET of the clock, GBT, exception-response.
    out["real-get-request-clock"] = bytes.fromhex("C001C100080000010000FF0200")
    out["real-data-notification"] = (
        b'\x0f\x00\x00\x01\xdb\x00\t"\x12Z\x85\x916\x00\x00\x00\x00I\x00\x00\x00\x11\x00\x00'
        b"\x00\nZ\x85\x13\xd0\x14\x80\x00\x00\x00\r\x00\x00\x00\n\x01\x00"
    )
    out["real-gbt"] = bytes.fromhex("E0C1000100000301C000")
    out["real-exception"] = bytes.fromhex("D8010600000010")
    # ACSE: the Green Book AARQ/AARE vectors of tests/aroute/test_acse.py, RLRQ/RLRE.
    test_acse = load_test_module("tests/aroute/test_acse.py")
    out["aarq-no-security"] = test_acse.AARQ_NO_SECURITY
    out["aarq-lls"] = test_acse.AARQ_LLS
    out["aare-ok"] = test_acse.AARE_OK
    out["aare-rejected"] = acse.AARE(
        result=acse.AssociationResult.REJECTED_PERMANENT,
        diagnostic=acse.AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE,
        user_information=acse.ConfirmedServiceError(1, 6, 0),
    ).encode()
    out["aarq-hls-gmac"] = acse.AARQ(
        application_context=acse.ApplicationContextName.LOGICAL_NAME_CIPHERED,
        calling_ap_title=bytes.fromhex("4D4D4D0000000001"),
        mechanism_name=acse.MechanismName.HIGH_GMAC,
        calling_authentication_value=b"K56iVagY",
        sender_acse_requirements=True,
        user_information=bytes.fromhex("21303001234567801302FF8A7874133D414CED25B42534D28DB0"),
    ).encode()
    out["rlrq"] = acse.RLRQ().encode()
    out["rlre"] = acse.RLRE().encode()
    out["edge-empty"] = b""
    out["edge-unknown-tag"] = bytes.fromhex("DB0102")
    out["edge-trailing"] = out["real-get-request-clock"] + b"\x00"
    out["edge-list-count-lie"] = bytes.fromhex("C403C184FFFFFFFF")
    out["edge-acse-length-lie"] = bytes.fromhex("6082FFFFA109")
    return out


if __name__ == "__main__":
    sys.exit(main("dlms_apdu"))
