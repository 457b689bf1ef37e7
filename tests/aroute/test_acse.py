"""ACSE (AARQ/AARE/RLRQ/RLRE) and xDLMS initiate: real vectors, round trips, cross-checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.aroute.acse import (
    AARE,
    AARQ,
    RLRE,
    RLRQ,
    AcseServiceUserDiagnostic,
    ApplicationContextName,
    AssociationResult,
    ConfirmedServiceError,
    Conformance,
    InitiateRequest,
    InitiateResponse,
    MechanismName,
    ReleaseRequestReason,
    ResultSource,
    decode_acse,
)
from smartmeter_proto.errors import DecodeError

# Green Book v10 p.444 examples, as quoted in dlms-cosem tests/test_acse/test_aarq.py
AARQ_NO_SECURITY = bytes.fromhex("601DA109060760857405080101BE10040E01000000065F1F0400007E1F04B0")
AARQ_LLS = bytes.fromhex(
    "6036A1090607608574050801018A0207808B0760857405080201AC0A80083132333435363738"
    "BE10040E01000000065F1F0400007E1F04B0"
)
# Green Book AARE example, as in dlms-cosem tests/test_acse/test_aare.py
AARE_OK = bytes.fromhex(
    "6129A109060760857405080101A203020100A305A103020100BE10040E0800065F1F040000501F01F40007"
)


def test_aarq_no_security() -> None:
    aarq = decode_acse(AARQ_NO_SECURITY)
    assert isinstance(aarq, AARQ)
    assert aarq.application_context == ApplicationContextName.LOGICAL_NAME
    assert aarq.mechanism_name is None
    init = aarq.user_information
    assert isinstance(init, InitiateRequest)
    assert init.dlms_version == 6
    assert init.client_max_receive_pdu_size == 0x04B0
    assert init.conformance == Conformance(0x007E1F)
    assert Conformance.GET in init.conformance
    assert Conformance.ACTION in init.conformance
    assert aarq.encode() == AARQ_NO_SECURITY


def test_aarq_low_level_security_and_masking() -> None:
    aarq = decode_acse(AARQ_LLS)
    assert isinstance(aarq, AARQ)
    assert aarq.mechanism_name == MechanismName.LOW
    assert aarq.sender_acse_requirements is True
    assert aarq.calling_authentication_value == b"12345678"
    assert "12345678" not in repr(aarq)
    assert aarq.encode() == AARQ_LLS


def test_aare_accepted() -> None:
    aare = decode_acse(AARE_OK)
    assert isinstance(aare, AARE)
    assert aare.result == AssociationResult.ACCEPTED
    assert aare.result_source == ResultSource.SERVICE_USER
    assert aare.diagnostic == AcseServiceUserDiagnostic.NULL
    resp = aare.user_information
    assert isinstance(resp, InitiateResponse)
    assert resp.server_max_receive_pdu_size == 500
    assert resp.vaa_name == 7
    assert resp.conformance == Conformance(0x00501F)
    assert aare.encode() == AARE_OK


def test_hls_gmac_aarq_with_system_title() -> None:
    aarq = AARQ(
        ApplicationContextName.LOGICAL_NAME_CIPHERED,
        InitiateRequest(Conformance.GET | Conformance.GENERAL_PROTECTION, 1024),
        calling_ap_title=bytes.fromhex("4D4D4D0000BC614E"),
        mechanism_name=MechanismName.HIGH_GMAC,
        calling_authentication_value=b"K56iVagY",
        sender_acse_requirements=True,
    )
    raw = aarq.encode()
    assert raw[2:13] == bytes.fromhex("A109060760857405080103")
    assert bytes.fromhex("A60A04084D4D4D0000BC614E") in raw
    assert bytes.fromhex("8B0760857405080205") in raw
    assert decode_acse(raw) == aarq


def test_release() -> None:
    assert decode_acse(bytes.fromhex("6203800100")) == RLRQ(ReleaseRequestReason.NORMAL)
    assert decode_acse(bytes.fromhex("6303800100")).encode() == bytes.fromhex("6303800100")
    assert decode_acse(bytes.fromhex("6200")) == RLRQ(None)


def test_rejected_aare_with_confirmed_service_error() -> None:
    aare = AARE(
        AssociationResult.REJECTED_PERMANENT,
        ResultSource.SERVICE_USER,
        AcseServiceUserDiagnostic.AUTHENTICATION_FAILURE,
        user_information=ConfirmedServiceError(1, 6, 1),
    )
    assert decode_acse(aare.encode()) == aare


def test_errors() -> None:
    for bad in (
        b"",
        b"\x60",
        AARQ_NO_SECURITY[:-1],
        b"\x64\x00",
        AARQ_NO_SECURITY + b"\x00",
        bytes.fromhex("6003A20100"),
        bytes.fromhex("6081050000000000"),
    ):
        with pytest.raises(DecodeError) as ei:
            decode_acse(bad)
        assert ei.value.layer == "acse"


confs = st.integers(0, 0xFFFFFF).map(Conformance)
octs = st.none() | st.binary(max_size=20)
small = st.none() | st.integers(0, 127)
inits = st.builds(
    InitiateRequest,
    confs,
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
    st.none() | st.binary(min_size=16, max_size=16),
    st.none() | st.booleans(),
    st.none() | st.integers(-128, 127),
)
resps = st.builds(
    InitiateResponse,
    confs,
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
    st.none() | st.integers(-128, 127),
    st.integers(0, 0xFFFF),
)
ctx = st.sampled_from(list(ApplicationContextName)) | st.integers(0, 127)
mech = st.none() | st.sampled_from(list(MechanismName))
bits = st.none() | st.booleans()
acse_apdus = st.one_of(
    st.builds(
        AARQ,
        ctx,
        st.none()
        | inits
        | st.binary(min_size=1, max_size=30).filter(lambda b: b[0] not in (1, 8, 14)),
        octs,
        mech,
        octs,
        bits,
        octs,
        octs,
        small,
        small,
        octs,
        small,
        small,
        bits,
        octs,
    ),
    st.builds(
        AARE,
        st.sampled_from(list(AssociationResult)),
        st.sampled_from([1, 2]),
        st.integers(0, 14),
        ctx,
        st.none() | resps,
        octs,
        mech,
        octs,
        bits,
        octs,
        small,
        small,
        bits,
        octs,
    ),
    st.builds(RLRQ, st.none() | st.sampled_from([0, 1, 30]), st.none() | inits),
    st.builds(RLRE, st.none() | st.sampled_from([0, 1, 30]), st.none() | resps),
)


@given(acse_apdus)
def test_round_trip(apdu: AARQ | AARE | RLRQ | RLRE) -> None:
    raw = apdu.encode()
    assert decode_acse(raw) == apdu
    assert decode_acse(raw).encode() == raw


@given(st.binary(max_size=150))
def test_any_bytes(raw: bytes) -> None:
    try:
        apdu = decode_acse(raw)
    except DecodeError as exc:
        assert exc.layer == "acse"
        return
    assert apdu.encode() == raw


@given(
    st.sampled_from([AARQ_NO_SECURITY, AARQ_LLS, AARE_OK]), st.integers(0, 60), st.integers(0, 255)
)
def test_mutations(base: bytes, pos: int, value: int) -> None:
    raw = bytearray(base)
    raw[pos % len(raw)] = value
    try:
        apdu = decode_acse(bytes(raw))
    except DecodeError:
        return
    assert apdu.encode() == bytes(raw)


# --- cross-checks against dlms-cosem ------------------------------------------------------

acse = pytest.importorskip("dlms_cosem.protocol.acse")


def test_dlms_cosem_parses_our_aarq() -> None:
    ours = AARQ(
        user_information=InitiateRequest(Conformance(0x007E1F), 0x04B0),
        mechanism_name=MechanismName.LOW,
        calling_authentication_value=b"12345678",
        sender_acse_requirements=True,
    )
    theirs = acse.ApplicationAssociationRequest.from_bytes(ours.encode())
    assert theirs.authentication_value == b"12345678"
    assert theirs.user_information.content.client_max_receive_pdu_size == 0x04B0
    assert theirs.user_information.content.proposed_conformance.get


def test_we_parse_dlms_cosem_aarq_and_aare() -> None:
    theirs = acse.ApplicationAssociationRequest.from_bytes(AARQ_LLS)
    assert decode_acse(theirs.to_bytes()).encode() == AARQ_LLS
    theirs_aare = acse.ApplicationAssociationResponse.from_bytes(AARE_OK)
    ours = decode_acse(theirs_aare.to_bytes())
    assert isinstance(ours, AARE)
    assert isinstance(ours.user_information, InitiateResponse)
    assert ours.user_information.server_max_receive_pdu_size == 500


def test_dlms_cosem_parses_our_aare() -> None:
    ours = AARE(user_information=InitiateResponse(Conformance(0x00501F), 500))
    theirs = acse.ApplicationAssociationResponse.from_bytes(ours.encode())
    assert theirs.result.value == 0
    assert theirs.user_information.content.server_max_receive_pdu_size == 500
