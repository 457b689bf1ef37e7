"""EAP packet codec, EAP-PSK keys/messages/PCHANNEL, and the peer/server state machines.

No published EAP-PSK test vector was found (RFC 4764 has none); keys are checked against an
independent model of RFC 4764 §3.1/§3.2 (the algorithm as hostapd's eap_psk_common.c implements
it) built on pycryptodome's AES, and message 3 is built independently with pycryptodome's EAX.
"""

from __future__ import annotations

import contextlib
import random

import pytest
from Crypto.Cipher import AES
from Crypto.Hash import CMAC
from hypothesis import assume, given
from hypothesis import strategies as st

from smartmeter_proto.auth import (
    EAP_TYPE_IDENTITY,
    EAP_TYPE_PSK,
    EapCode,
    EapOutcome,
    EapPacket,
    EapPskPeer,
    EapPskServer,
    PChannel,
    PChannelContent,
    PskMessage1,
    PskMessage2,
    PskMessage3,
    PskMessage4,
    PskResult,
    decode_psk_message,
    derive_keys,
)
from smartmeter_proto.auth.eap_psk import MAX_ID_LEN
from smartmeter_proto.errors import DecodeError

PSK = bytes.fromhex("0123456789abcdef0123456789abcdef")
ID_P = b"00112233445566778899AABBCCDDEEFF"  # B-route ID style, 32 ASCII characters
ID_S = b"meter-server"


def rng(seed: int) -> random.Random:
    return random.Random(seed)  # deterministic random_bytes for reproducible exchanges


def make_pair(
    *,
    psk_peer: bytes = PSK,
    ext: bytes | None = None,
    ext4: bytes | None = None,
    seed: int = 1,
    known: bool = True,
) -> tuple[EapPskPeer, EapPskServer]:
    peer = EapPskPeer(ID_P, psk_peer, random_bytes=rng(seed).randbytes, ext4=ext4)
    server = EapPskServer(
        ID_S,
        lambda id_p: PSK if known and id_p == ID_P else None,
        random_bytes=rng(seed + 100).randbytes,
        identifier=7,
        ext=ext,
    )
    return peer, server


# --------------------------------------------------------------------------- independent model


def _aes(key: bytes, block: bytes) -> bytes:
    return AES.new(key, AES.MODE_ECB).encrypt(block)


def _xor_last(block: bytes, c: int) -> bytes:
    return block[:-1] + bytes([block[-1] ^ c])


def reference_keys(psk: bytes, rand_p: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """RFC 4764 §3.1-3.2 as hostapd computes them: counters XORed into the last byte."""
    b = _aes(psk, bytes(16))
    ak, kdk = _aes(psk, _xor_last(b, 1)), _aes(psk, _xor_last(b, 2))
    x = _aes(kdk, rand_p)
    blocks = [_aes(kdk, _xor_last(x, i)) for i in range(1, 10)]
    return ak, kdk, blocks[0], b"".join(blocks[1:5]), b"".join(blocks[5:9])


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
def test_derive_keys_matches_reference_model(psk: bytes, rand_p: bytes) -> None:
    keys = derive_keys(psk, rand_p)
    assert (keys.ak, keys.kdk, keys.tek, keys.msk, keys.emsk) == reference_keys(psk, rand_p)
    assert len(keys.msk) == 64
    assert len(keys.emsk) == 64


def test_keys_repr_is_masked() -> None:
    keys = derive_keys(PSK, bytes(range(16)))
    text = repr(keys)
    for secret in (keys.ak, keys.kdk, keys.tek, keys.msk, keys.emsk):
        assert secret.hex() not in text
        assert repr(secret) not in text
    assert "masked" in text


# --------------------------------------------------------------------------- EAP codec

eap_packets = st.one_of(
    st.builds(
        EapPacket,
        st.sampled_from([EapCode.REQUEST, EapCode.RESPONSE]),
        st.integers(0, 255),
        st.integers(0, 255),
        st.binary(max_size=300),
    ),
    st.builds(
        EapPacket,
        st.sampled_from([EapCode.SUCCESS, EapCode.FAILURE]),
        st.integers(0, 255),
        st.none(),
    ),
    st.builds(
        EapPacket, st.integers(5, 255), st.integers(0, 255), st.none(), st.binary(max_size=50)
    ),
)


@given(eap_packets)
def test_eap_packet_round_trip(pkt: EapPacket) -> None:
    wire = pkt.encode()
    assert EapPacket.decode(wire) == pkt
    assert int.from_bytes(wire[2:4], "big") == len(wire)


@given(eap_packets, st.binary(min_size=1, max_size=8))
def test_eap_padding_beyond_length_is_ignored(pkt: EapPacket, padding: bytes) -> None:
    assert EapPacket.decode(pkt.encode() + padding) == pkt  # RFC 3748 §4


@given(st.binary(max_size=120))
def test_eap_any_bytes_value_or_decode_error(data: bytes) -> None:
    try:
        pkt = EapPacket.decode(data)
    except DecodeError as exc:
        assert exc.layer == "eap"
        assert 0 <= exc.offset <= len(data)
    else:
        assert pkt.encode() == data[: int.from_bytes(data[2:4], "big")]


def test_eap_success_and_known_bytes() -> None:
    # RFC 3748 §4.2: Success is exactly 4 bytes: code 3, identifier, length 4.
    assert EapPacket.decode(bytes.fromhex("03070004")) == EapPacket(EapCode.SUCCESS, 7, None)
    with pytest.raises(DecodeError, match="trailing"):
        EapPacket.decode(bytes.fromhex("0307000500"))
    with pytest.raises(DecodeError):
        EapPacket.decode(bytes.fromhex("01070004"))  # a Request without its Type octet
    with pytest.raises(DecodeError, match="exceeds"):
        EapPacket.decode(bytes.fromhex("0107000a01"))


# --------------------------------------------------------------------------- PSK messages

b16 = st.binary(min_size=16, max_size=16)
ids = st.binary(min_size=1, max_size=MAX_ID_LEN)
pchannels = st.builds(PChannel, st.integers(0, 0xFFFFFFFF), b16, st.binary(min_size=1, max_size=60))
psk_messages = st.one_of(
    st.builds(PskMessage1, b16, ids),
    st.builds(PskMessage2, b16, b16, b16, ids),
    st.builds(PskMessage3, b16, b16, pchannels),
    st.builds(PskMessage4, b16, pchannels),
)


@given(psk_messages)
def test_psk_message_round_trip(msg: PskMessage1 | PskMessage2 | PskMessage3 | PskMessage4) -> None:
    wire = msg.encode()
    assert wire[0] >> 6 == msg.T
    assert decode_psk_message(wire) == msg
    assert decode_psk_message(wire).encode() == wire


@given(st.binary(max_size=320))
def test_psk_any_bytes_value_or_decode_error(data: bytes) -> None:
    try:
        msg = decode_psk_message(data)
    except DecodeError as exc:
        assert exc.layer == "eap-psk"
        assert 0 <= exc.offset <= len(data)
    else:
        assert msg.encode()[1:] == data[1:]  # only reserved Flags bits may differ


@given(st.sampled_from(list(PskResult)), st.none() | st.binary(min_size=1, max_size=40))
def test_pchannel_content_round_trip(result: PskResult, ext: bytes | None) -> None:
    content = PChannelContent(result, ext)
    assert PChannelContent.decode(content.encode()) == content


@given(st.binary(max_size=40))
def test_pchannel_content_any_bytes(data: bytes) -> None:
    try:
        PChannelContent.decode(data)
    except DecodeError as exc:
        assert exc.layer == "eap-psk"


def test_identity_length_bounds() -> None:
    rand = bytes(16)
    with pytest.raises(DecodeError, match="ID_S"):
        decode_psk_message(b"\x00" + rand)  # message 1 with an empty ID_S
    with pytest.raises(DecodeError, match="ID_S"):
        decode_psk_message(b"\x00" + rand + b"x" * (MAX_ID_LEN + 1))
    with pytest.raises(DecodeError, match="ID_P"):
        decode_psk_message(b"\x40" + rand * 3 + b"x" * (MAX_ID_LEN + 1))
    with pytest.raises(DecodeError, match="PCHANNEL"):
        decode_psk_message(b"\x80" + rand * 2 + bytes(20))  # no encrypted flag byte
    with pytest.raises(ValueError, match="ID_P"):
        EapPskPeer(b"", PSK)


# --------------------------------------------------------------------------- exchanges


def run(peer: EapPskPeer, server: EapPskServer) -> list[bytes]:
    """Drive a whole exchange; returns the packets in order."""
    wire = [server.start()]
    while True:
        answer = peer.receive(wire[-1])
        if answer is None:
            return wire
        wire.append(answer)
        reply = server.receive(answer)
        assert reply is not None
        wire.append(reply)


def test_full_exchange_succeeds_with_equal_keys() -> None:
    peer, server = make_pair()
    wire = run(peer, server)
    assert [EapPacket.decode(w).code for w in wire] == [1, 2, 1, 2, 3]
    assert [w[5] >> 6 for w in wire[:4]] == [0, 1, 2, 3]  # T = 0..3
    assert peer.outcome is server.outcome is EapOutcome.SUCCESS
    assert peer.failure is None
    assert server.failure is None
    assert peer.msk is not None
    assert len(peer.msk) == 64
    assert peer.msk == server.msk
    assert peer.emsk == server.emsk
    assert peer.id_s == ID_S
    assert server.id_p == ID_P
    msg2 = decode_psk_message(EapPacket.decode(wire[1]).data)
    assert isinstance(msg2, PskMessage2)
    assert peer.msk == derive_keys(PSK, msg2.rand_p).msk
    assert EapPacket.decode(wire[4]).identifier == EapPacket.decode(wire[3]).identifier


def test_message3_pchannel_layout_checked_with_pycryptodome() -> None:
    peer, server = make_pair(ext=b"\x02\x1d\x02\x00\x01")
    wire = run(peer, server)
    msg2 = decode_psk_message(EapPacket.decode(wire[1]).data)
    assert isinstance(msg2, PskMessage2)
    tek = derive_keys(PSK, msg2.rand_p).tek
    for packet, nonce, flags in ((wire[2], 0, 0xA0), (wire[3], 1, 0x80)):
        msg = decode_psk_message(EapPacket.decode(packet).data)
        assert isinstance(msg, PskMessage3 | PskMessage4)
        assert msg.pchannel.nonce == nonce  # server starts at 0, the peer answers N + 1
        ref = AES.new(tek, AES.MODE_EAX, nonce=bytes(12) + nonce.to_bytes(4, "big"), mac_len=16)
        ref.update(packet[:22])  # RFC 4764 §3.3: header = Code .. RAND_S
        plain = ref.decrypt_and_verify(msg.pchannel.ciphertext, msg.pchannel.tag)
        assert plain[0] == flags  # DONE_SUCCESS (+ E flag in message 3)
    assert peer.ext == b"\x02\x1d\x02\x00\x01"


def independent_message3(peer: EapPskPeer, r_flag: PskResult) -> tuple[bytes, bytes, bytes]:
    """Messages 1-3 built with pycryptodome from RFC 4764 §5.1-5.3 -> (message 3, TEK, MSK)."""
    rand_s = bytes(range(16))
    msg1 = EapPacket(EapCode.REQUEST, 1, EAP_TYPE_PSK, b"\x00" + rand_s + ID_S).encode()
    msg2 = decode_psk_message(EapPacket.decode(peer.receive(msg1) or b"").data)
    assert isinstance(msg2, PskMessage2)
    ak, _kdk, tek, msk, _emsk = reference_keys(PSK, msg2.rand_p)
    assert msg2.mac_p == CMAC.new(ak, ID_P + ID_S + rand_s + msg2.rand_p, ciphermod=AES).digest()
    mac_s = CMAC.new(ak, ID_S + msg2.rand_p, ciphermod=AES).digest()
    header = bytes([1, 2]) + (59).to_bytes(2, "big") + bytes([47, 0x80]) + rand_s
    eax = AES.new(tek, AES.MODE_EAX, nonce=bytes(16), mac_len=16)
    eax.update(header)
    ct, tag = eax.encrypt_and_digest(bytes([r_flag << 6]))
    return header + mac_s + bytes(4) + tag + ct, tek, msk


def open_message4(tek: bytes, msg4: bytes) -> bytes:
    """Message 4's PCHANNEL plaintext, opened with pycryptodome (nonce 1, header = first 22)."""
    msg = decode_psk_message(EapPacket.decode(msg4).data)
    assert isinstance(msg, PskMessage4)
    assert msg.pchannel.nonce == 1
    ref = AES.new(tek, AES.MODE_EAX, nonce=bytes(15) + b"\x01", mac_len=16)
    ref.update(msg4[:22])
    return ref.decrypt_and_verify(msg.pchannel.ciphertext, msg.pchannel.tag)


def test_peer_accepts_independently_built_message3() -> None:
    """Message 3 built here from RFC 4764 §5.3 with pycryptodome, not with our encoder."""
    for r_flag, outcome in ((PskResult.DONE_SUCCESS, None), (PskResult.DONE_FAILURE, "DONE_FAIL")):
        peer = EapPskPeer(ID_P, PSK, random_bytes=rng(5).randbytes)
        msg3, _tek, msk = independent_message3(peer, r_flag)
        msg4 = peer.receive(msg3)
        assert msg4 is not None
        assert len(msg4) == 43
        assert peer.receive(bytes.fromhex("03020004")) is None
        if outcome is None:
            assert peer.outcome is EapOutcome.SUCCESS
            assert peer.msk == msk
        else:
            assert peer.outcome is EapOutcome.FAILURE
            assert peer.msk is None
            assert peer.failure is not None
            assert "DONE_FAILURE" in peer.failure


def test_wrong_password_fails_at_message2() -> None:
    peer, server = make_pair(psk_peer=bytes(16))
    msg2 = peer.receive(server.start())
    assert msg2 is not None
    answer = server.receive(msg2)
    assert answer == EapPacket(EapCode.FAILURE, 7, None).encode()
    assert server.outcome is EapOutcome.FAILURE
    assert server.failure == "MAC_P does not verify"
    assert server.msk is None
    assert server.receive(msg2) == answer  # retransmitted message 2: same answer
    assert peer.receive(answer) is None
    assert peer.outcome is EapOutcome.FAILURE
    assert peer.failure == "server sent EAP-Failure"


def test_unknown_id_p_fails() -> None:
    peer, server = make_pair(known=False)
    answer = server.receive(peer.receive(server.start()) or b"")
    assert answer is not None
    assert answer[0] == EapCode.FAILURE
    assert server.failure == "unknown ID_P"


def test_retransmissions_get_the_same_answer() -> None:
    peer, server = make_pair()
    msg1 = server.start()
    assert server.start() == msg1 == server.pending_request
    msg2 = peer.receive(msg1)
    assert peer.receive(msg1) == msg2  # same identifier -> same response, same RAND_P
    msg3 = server.receive(msg2 or b"")
    assert server.receive(msg2 or b"") == msg3
    msg4 = peer.receive(msg3 or b"")
    assert peer.receive(msg3 or b"") == msg4
    success = server.receive(msg4 or b"")
    assert server.receive(msg4 or b"") == success
    assert peer.receive(success or b"") is None
    assert peer.outcome is EapOutcome.SUCCESS


def test_malformed_input_leaves_state_unchanged() -> None:
    peer, server = make_pair()
    msg2 = peer.receive(server.start())
    msg3 = server.receive(msg2 or b"")
    assert msg3 is not None
    with pytest.raises(DecodeError):
        peer.receive(msg3[:10])
    with pytest.raises(DecodeError):
        peer.receive(msg3[:6] + msg3[22:])  # length field now exceeds the bytes
    with pytest.raises(DecodeError):
        server.receive(b"\x02")
    msg4 = peer.receive(msg3)
    assert server.receive(msg4 or b"") is not None
    assert server.outcome is EapOutcome.SUCCESS


def test_peer_answers_identity_and_naks_other_methods() -> None:
    peer = EapPskPeer(ID_P, PSK)
    ident = peer.receive(EapPacket(EapCode.REQUEST, 3, EAP_TYPE_IDENTITY, b"").encode())
    assert ident == EapPacket(EapCode.RESPONSE, 3, EAP_TYPE_IDENTITY, ID_P).encode()
    nak = peer.receive(EapPacket(EapCode.REQUEST, 4, 4, b"md5-challenge").encode())
    assert nak == EapPacket(EapCode.RESPONSE, 4, 3, bytes([EAP_TYPE_PSK])).encode()
    assert peer.outcome is EapOutcome.PENDING


def test_premature_success_is_not_trusted() -> None:
    peer, server = make_pair()
    msg2 = peer.receive(server.start())
    assert msg2 is not None
    assert peer.receive(EapPacket(EapCode.SUCCESS, msg2[1], None).encode()) is None
    assert peer.outcome is EapOutcome.PENDING
    assert peer.msk is None


@given(st.data())
def test_tampered_message3_never_succeeds(data: st.DataObject) -> None:
    peer, server = make_pair(seed=3)
    msg2 = peer.receive(server.start())
    msg3 = server.receive(msg2 or b"")
    assert msg3 is not None
    bit = data.draw(st.integers(0, len(msg3) * 8 - 1))
    tampered = bytearray(msg3)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with contextlib.suppress(DecodeError):
        peer.receive(bytes(tampered))
    peer.receive(EapPacket(EapCode.SUCCESS, msg3[1], None).encode())
    assert peer.outcome is not EapOutcome.SUCCESS
    assert peer.msk is None


@given(st.data())
def test_tampered_message4_never_succeeds(data: st.DataObject) -> None:
    peer, server = make_pair(seed=4)
    msg3 = server.receive(peer.receive(server.start()) or b"")
    msg4 = peer.receive(msg3 or b"")
    assert msg4 is not None
    bit = data.draw(st.integers(0, len(msg4) * 8 - 1))
    tampered = bytearray(msg4)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assume(bytes(tampered) != msg4)
    with contextlib.suppress(DecodeError):
        server.receive(bytes(tampered))
    assert server.outcome is not EapOutcome.SUCCESS
    assert server.msk is None


#: smartenergy_g3 lbp_dev.c _Join_Process_Challenge_ThirdMessage: message 4's EXT is EXT_Type 0x02
#: (configuration parameters), then CONF_PARAM_RESULT 0x31, length 2, RESULT_PARAMETER_SUCCESS
#: 0x00 (lbp_encode_decode.h) and parameter id 0 when every parameter was accepted.
LBP_RESULT_EXT = bytes.fromhex("02 31 02 00 00")


def test_message4_ext_reaches_the_server() -> None:
    peer, server = make_pair(ext=b"\x02\x1d\x02\x00\x01", ext4=LBP_RESULT_EXT)
    wire = run(peer, server)
    assert peer.outcome is server.outcome is EapOutcome.SUCCESS
    assert server.peer_ext == LBP_RESULT_EXT
    assert len(wire[3]) == 43 + len(LBP_RESULT_EXT)  # RFC 4764 message 4 + EXT
    msg2 = decode_psk_message(EapPacket.decode(wire[1]).data)
    assert isinstance(msg2, PskMessage2)
    tek = derive_keys(PSK, msg2.rand_p).tek
    # R = DONE_SUCCESS (2 << 6) with the E flag (0x20), then the EXT field.
    assert open_message4(tek, wire[3]) == b"\xa0" + LBP_RESULT_EXT


def test_message4_without_ext() -> None:
    peer, server = make_pair(ext=b"\x02\x1d\x02\x00\x01")
    run(peer, server)
    assert server.outcome is EapOutcome.SUCCESS
    assert server.peer_ext is None
    with pytest.raises(ValueError, match="EXT_Type"):
        EapPskPeer(ID_P, PSK, ext4=b"")


def test_message4_ext_checked_with_pycryptodome() -> None:
    """The peer's message 4 against an independently built message 3, opened independently."""
    for r_flag, plain in (
        (PskResult.DONE_SUCCESS, b"\xa0" + LBP_RESULT_EXT),
        (PskResult.DONE_FAILURE, b"\xc0"),  # a failing peer sends no EXT
    ):
        peer = EapPskPeer(ID_P, PSK, random_bytes=rng(5).randbytes, ext4=LBP_RESULT_EXT)
        msg3, tek, _msk = independent_message3(peer, r_flag)
        msg4 = peer.receive(msg3)
        assert msg4 is not None
        assert open_message4(tek, msg4) == plain


@given(st.data())
def test_tampered_message4_with_ext_is_not_exposed(data: st.DataObject) -> None:
    peer, server = make_pair(seed=5, ext4=LBP_RESULT_EXT)
    msg4 = peer.receive(server.receive(peer.receive(server.start()) or b"") or b"")
    assert msg4 is not None
    bit = data.draw(st.integers(0, len(msg4) * 8 - 1))
    tampered = bytearray(msg4)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with contextlib.suppress(DecodeError):
        server.receive(bytes(tampered))
    assert server.outcome is not EapOutcome.SUCCESS
    assert server.peer_ext is None
    if bit >= 8 * 43:  # a flipped EXT byte: the PCHANNEL tag no longer verifies
        assert server.failure == "PCHANNEL does not verify"


def test_peer_fails_on_bad_mac_s_and_bad_pchannel() -> None:
    for offset, reason in ((22, "MAC_S does not verify"), (58, "PCHANNEL does not verify")):
        peer, server = make_pair()
        msg3 = bytearray(server.receive(peer.receive(server.start()) or b"") or b"")
        msg3[offset] ^= 0x01
        assert peer.receive(bytes(msg3)) is None
        assert peer.outcome is EapOutcome.FAILURE
        assert peer.failure == reason


def test_reprs_show_no_secrets() -> None:
    peer, server = make_pair()
    run(peer, server)
    assert peer.msk is not None
    assert peer.emsk is not None
    for obj in (peer, server):
        text = repr(obj)
        for secret in (PSK, peer.msk, peer.emsk):
            assert secret.hex() not in text
            assert repr(secret)[2:-1] not in text
