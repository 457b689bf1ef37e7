"""EAP-PSK (RFC 4764) peer/server state machines.

Sans-IO: feed EAP packets (bytes) to ``receive`` and send back what it returns.
The wire format (keys, the four messages, the PCHANNEL) lives in :mod:`.eap_psk_messages`
and is re-exported here.  Facts cross-checked against hostapd's eap_peer/eap_psk.c and
eap_server/eap_server_psk.c.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from enum import Enum, StrEnum
from typing import Final

from ..errors import AuthError, DecodeError
from .eap import (
    EAP_TYPE_IDENTITY,
    EAP_TYPE_NAK,
    EAP_TYPE_NOTIFICATION,
    EAP_TYPE_PSK,
    EapCode,
    EapPacket,
)
from .eap_psk_messages import (
    EMSK_LEN,
    MAX_ID_LEN,
    MAX_NONCE,
    MSK_LEN,
    PSK_LEN,
    RAND_LEN,
    EapPskKeys,
    PChannel,
    PChannelContent,
    PskMessage,
    PskMessage1,
    PskMessage2,
    PskMessage3,
    PskMessage4,
    PskResult,
    check_id,
    compute_mac_p,
    compute_mac_s,
    decode_psk_message,
    derive_keys,
    derive_session_keys,
    key_setup,
    open_pchannel,
    pchannel_packet,
)

# Kept importable from here as before the split (not in __all__).
from .eap_psk_messages import LAYER as LAYER
from .eap_psk_messages import MAC_LEN as MAC_LEN
from .eap_psk_messages import NONCE_LEN as NONCE_LEN
from .eap_psk_messages import PCHANNEL_HEADER_LEN as PCHANNEL_HEADER_LEN
from .eap_psk_messages import TAG_LEN as TAG_LEN

__all__ = [
    "EMSK_LEN",
    "MAX_ID_LEN",
    "MSK_LEN",
    "PSK_LEN",
    "EapOutcome",
    "EapPskKeys",
    "EapPskPeer",
    "EapPskServer",
    "PChannel",
    "PChannelContent",
    "PskMessage",
    "PskMessage1",
    "PskMessage2",
    "PskMessage3",
    "PskMessage4",
    "PskResult",
    "compute_mac_p",
    "compute_mac_s",
    "decode_psk_message",
    "derive_keys",
    "derive_session_keys",
    "key_setup",
]


class EapOutcome(StrEnum):
    """Where an EAP-PSK exchange stands."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"


def _random(random_bytes: Callable[[int], bytes], n: int) -> bytes:
    value = random_bytes(n)
    if len(value) != n:
        raise ValueError(f"random_bytes({n}) returned {len(value)} bytes")
    return value


# --------------------------------------------------------------------------- peer


class _Outcome:
    """What both ends expose: the outcome, why it failed, and the keys once it succeeded."""

    _outcome: EapOutcome
    _failure: str | None
    _keys: tuple[bytes, bytes] | None  # (MSK, EMSK)

    @property
    def outcome(self) -> EapOutcome:
        """PENDING, SUCCESS or FAILURE."""
        return self._outcome

    @property
    def failure(self) -> str | None:
        """Why the exchange failed, e.g. "MAC_P does not verify"; None otherwise."""
        return self._failure

    @property
    def msk(self) -> bytes | None:
        """64-byte MSK, once the exchange succeeded."""
        return self._keys[0] if self._keys and self._outcome is EapOutcome.SUCCESS else None

    @property
    def emsk(self) -> bytes | None:
        """64-byte EMSK, once the exchange succeeded."""
        return self._keys[1] if self._keys and self._outcome is EapOutcome.SUCCESS else None


class _PeerState(Enum):
    WAIT_MSG1 = "wait message 1"
    WAIT_MSG3 = "wait message 3"
    WAIT_SUCCESS = "wait EAP-Success"
    DONE = "done"


class EapPskPeer(_Outcome):
    """EAP-PSK peer (supplicant).  Feed it the server's EAP packets; send what it returns.

    ``ext4`` is the EXT field (EXT_Type byte + EXT_Payload) the peer puts in message 4's
    PCHANNEL when it answers DONE_SUCCESS (RFC 4764 fourth message); G3 devices return the LBP
    parameter-result there (smartenergy_g3 lbp_dev.c).
    """

    def __init__(
        self,
        id_p: bytes,
        psk: bytes,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        ext4: bytes | None = None,
    ) -> None:
        check_id("ID_P", id_p)
        if ext4 is not None and not ext4:
            raise ValueError("ext4 must hold at least the EXT_Type byte, or be None")
        self._id_p = bytes(id_p)
        self._ak, self._kdk = key_setup(psk)
        self._random_bytes = random_bytes
        self._state = _PeerState.WAIT_MSG1
        self._outcome = EapOutcome.PENDING
        self._failure: str | None = None
        self._id_s: bytes | None = None
        self._rand_s = b""
        self._rand_p = b""
        self._keys: tuple[bytes, bytes] | None = None  # (MSK, EMSK) once message 3 verified
        self._ext: bytes | None = None
        self._ext4 = None if ext4 is None else bytes(ext4)
        self._last: tuple[int, bytes] | None = None  # (request identifier, response sent)

    @property
    def id_s(self) -> bytes | None:
        """The server identity (ID_S) from message 1."""
        return self._id_s

    @property
    def ext(self) -> bytes | None:
        """EXT field of message 3's PCHANNEL (EXT_Type byte + EXT_Payload), if any."""
        return self._ext

    def __repr__(self) -> str:
        return (
            f"EapPskPeer(id_p={self._id_p!r}, state={self._state.value!r}, "
            f"outcome={self._outcome.value!r}, failure={self._failure!r})"
        )

    def _fail(self, reason: str) -> None:
        self._state = _PeerState.DONE
        self._outcome = EapOutcome.FAILURE
        self._failure = reason
        self._keys = None

    def receive(self, packet: bytes) -> bytes | None:
        """One EAP packet from the server -> the EAP-Response to send, or None."""
        pkt = EapPacket.decode(packet)
        if pkt.code == EapCode.SUCCESS:
            if (
                self._state is _PeerState.WAIT_SUCCESS
                and self._last
                and self._last[0] == pkt.identifier
            ):
                self._state = _PeerState.DONE
                self._outcome = EapOutcome.SUCCESS
            return None
        if pkt.code == EapCode.FAILURE:
            if self._outcome is EapOutcome.PENDING:
                self._fail("server sent EAP-Failure")
            return None
        if pkt.code != EapCode.REQUEST:
            return None
        if self._last is not None and self._last[0] == pkt.identifier:
            return self._last[1]  # RFC 3748 §4.1: a retransmitted Request gets the same Response
        if self._outcome is not EapOutcome.PENDING or self._state is _PeerState.WAIT_SUCCESS:
            return None
        if pkt.type == EAP_TYPE_PSK:
            response = self._on_psk(pkt)
        elif pkt.type == EAP_TYPE_IDENTITY:
            response = self._respond(pkt.identifier, EAP_TYPE_IDENTITY, self._id_p)
        elif pkt.type == EAP_TYPE_NOTIFICATION:  # RFC 3748 §5.2: acknowledge, no data
            response = self._respond(pkt.identifier, EAP_TYPE_NOTIFICATION, b"")
        else:  # RFC 3748 §5.3.1: Legacy Nak proposing EAP-PSK
            response = self._respond(pkt.identifier, EAP_TYPE_NAK, bytes([EAP_TYPE_PSK]))
        return response

    def _respond(self, identifier: int, type_: int, data: bytes) -> bytes:
        response = EapPacket(EapCode.RESPONSE, identifier, type_, data).encode()
        self._last = (identifier, response)
        return response

    def _on_psk(self, pkt: EapPacket) -> bytes | None:
        msg = decode_psk_message(pkt.data)
        if isinstance(msg, PskMessage1) and self._state is _PeerState.WAIT_MSG1:
            rand_p = _random(self._random_bytes, RAND_LEN)
            mac_p = compute_mac_p(self._ak, self._id_p, msg.id_s, msg.rand_s, rand_p)
            data = PskMessage2(msg.rand_s, rand_p, mac_p, self._id_p).encode()
            self._id_s, self._rand_s, self._rand_p = msg.id_s, msg.rand_s, rand_p
            self._state = _PeerState.WAIT_MSG3
            return self._respond(pkt.identifier, EAP_TYPE_PSK, data)
        if isinstance(msg, PskMessage3) and self._state is _PeerState.WAIT_MSG3:
            return self._on_message3(pkt, msg)
        return None  # a message out of turn is silently discarded

    def _on_message3(self, pkt: EapPacket, msg: PskMessage3) -> bytes | None:
        if msg.rand_s != self._rand_s or self._id_s is None:
            return None  # not our exchange
        if not hmac.compare_digest(msg.mac_s, compute_mac_s(self._ak, self._id_s, self._rand_p)):
            self._fail("MAC_S does not verify")
            return None
        tek, msk, emsk = derive_session_keys(self._kdk, self._rand_p)
        try:
            content = open_pchannel(tek, pkt.encode(), msg.pchannel)
        except AuthError:
            self._fail("PCHANNEL does not verify")
            return None
        except DecodeError:
            self._fail("PCHANNEL content is malformed")
            return None
        if msg.pchannel.nonce == MAX_NONCE:
            self._fail("PCHANNEL nonce would wrap")
            return None
        if content.result == PskResult.DONE_SUCCESS:
            answer = PChannelContent(PskResult.DONE_SUCCESS, self._ext4)
            self._keys, self._ext = (msk, emsk), content.ext
            self._state = _PeerState.WAIT_SUCCESS
        else:
            answer = PChannelContent(PskResult.DONE_FAILURE)
            self._fail(
                "server indicated DONE_FAILURE"
                if content.result == PskResult.DONE_FAILURE
                else "PCHANNEL result CONT is not supported"
            )
        # RFC 4764 §3.3: the peer answers with the next nonce, N + 1.
        response = pchannel_packet(
            EapCode.RESPONSE,
            pkt.identifier,
            self._rand_s,
            None,
            tek,
            msg.pchannel.nonce + 1,
            answer,
        )
        self._last = (pkt.identifier, response)
        return response


# --------------------------------------------------------------------------- server


class _ServerState(Enum):
    INIT = "init"
    WAIT_MSG2 = "wait message 2"
    WAIT_MSG4 = "wait message 4"
    DONE = "done"


_MSG3_NONCE: Final = 0  # the server's first PCHANNEL nonce (hostapd: 0); the peer replies N + 1


class EapPskServer(_Outcome):
    """EAP-PSK server (authenticator with its own credential store)."""

    def __init__(
        self,
        id_s: bytes,
        psk_for: Callable[[bytes], bytes | None],
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        identifier: int | None = None,
        ext: bytes | None = None,
    ) -> None:
        check_id("ID_S", id_s)
        if identifier is not None and not 0 <= identifier <= 0xFF:
            raise ValueError(f"EAP identifier out of range: {identifier}")
        if ext is not None and not ext:
            raise ValueError("ext must hold at least the EXT_Type byte, or be None")
        self._id_s = bytes(id_s)
        self._psk_for = psk_for
        self._random_bytes = random_bytes
        self._identifier = identifier
        self._ext = ext
        self._state = _ServerState.INIT
        self._outcome = EapOutcome.PENDING
        self._failure: str | None = None
        self._id_p: bytes | None = None
        self._rand_s = b""
        self._tek = b""
        self._keys: tuple[bytes, bytes] | None = None
        self._peer_ext: bytes | None = None
        self._request: tuple[int, bytes] | None = None  # (identifier, outstanding request)
        self._answered: tuple[bytes, bytes] | None = None  # (last response, our answer)

    @property
    def id_p(self) -> bytes | None:
        """The peer identity (ID_P) from message 2."""
        return self._id_p

    @property
    def peer_ext(self) -> bytes | None:
        """EXT field of message 4's PCHANNEL (EXT_Type byte + EXT_Payload), once verified."""
        return self._peer_ext

    @property
    def pending_request(self) -> bytes | None:
        """The request still waiting for its response (resend it on timeout), or None."""
        if self._state in (_ServerState.WAIT_MSG2, _ServerState.WAIT_MSG4) and self._request:
            return self._request[1]
        return None

    def __repr__(self) -> str:
        return (
            f"EapPskServer(id_s={self._id_s!r}, id_p={self._id_p!r}, state={self._state.value!r}, "
            f"outcome={self._outcome.value!r}, failure={self._failure!r})"
        )

    def start(self) -> bytes:
        """EAP-Request / EAP-PSK message 1 (again, unchanged, if called while it is pending)."""
        if self._state is _ServerState.INIT:
            ident = self._identifier
            if ident is None:
                ident = _random(self._random_bytes, 1)[0]
            self._rand_s = _random(self._random_bytes, RAND_LEN)
            data = PskMessage1(self._rand_s, self._id_s).encode()
            self._request = (ident, EapPacket(EapCode.REQUEST, ident, EAP_TYPE_PSK, data).encode())
            self._state = _ServerState.WAIT_MSG2
        pending = self.pending_request
        if pending is None:
            raise AuthError(f"EAP-PSK exchange already finished ({self._outcome.value})")
        return pending

    def receive(self, packet: bytes) -> bytes | None:
        """One EAP-Response -> the next packet to send (Request, Success or Failure), or None."""
        pkt = EapPacket.decode(packet)
        if pkt.code != EapCode.RESPONSE:
            return None
        raw = pkt.encode()
        if self._answered is not None and self._answered[0] == raw:
            return self._answered[1]  # a retransmitted Response gets the same answer
        if self._request is None or self._state is _ServerState.DONE:
            return None
        if pkt.identifier != self._request[0]:
            return None  # RFC 3748 §4.1: stale or foreign Identifier
        if pkt.type == EAP_TYPE_NAK:
            return self._finish(raw, pkt.identifier, "peer refused EAP-PSK (Nak)")
        if pkt.type != EAP_TYPE_PSK:
            return None
        msg = decode_psk_message(pkt.data)
        if msg.rand_s != self._rand_s:
            return None
        if isinstance(msg, PskMessage2) and self._state is _ServerState.WAIT_MSG2:
            return self._on_message2(raw, pkt.identifier, msg)
        if isinstance(msg, PskMessage4) and self._state is _ServerState.WAIT_MSG4:
            return self._on_message4(raw, pkt.identifier, msg)
        return None

    def _finish(self, raw: bytes, identifier: int, failure: str | None) -> bytes:
        # RFC 3748 §4.2: Success/Failure carry the Identifier of the Response they answer.
        self._state = _ServerState.DONE
        if failure is None:
            self._outcome = EapOutcome.SUCCESS
            code = EapCode.SUCCESS
        else:
            self._outcome, self._failure, self._keys = EapOutcome.FAILURE, failure, None
            code = EapCode.FAILURE
        answer = EapPacket(code, identifier, None).encode()
        self._answered = (raw, answer)
        return answer

    def _on_message2(self, raw: bytes, identifier: int, msg: PskMessage2) -> bytes:
        self._id_p = msg.id_p
        psk = self._psk_for(msg.id_p)
        if psk is None:
            return self._finish(raw, identifier, "unknown ID_P")
        if len(psk) != PSK_LEN:
            return self._finish(raw, identifier, "stored PSK for ID_P is not 16 bytes")
        ak, kdk = key_setup(psk)
        expected = compute_mac_p(ak, msg.id_p, self._id_s, msg.rand_s, msg.rand_p)
        if not hmac.compare_digest(expected, msg.mac_p):
            return self._finish(raw, identifier, "MAC_P does not verify")
        self._tek, msk, emsk = derive_session_keys(kdk, msg.rand_p)
        self._keys = (msk, emsk)
        content = PChannelContent(PskResult.DONE_SUCCESS, self._ext)
        ident = (identifier + 1) & 0xFF
        request = pchannel_packet(
            EapCode.REQUEST,
            ident,
            self._rand_s,
            compute_mac_s(ak, self._id_s, msg.rand_p),
            self._tek,
            _MSG3_NONCE,
            content,
        )
        self._request = (ident, request)
        self._answered = (raw, request)
        self._state = _ServerState.WAIT_MSG4
        return request

    def _on_message4(self, raw: bytes, identifier: int, msg: PskMessage4) -> bytes | None:
        if msg.pchannel.nonce != _MSG3_NONCE + 1:
            return None  # RFC 4764 §3.3: the peer must answer with N + 1; anything else is replay
        try:
            content = open_pchannel(self._tek, raw, msg.pchannel)
        except AuthError:
            return self._finish(raw, identifier, "PCHANNEL does not verify")
        except DecodeError:
            return self._finish(raw, identifier, "PCHANNEL content is malformed")
        self._peer_ext = content.ext
        if content.result == PskResult.DONE_SUCCESS:
            return self._finish(raw, identifier, None)
        if content.result == PskResult.DONE_FAILURE:
            return self._finish(raw, identifier, "peer indicated DONE_FAILURE")
        return self._finish(raw, identifier, "PCHANNEL result CONT is not supported")
