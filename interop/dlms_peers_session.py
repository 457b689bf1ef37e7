"""Ciphering and association checks of interop/dlms_peers.py: sections (d) and (e).

(d) general-glo-ciphering and glo-get-response (security suite 0, SC 0x30 and 0x10) both
ways against gurux and dlms-cosem, and a tampered tag; (e) AARQ/AARE with no
authentication and LLS, each side encoding and the other decoding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from dlms_peers_adapters import Cosem, Gurux, Report, gx_server
from dlms_peers_sample import PROFILE, PUSH_BODY, PUSH_TIME

from smartmeter_proto.aroute import security
from smartmeter_proto.aroute.acse import AARE, AARQ, MechanismName, decode_acse
from smartmeter_proto.aroute.acse.initiate import Conformance, InitiateRequest, InitiateResponse
from smartmeter_proto.aroute.apdu import (
    DataNotification,
    GetResponseNormal,
    LongInvokeIdAndPriority,
)
from smartmeter_proto.aroute.axdr import Data, DataType

T = DataType
# Fixtures of this script (the Gurux example keys and system title, not real secrets).
EK: Final = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK: Final = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
SYSTEM_TITLE: Final = bytes.fromhex("4D4D4D0000BC614E")
PASSWORD: Final = b"12345678"


# ============================================================= (d) ciphering


def _raises(run: Callable[[], object]) -> object:
    try:
        run()
    except Exception:  # any refusal will do: the peers use ValueError/DecryptionError
        return True
    return "accepted a tampered tag"


def _split_service_ciphered(data: bytes) -> tuple[int, int, bytes]:
    """(SC, IC, ciphered text) of a service-specific glo- APDU: tag, BER length, SC, IC, text."""
    pos = 1
    n = data[pos]
    pos += 1
    if n & 0x80:
        k = n & 0x7F
        n, pos = int.from_bytes(data[pos : pos + k], "big"), pos + k
    if pos + n != len(data):
        raise AssertionError("length does not cover the content")
    return data[pos], int.from_bytes(data[pos + 1 : pos + 5], "big"), data[pos + 5 :]


def check_ciphering(report: Report, gx: Gurux, dc: Cosem) -> None:
    from gurux_dlms.AesGcmParameter import AesGcmParameter  # type: ignore[import-untyped]
    from gurux_dlms.enums import Security  # type: ignore[import-untyped]

    gsec = {0x30: Security.AUTHENTICATION_ENCRYPTION, 0x10: Security.AUTHENTICATION}
    plains = {
        "Get-Response-Normal (long-unsigned)": GetResponseNormal(
            Data(T.LONG_UNSIGNED, 1010)
        ).encode(),
        "30-minute Data-Notification": DataNotification(
            PUSH_BODY, PUSH_TIME.encode(), LongInvokeIdAndPriority(48)
        ).encode(),
        "48-row Get-Response-Normal": GetResponseNormal(PROFILE).encode(),
    }
    ic = 0x0000_1234
    for name, plain in plains.items():
        for sc in (0x30, 0x10):
            for service in (None, 0xCC):
                if service == 0xCC and plain[0] != 0xC4:
                    continue  # glo-get-response carries only a Get-Response
                ic += 1
                kind = "general-glo-ciphering" if service is None else "glo-get-response"
                label = f"{kind} SC 0x{sc:02X} {name} ({len(plain)} bytes)"
                ours = security.protect(
                    plain,
                    security_control=sc,
                    system_title=SYSTEM_TITLE,
                    invocation_counter=ic,
                    ek=EK,
                    ak=AK,
                    service_tag=service,
                )

                def gx_param(tag: int, sc: int = sc, ic: int = ic) -> Any:
                    p = AesGcmParameter(tag, SYSTEM_TITLE, EK, AK)
                    p.security, p.invocationCounter = gsec[sc], ic
                    return p

                def gx_dec(ours: bytes = ours, plain: bytes = plain) -> object:
                    p = gx_param(ours[0])
                    got = gx.quiet(
                        lambda: gx.g.GXDLMSChippering.decryptAesGcm(
                            gx.settings, p, gx.g.GXByteBuffer(ours)
                        )
                    )
                    return bytes(got) == plain or f"gurux plaintext {bytes(got)[:16].hex()}"

                def gx_enc(
                    ours: bytes = ours, plain: bytes = plain, service: int | None = service
                ) -> object:
                    theirs = bytes(
                        gx.g.GXDLMSChippering.encryptAesGcm(gx_param(service or 0xDB), plain)
                    )
                    got = security.unprotect(theirs, ek=EK, ak=AK, system_title=SYSTEM_TITLE)
                    return (got.apdu == plain and theirs == ours) or "differs"

                def dc_dec(
                    ours: bytes = ours,
                    plain: bytes = plain,
                    service: int | None = service,
                    sc: int = sc,
                ) -> object:
                    if service is None:
                        got = dc.xdlms.GeneralGlobalCipher.from_bytes(ours).to_plain_apdu(EK, AK)
                    else:
                        sc_, ic_, text = _split_service_ciphered(ours)
                        got = dc.sec.decrypt(
                            dc.sec.SecurityControlField.from_bytes(bytes([sc_])),
                            SYSTEM_TITLE,
                            ic_,
                            EK,
                            text,
                            AK,
                        )
                    return bytes(got) == plain or "plaintext differs"

                def dc_enc(
                    ours: bytes = ours,
                    plain: bytes = plain,
                    service: int | None = service,
                    sc: int = sc,
                    ic: int = ic,
                ) -> object:
                    field = dc.sec.SecurityControlField.from_bytes(bytes([sc]))
                    text = dc.sec.encrypt(field, SYSTEM_TITLE, ic, EK, plain, AK)
                    if service is None:
                        theirs = dc.xdlms.GeneralGlobalCipher(
                            SYSTEM_TITLE, field, ic, text
                        ).to_bytes()
                    else:  # dlms-cosem has no glo-get-response APDU: frame its text like ours
                        theirs = ours[: len(ours) - len(text)] + text
                    got = security.unprotect(theirs, ek=EK, ak=AK, system_title=SYSTEM_TITLE)
                    return (got.apdu == plain and theirs == ours) or "differs"

                if name.startswith("Get-Response-Normal"):  # a bad tag must be refused
                    bad = ours[:-1] + bytes([ours[-1] ^ 1])

                    def gx_bad(bad: bytes = bad) -> object:
                        return _raises(
                            lambda: gx.quiet(
                                lambda: gx.g.GXDLMSChippering.decryptAesGcm(
                                    gx.settings, gx_param(bad[0]), gx.g.GXByteBuffer(bad)
                                )
                            )
                        )

                    def dc_bad(bad: bytes = bad) -> object:
                        return _raises(
                            lambda: dc.xdlms.GeneralGlobalCipher.from_bytes(bad).to_plain_apdu(
                                EK, AK
                            )
                        )

                    report.check(
                        "d gurux decrypt",
                        f"tampered tag, {label}",
                        gx_bad,
                        "gx-no-tag-check" if sc == 0x30 else None,
                    )
                    if sc == 0x30 and service is None:
                        report.check("d cosem decrypt", f"tampered tag, {label}", dc_bad)
                dc_q = "dc-auth-only" if sc == 0x10 else None
                long_content = len(ours) - 12 >= 0x80 if service is None else False
                report.check("d gurux decrypt", label, gx_dec)
                report.check("d gurux encrypt", label, gx_enc)
                report.check("d cosem decrypt", label, dc_dec, dc_q)
                report.check(
                    "d cosem encrypt",
                    label,
                    dc_enc,
                    dc_q or ("dc-ggc-length" if long_content else None),
                )


# ============================================================= (e) AARQ / AARE

CONFORMANCE: Final = (
    Conformance.GET
    | Conformance.SET
    | Conformance.ACTION
    | Conformance.SELECTIVE_ACCESS
    | Conformance.BLOCK_TRANSFER_WITH_GET_OR_READ
    | Conformance.MULTIPLE_REFERENCES
)


def check_association(report: Report, gx: Gurux, dc: Cosem) -> None:
    from dlms_cosem.protocol.acse import UserInformation  # type: ignore[import-untyped]
    from gurux_dlms._GXAPDU import _GXAPDU  # type: ignore[import-untyped]
    from gurux_dlms.enums import Authentication
    from gurux_dlms.enums.AssociationResult import AssociationResult  # type: ignore[import-untyped]
    from gurux_dlms.enums.SourceDiagnostic import SourceDiagnostic  # type: ignore[import-untyped]

    for lls in (False, True):
        ours_aarq = AARQ(
            user_information=InitiateRequest(CONFORMANCE, 0x0400),
            mechanism_name=MechanismName.LOW if lls else None,
            calling_authentication_value=PASSWORD if lls else None,
            sender_acse_requirements=True if lls else None,
        ).encode()
        label = f"AARQ {'LLS' if lls else 'no authentication'}"

        def gx_dec(ours: bytes = ours_aarq, lls: bool = lls) -> object:
            settings = gx_server(gx)
            settings.proposedConformance = gx.conformance(0xFFFFFF)  # what the server offers
            _GXAPDU.parsePDU(settings, settings.cipher, gx.g.GXByteBuffer(ours), None)
            ok = (
                settings.negotiatedConformance == gx.conformance(int(CONFORMANCE))
                and settings.maxPduSize == 0x0400
                and settings.authentication == (Authentication.LOW if lls else 0)
            )
            if lls:
                ok = ok and bytes(settings.password) == PASSWORD
            return (
                ok
                or f"conformance {int(settings.negotiatedConformance):06X} "
                f"pdu {settings.maxPduSize} auth {settings.authentication}"
            )

        def dc_dec(ours: bytes = ours_aarq, lls: bool = lls) -> object:
            got = dc.acse.ApplicationAssociationRequest.from_bytes(ours)
            init = got.user_information.content
            ok = (
                dc.conformance_int(init.proposed_conformance) == int(CONFORMANCE)
                and init.client_max_receive_pdu_size == 0x0400
            )
            if lls:
                ok = ok and got.authentication == 1 and got.authentication_value == PASSWORD
            return ok or f"{got!r:.200}"

        def gx_enc(lls: bool = lls) -> object:
            kw = {"forAuthentication": Authentication.LOW, "password": PASSWORD} if lls else {}
            client = gx.client(**kw)
            client.proposedConformance = gx.conformance(int(CONFORMANCE))
            client.maxReceivePDUSize = 0x0400
            (theirs,) = client.aarqRequest()
            got = decode_acse(bytes(theirs))
            if not isinstance(got, AARQ):
                return f"we decode {got!r:.200}"
            ui = got.user_information
            ok = (
                isinstance(ui, InitiateRequest)
                and ui.conformance == CONFORMANCE
                and ui.client_max_receive_pdu_size == 0x0400
                and got.calling_authentication_value == (PASSWORD if lls else None)
            )
            return ok or f"we decode {got!r:.200}"

        def dc_enc(ours: bytes = ours_aarq, lls: bool = lls) -> object:
            init = dc.xdlms.InitiateRequest(
                dc.conformance(int(CONFORMANCE)), client_max_receive_pdu_size=0x0400
            )
            theirs = dc.acse.ApplicationAssociationRequest(
                UserInformation(init),
                authentication=dc.enum("AuthenticationMechanism", 1) if lls else None,
                authentication_value=PASSWORD if lls else None,
            ).to_bytes()
            got = decode_acse(theirs)
            return (theirs == ours) or f"we decode {got!r:.200} from {theirs.hex()}"

        report.check("e gurux decode", label, gx_dec)
        report.check("e cosem decode", label, dc_dec)
        report.check("e gurux encode", label, gx_enc)
        report.check("e cosem encode", label, dc_enc)

    ours_aare = AARE(user_information=InitiateResponse(CONFORMANCE, 0x0400)).encode()

    def gx_aare_dec() -> object:
        client = gx.client()
        client.proposedConformance = gx.conformance(0xFFFFFF)
        client.parseAareResponse(gx.g.GXByteBuffer(ours_aare))
        s = client.settings
        return (
            s.negotiatedConformance == gx.conformance(int(CONFORMANCE)) and s.maxPduSize == 0x0400
        ) or f"{int(s.negotiatedConformance):06X} {s.maxPduSize}"

    def dc_aare_dec() -> object:
        got = dc.acse.ApplicationAssociationResponse.from_bytes(ours_aare)
        init = got.user_information.content
        return (
            got.result == 0
            and dc.conformance_int(init.negotiated_conformance) == int(CONFORMANCE)
            and init.server_max_receive_pdu_size == 0x0400
        ) or f"{got!r:.200}"

    def gx_aare_enc() -> object:
        settings = gx_server(gx, 0x0400)
        settings.negotiatedConformance = gx.conformance(int(CONFORMANCE))
        out = gx.g.GXByteBuffer()
        _GXAPDU.generateAARE(
            settings, out, AssociationResult.ACCEPTED, SourceDiagnostic.NONE, None, None, None
        )
        theirs = bytes(out.array())
        return theirs == ours_aare or f"we decode {decode_acse(theirs)!r:.200}"

    def dc_aare_enc() -> object:
        init = dc.xdlms.InitiateResponse(dc.conformance(int(CONFORMANCE)), 0x0400)
        theirs = dc.acse.ApplicationAssociationResponse(
            dc.enum("AssociationResult", 0),
            dc.enum("AcseServiceUserDiagnostics", 0),
            user_information=UserInformation(init),
        ).to_bytes()
        return theirs == ours_aare or f"we decode {decode_acse(theirs)!r:.200}"

    report.check("e gurux decode", "AARE accepted", gx_aare_dec)
    report.check("e cosem decode", "AARE accepted", dc_aare_dec)
    report.check("e gurux encode", "AARE accepted", gx_aare_enc)
    report.check("e cosem encode", "AARE accepted", dc_aare_enc)
