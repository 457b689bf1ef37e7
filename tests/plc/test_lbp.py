"""LBP codec: header bytes, EAP code shift, configuration parameters, a real EAP-PSK over LBP.

Byte layouts come from Microchip-MPLAB-Harmony/smartenergy_g3 g3/src/lbp:
  [ENC]   source/lbp_encode_decode.c/.h: byte 0 = type << 4 | media << 3 | backup << 2, byte 1 = 0,
          then the 8-byte A_LBD; type values JOINING 0x01 .. KICK_TO_LBD 0x0C; DECLINE carries an
          EAP-Failure.
  [EAPH]  include/eap_psk.h: EAP codes inside LBP are 0x04/0x08/0x0C/0x10 (shifted left by 2).
  [COORD] source/lbp_coord.c: message 3 EXT = 02, 1D 02 <short>, 27 11 <idx> <GMK>, 2B 01 <idx>;
          default GMK AF4D6DCC..., default PSK AB103411..., ARIB ID_S 534DADB2C4D5E6FA repeated
          to 34 bytes, FIXED_RAND_S 11848D16...
  [DEV]   lbp_dev.c (ASF-era copy): message 4 EXT = 02, 31 02 <result> <param id>.
Vectors marked "derived" are assembled from those constants and layouts, not captured.
"""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartmeter_proto.auth.eap import EAP_TYPE_PSK, EapCode, EapPacket
from smartmeter_proto.auth.eap_psk import (
    EapOutcome,
    EapPskPeer,
    EapPskServer,
    PskMessage1,
    decode_psk_message,
)
from smartmeter_proto.errors import DecodeError, EncodeError
from smartmeter_proto.plc import lbp
from smartmeter_proto.plc.lbp import ConfParam, LbpMessage, LbpMessageType

EUI = bytes.fromhex("0080E1FFFE123456")
# [COORD] constants.
HARMONY_PSK = bytes.fromhex("AB10341145111BC3C12DE8FF11142204")
HARMONY_GMK = bytes.fromhex("AF4D6DCCF14DE7C1C4235E6FEF6C151F")
ARIB_ID_S = (bytes.fromhex("534DADB2C4D5E6FA") * 5)[:34]
FIXED_RAND_S = bytes.fromhex("11848D16BC7676F635659012082B3A97")
ID_P = b"HEMS-G3-ARIB-DEVICE-0001".ljust(36, b"\x00")  # 36 bytes, the ARIB ID_P size


@pytest.mark.parametrize(
    ("kind", "first"),
    [
        (LbpMessageType.JOINING, 0x10),
        (LbpMessageType.ACCEPTED, 0x90),
        (LbpMessageType.CHALLENGE, 0xA0),
        (LbpMessageType.DECLINE, 0xB0),
        (LbpMessageType.KICK_FROM_LBD, 0x40),
        (LbpMessageType.KICK_TO_LBD, 0xC0),
    ],
)
def test_header_bytes(kind: LbpMessageType, first: int) -> None:
    # [ENC]: (type << 4), transaction id 0, then A_LBD.
    wire = bytes((first, 0x00)) + EUI
    assert LbpMessage(kind, EUI).encode() == wire
    message = lbp.decode_lbp(wire)
    assert message.message_type is kind
    assert message.lbd_address == EUI
    assert message.bootstrapping_data == b""
    assert message.message_type.from_server == bool(first & 0x80)


def test_media_type_and_disable_backup_bits() -> None:
    # [ENC]: (LBP_JOINING << 4) | (mediaType << 3) | (disableBackup << 2).
    message = LbpMessage(LbpMessageType.JOINING, EUI, b"", media_type=1, disable_backup_medium=True)
    assert message.encode()[0] == 0x1C
    assert lbp.decode_lbp(message.encode()) == message


@pytest.mark.parametrize(
    ("code", "lbp_byte"),
    [
        (EapCode.REQUEST, 0x04),
        (EapCode.RESPONSE, 0x08),
        (EapCode.SUCCESS, 0x0C),
        (EapCode.FAILURE, 0x10),
    ],
)
def test_eap_code_shift(code: EapCode, lbp_byte: int) -> None:
    # [EAPH]: "values are left shifted by 2 bits".
    packet = EapPacket(code, 7, None).encode() if code > 2 else EapPacket(code, 7, 1).encode()
    shifted = lbp.eap_to_lbp(packet)
    assert shifted[0] == lbp_byte
    assert shifted[1:] == packet[1:]
    assert lbp.eap_from_lbp(shifted) == packet
    assert lbp.is_eap(shifted)


def test_challenge_with_message_1_derived_vector() -> None:
    # Derived from [COORD] _processJoining0 with FIXED_RAND_S, identifier 0, the ARIB ID_S:
    # CHALLENGE header, then EAP Request (0x04 in LBP form), id 0, length 56, type 47, T=0.
    wire = bytes.fromhex("A000") + EUI + bytes.fromhex("0400 0038 2F 00") + FIXED_RAND_S + ARIB_ID_S
    message = lbp.decode_lbp(wire)
    assert message.message_type is LbpMessageType.CHALLENGE
    packet = EapPacket.decode(lbp.eap_from_lbp(message.bootstrapping_data))
    assert (packet.code, packet.identifier, packet.type) == (EapCode.REQUEST, 0, EAP_TYPE_PSK)
    psk1 = decode_psk_message(packet.data)
    assert isinstance(psk1, PskMessage1)
    assert psk1.rand_s == FIXED_RAND_S
    assert psk1.id_s == ARIB_ID_S
    message_1 = PskMessage1(FIXED_RAND_S, ARIB_ID_S).encode()
    rebuilt = EapPacket(EapCode.REQUEST, 0, EAP_TYPE_PSK, message_1).encode()
    assert LbpMessage(LbpMessageType.CHALLENGE, EUI, lbp.eap_to_lbp(rebuilt)).encode() == wire


def test_decline_derived_vector() -> None:
    # [ENC] LBP_EncodeDecline: DECLINE header + EAP-Failure (code 0x10 in LBP form, length 4).
    wire = bytes.fromhex("B000") + EUI + bytes.fromhex("10 05 0004")
    message = lbp.decode_lbp(wire)
    assert message.message_type is LbpMessageType.DECLINE
    failure = EapPacket.decode(lbp.eap_from_lbp(message.bootstrapping_data))
    assert (failure.code, failure.identifier) == (EapCode.FAILURE, 5)


def test_message_3_ext_from_coordinator_source() -> None:
    # [COORD] _processJoiningEAPT1 with short address 0x0001, key index 0, default GMK.
    ext = bytes.fromhex("02 1D02 0001 2711 00") + HARMONY_GMK + bytes.fromhex("2B01 00")
    params = lbp.decode_config_ext(ext)
    assert [p.param_id for p in params] == [
        ConfParam.SHORT_ADDRESS,
        ConfParam.GMK,
        ConfParam.GMK_ACTIVATION,
    ]
    built = lbp.encode_config_ext(
        [lbp.short_address_param(1), lbp.gmk_param(0, HARMONY_GMK), lbp.gmk_activation_param(0)]
    )
    assert built == ext
    short = lbp.find_parameter(params, ConfParam.SHORT_ADDRESS)
    assert short is not None
    assert short.value == b"\x00\x01"
    assert HARMONY_GMK.hex() not in repr(params)
    assert "masked" in repr(params[1])


def test_message_4_result_parameter() -> None:
    # [DEV] _ProcessParameters: 02, then CONF_PARAM_RESULT, length 2, result, parameter id.
    ext = lbp.encode_config_ext([lbp.result_param(lbp.ParamResult.SUCCESS)])
    assert ext == bytes.fromhex("02 3102 0000")
    missing = lbp.result_param(lbp.ParamResult.MISSING_REQUIRED_PARAMETER, ConfParam.GMK)
    assert missing.value == bytes.fromhex("0127")


def test_configuration_in_accepted_is_not_eap() -> None:
    # lbp_dev.c _Join_Process_Accepted: bit 0 of the first byte set = configuration parameters.
    config = lbp.encode_parameters([lbp.gmk_activation_param(1)])
    assert not lbp.is_eap(config)
    with pytest.raises(DecodeError):
        lbp.eap_from_lbp(config)


def test_bad_inputs() -> None:
    with pytest.raises(DecodeError):
        lbp.decode_lbp(b"\x10\x00" + EUI[:7])
    with pytest.raises(DecodeError):
        lbp.decode_config_ext(b"\x01\x1d\x02\x00\x01")
    with pytest.raises(DecodeError) as info:
        lbp.decode_config_ext(b"\x02\x1d\x05\x00")
    assert info.value.offset >= 1
    with pytest.raises(EncodeError):
        lbp.eap_to_lbp(b"\x40\x00\x00\x04")
    with pytest.raises(ValueError, match="A_LBD"):
        LbpMessage(LbpMessageType.JOINING, EUI[:7])


def _rng_bytes(seed: int):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return rng.randbytes


def _exchange(server_psk: bytes, ext4: bytes | None = None) -> tuple[EapPskPeer, EapPskServer]:
    """A full EAP-PSK run where every packet crosses LBP in its shifted form."""
    ext = lbp.encode_config_ext(
        [
            lbp.short_address_param(0x0042),
            lbp.gmk_param(0, HARMONY_GMK),
            lbp.gmk_activation_param(0),
        ]
    )
    server = EapPskServer(
        ARIB_ID_S,
        lambda idp: server_psk if idp == ID_P else None,
        random_bytes=_rng_bytes(1),
        ext=ext,
    )
    peer = EapPskPeer(ID_P, HARMONY_PSK, random_bytes=_rng_bytes(2), ext4=ext4)
    to_peer = LbpMessage(LbpMessageType.CHALLENGE, EUI, lbp.eap_to_lbp(server.start())).encode()
    for _ in range(4):
        request = lbp.decode_lbp(to_peer)
        response = peer.receive(lbp.eap_from_lbp(request.bootstrapping_data))
        if response is None:
            break
        joining = LbpMessage(LbpMessageType.JOINING, EUI, lbp.eap_to_lbp(response)).encode()
        answer = server.receive(lbp.eap_from_lbp(lbp.decode_lbp(joining).bootstrapping_data))
        assert answer is not None
        kind = {
            EapCode.REQUEST: LbpMessageType.CHALLENGE,
            EapCode.SUCCESS: LbpMessageType.ACCEPTED,
            EapCode.FAILURE: LbpMessageType.DECLINE,
        }[EapCode(answer[0])]
        to_peer = LbpMessage(kind, EUI, lbp.eap_to_lbp(answer)).encode()
        if kind is LbpMessageType.DECLINE:
            break
    return peer, server


def test_eap_psk_over_lbp_delivers_the_short_address() -> None:
    peer, server = _exchange(HARMONY_PSK)
    assert peer.outcome is EapOutcome.SUCCESS
    assert server.outcome is EapOutcome.SUCCESS
    assert peer.ext is not None
    short = lbp.find_parameter(lbp.decode_config_ext(peer.ext), ConfParam.SHORT_ADDRESS)
    assert short is not None
    assert short.value == b"\x00\x42"


def test_eap_psk_over_lbp_returns_the_parameter_result() -> None:
    # [DEV] message 4 EXT after a message 3 whose parameters were all accepted.
    ext4 = lbp.encode_config_ext([lbp.result_param(lbp.ParamResult.SUCCESS)])
    peer, server = _exchange(HARMONY_PSK, ext4)
    assert peer.outcome is server.outcome is EapOutcome.SUCCESS
    assert server.peer_ext == bytes.fromhex("02 3102 0000")
    result = lbp.find_parameter(lbp.decode_config_ext(server.peer_ext), ConfParam.RESULT)
    assert result is not None
    assert result.value == bytes((lbp.ParamResult.SUCCESS, 0))


def test_eap_psk_over_lbp_wrong_psk_is_declined() -> None:
    peer, server = _exchange(bytes(16))
    assert server.outcome is EapOutcome.FAILURE
    assert server.failure == "MAC_P does not verify"
    assert peer.outcome is not EapOutcome.SUCCESS


# --- Hypothesis: round trips and total decoding -----------------------------------------------


@given(st.binary(min_size=10, max_size=300))
def test_decode_encode_round_trip(data: bytes) -> None:
    assert lbp.decode_lbp(data).encode() == data


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_decode_error(data: bytes) -> None:
    for decoder in (lbp.decode_lbp, lbp.decode_parameters, lbp.decode_config_ext, lbp.eap_from_lbp):
        with contextlib.suppress(DecodeError):
            decoder(data)


@given(st.binary(max_size=200))
def test_parameters_round_trip(data: bytes) -> None:
    try:
        params = lbp.decode_parameters(data)
    except DecodeError:
        return
    assert lbp.encode_parameters(params) == data


@given(st.binary(min_size=1, max_size=100))
def test_eap_shift_round_trip(data: bytes) -> None:
    try:
        packet = lbp.eap_from_lbp(data)
    except DecodeError:
        assert data[0] & 0x03
        return
    assert lbp.eap_to_lbp(packet) == data


@given(
    st.sampled_from(list(LbpMessageType)),
    st.binary(min_size=8, max_size=8),
    st.binary(max_size=100),
    st.integers(0, 1),
    st.booleans(),
)
def test_message_round_trip(
    kind: LbpMessageType, lbd: bytes, data: bytes, media: int, backup: bool
) -> None:
    message = LbpMessage(kind, lbd, data, media, backup)
    assert lbp.decode_lbp(message.encode()) == message
