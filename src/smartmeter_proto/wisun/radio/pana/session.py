"""PANA client (PaC) and agent (PAA) state machines, sans-IO (RFC 5191 section 4, RFC 5609).

Feed datagrams with ``receive(data, now)``, send what ``datagrams_to_send()`` returns,
call ``handle_timeout(now)`` at ``next_deadline()``; read ``events()``. Input that is
malformed, out of sequence, or fails its AUTH check is dropped and counted in ``dropped``.
Each side has at most one request outstanding; answers are cached and re-sent when
the peer retransmits its request (RFC 5191 section 5.1). That shared machinery and the
events are in :mod:`.endpoint` (re-exported here). EAP-PSK itself is in
:mod:`smartmeter_proto.auth.eap_psk`; the PaC re-authenticates on its own once
:data:`REAUTH_FRACTION` of the session lifetime has passed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar, Final, cast

from ....errors import SessionError
from .endpoint import (
    PCI_RETRANSMISSION,
    REQ_RETRANSMISSION,
    AgentState,
    AuthenticationFailed,
    ClientState,
    EapPeer,
    EapServer,
    PanaEndpoint,
    PanaEvent,
    PeerUnreachable,
    ReauthenticationStarted,
    Retransmission,
    SessionEstablished,
    SessionExpired,
    SessionTerminated,
)
from .message import MAX_MESSAGE_SIZE as _MAX_SIZE
from .message import (
    Avp,
    AvpCode,
    Flag,
    IntegrityAlgorithm,
    MessageType,
    PanaMessage,
    PrfAlgorithm,
    ResultCode,
    TerminationCause,
    derive_auth_key,
    verify,
)

__all__ = [
    "NONCE_LEN",
    "PCI_RETRANSMISSION",
    "REAUTH_FRACTION",
    "REQ_RETRANSMISSION",
    "AgentState",
    "AuthenticationFailed",
    "ClientState",
    "PanaAgent",
    "PanaClient",
    "PanaEvent",
    "PeerUnreachable",
    "ReauthenticationStarted",
    "Retransmission",
    "SessionEstablished",
    "SessionExpired",
    "SessionTerminated",
]


REAUTH_FRACTION: Final = 0.75
"""The PaC starts re-authentication when 3/4 of the session lifetime has passed, leaving
1/4 (6 hours of the meters' 86400 s) for REQ_MRC retransmissions and a second try."""
NONCE_LEN: Final = 16  # bytes; the meters in the captures send 16-byte nonces
_PRF_PREFERENCE: Final = (PrfAlgorithm.PRF_HMAC_SHA2_256, PrfAlgorithm.PRF_HMAC_SHA1)
_INTEGRITY_PREFERENCE: Final = (
    IntegrityAlgorithm.AUTH_HMAC_SHA2_256_128,
    IntegrityAlgorithm.AUTH_HMAC_SHA1_160,
)
_U32: Final = 0xFFFFFFFF
_RESULT_CODES: Final = frozenset(int(r) for r in ResultCode)


def _states(members: set[ClientState] | set[AgentState]) -> frozenset[str]:
    return frozenset(m.value for m in members)


def _nonce_avp(nonce: bytes) -> Avp:
    return Avp(AvpCode.NONCE, nonce)


def _eap_avp(packet: bytes) -> Avp:
    return Avp(AvpCode.EAP_PAYLOAD, packet)


_C = ClientState


class PanaClient(PanaEndpoint):
    """The PaC: the HEMS side of the B-route join.

    ``eap_peer`` is an :class:`~smartmeter_proto.auth.eap_psk.EapPskPeer` or a zero-argument
    factory of them; re-authentication needs a fresh peer, so only the factory form can
    re-authenticate. ``pci_max_retransmissions`` caps how often the PCI is re-sent before
    :class:`PeerUnreachable`; None keeps :data:`PCI_RETRANSMISSION` (PCI_MRC 0: no limit).
    """

    _handlers: ClassVar[dict[str, tuple[frozenset[str], str]]] = {
        "PAR-S": (_states({_C.INITIATING}), "_on_par_start"),
        "PAR": (_states({_C.AUTHENTICATING, _C.OPEN, _C.REAUTHENTICATING}), "_on_par"),
        "PAR-C": (_states({_C.AUTHENTICATING, _C.REAUTHENTICATING}), "_on_par_complete"),
        "PNA-A": (_states({_C.REAUTHENTICATING}), "_on_plain_answer"),
        "PNA-P": (_states({_C.OPEN, _C.REAUTHENTICATING}), "_on_plain_answer"),
        "PNR-P": (_states({_C.OPEN, _C.REAUTHENTICATING}), "_on_ping"),
        "PTA": (_states({_C.TERMINATING}), "_on_pta"),
        "PTR": (_states({_C.OPEN, _C.REAUTHENTICATING, _C.TERMINATING}), "_on_ptr"),
    }
    _self_verified = frozenset({"PAR-C"})
    _peer_cause = TerminationCause.ADMINISTRATIVE

    def __init__(
        self,
        eap_peer: EapPeer | Callable[[], EapPeer],
        *,
        now: float,
        random_bytes: Callable[[int], bytes] = os.urandom,
        max_message_size: int = _MAX_SIZE,
        pci_max_retransmissions: int | None = None,
    ) -> None:
        if pci_max_retransmissions is not None and pci_max_retransmissions < 1:
            raise ValueError(
                f"pci_max_retransmissions must be None (no limit) or >= 1, "
                f"got {pci_max_retransmissions}"
            )
        super().__init__(random_bytes=random_bytes, max_message_size=max_message_size)
        self._pci_params = (
            PCI_RETRANSMISSION
            if pci_max_retransmissions is None
            else replace(PCI_RETRANSMISSION, mrc=pci_max_retransmissions)
        )
        if hasattr(eap_peer, "receive"):
            self._factory: Callable[[], EapPeer] | None = None
            self._peer = cast(EapPeer, eap_peer)
        else:
            self._factory = eap_peer
            self._peer = self._factory()
        self._eap_responses = 0  # EAP responses sent in this (re-)authentication
        self._last_eap_response = b""
        self._reauth_at: float | None = None

    @property
    def state(self) -> ClientState:
        return ClientState(self._state)

    # ---------------------------------------------------------------- caller's actions
    def start(self, now: float) -> None:
        """Send PANA-Client-Initiation (session id and sequence number 0)."""
        self._require(_C.IDLE)
        self._request(
            0, MessageType.CLIENT_INITIATION, [], now, params=self._pci_params, sequence=0
        )
        self._state = _C.INITIATING

    def reauthenticate(self, now: float) -> None:
        """PNR with the A flag; the PAA answers PNA and starts a new EAP-PSK round."""
        self._require(_C.OPEN)
        if self._factory is None:
            raise SessionError("re-authentication needs an EAP peer factory, not an instance")
        self._begin_reauth()
        self._request(Flag.REAUTH, MessageType.NOTIFICATION, [], now)

    def ping(self, now: float) -> None:
        """PNR with the P flag (liveness check); answered by PNA."""
        self._require(_C.OPEN)
        self._request(Flag.PING, MessageType.NOTIFICATION, [], now)

    def terminate(self, now: float) -> None:
        """PTR with Termination-Cause LOGOUT."""
        if self._state not in (_C.OPEN, _C.REAUTHENTICATING):
            raise SessionError(f"cannot terminate in state {self._state}")
        cause = Avp.u32(AvpCode.TERMINATION_CAUSE, TerminationCause.LOGOUT)
        self._request(0, MessageType.TERMINATION, [cause], now)
        self._state = _C.TERMINATING

    # ---------------------------------------------------------------- helpers
    def _require(self, state: ClientState) -> None:
        if self._state != state:
            raise SessionError(f"PaC is {self._state}, needs {state}")
        if self._pending is not None and state == _C.OPEN:
            raise SessionError(f"a {self._pending.message.name} is still outstanding")

    def _timers(self) -> list[float | None]:
        return [*super()._timers(), self._reauth_at]

    def _on_timers(self, now: float) -> None:
        if self._reauth_at is not None and now >= self._reauth_at:
            if self._state == _C.OPEN and self._pending is None and self._factory is not None:
                self._reauth_at = None
                self.reauthenticate(now)
            else:
                self._reauth_at = now + REQ_RETRANSMISSION.irt  # try again shortly

    def _close(self, state: str) -> None:
        super()._close(state)
        self._reauth_at = None

    def _begin_reauth(self) -> None:
        assert self._factory is not None
        self._peer = self._factory()
        self._eap_responses = 0
        self._pac_nonce = self._paa_nonce = None
        self._state = _C.REAUTHENTICATING
        self._events.append(ReauthenticationStarted())

    def _feed(self, eap: bytes) -> tuple[bytes | None, bool]:
        """Give an EAP packet to the peer: (response, failed)."""
        response = self._peer.receive(eap)
        if response is not None and response != self._last_eap_response:
            self._last_eap_response = response
            self._eap_responses += 1
        return response, self._peer.outcome == "failure"

    def _fail(self, result_code: int, reason: str) -> None:
        """AuthenticationFailed whose reason names the last EAP-PSK message the PaC sent."""
        if self._eap_responses:
            reason = f"{reason} (after EAP-PSK message {2 * self._eap_responses})"
        code = ResultCode(result_code) if result_code in _RESULT_CODES else result_code
        self._events.append(AuthenticationFailed(code, reason))
        self._close(_C.FAILED)

    # ---------------------------------------------------------------- handlers
    def _on_par_start(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        prf = next((p for p in _PRF_PREFERENCE if p in msg.u32_list(AvpCode.PRF_ALGORITHM)), None)
        offered = msg.u32_list(AvpCode.INTEGRITY_ALGORITHM)
        integrity = next((i for i in _INTEGRITY_PREFERENCE if i in offered), None)
        if prf is None or integrity is None or msg.session_id == 0:
            return False
        avps = [
            Avp.u32(AvpCode.PRF_ALGORITHM, prf),
            Avp.u32(AvpCode.INTEGRITY_ALGORITHM, integrity),
        ]
        eap = msg.bytes_of(AvpCode.EAP_PAYLOAD)
        if eap is not None:
            response, failed = self._feed(eap)
            if failed or response is None:
                return False
            avps.append(_eap_avp(response))
        self._pending = None  # PAR(S) answers our PCI
        self.session_id, self._prf, self._integrity = msg.session_id, prf, integrity
        self._i_par = raw
        self._i_pan = self._answer(msg, raw, Flag.START, avps, None)
        self._state = _C.AUTHENTICATING
        return True

    def _on_par(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        if self._state == _C.OPEN:  # a PAA-initiated re-authentication
            if self._factory is None:
                return False
            self._begin_reauth()
        avps: list[Avp] = []
        nonce = msg.bytes_of(AvpCode.NONCE)
        if nonce is not None and self._paa_nonce is None:
            self._pac_nonce = self._rand(NONCE_LEN)
            self._paa_nonce = nonce
            avps.append(_nonce_avp(self._pac_nonce))
        eap = msg.bytes_of(AvpCode.EAP_PAYLOAD)
        if eap is not None:
            response, failed = self._feed(eap)
            if failed:
                self._fail(ResultCode.PANA_AUTHENTICATION_REJECTED, self._peer.failure or "EAP")
                return True
            if response is None:
                return False  # silently discarded by EAP
            avps.append(_eap_avp(response))
        self._answer(msg, raw, 0, avps, None)
        return True

    def _on_par_complete(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        result = msg.u32(AvpCode.RESULT_CODE)
        eap = msg.bytes_of(AvpCode.EAP_PAYLOAD)
        if result is None:
            return False
        if result != ResultCode.PANA_SUCCESS:
            if self._key is not None and not verify(msg, self._integrity, self._key):
                return False
            if eap is not None:
                self._feed(eap)
            reason = self._peer.failure or f"PAA sent Result-Code {result}"
            self._answer(msg, raw, Flag.COMPLETE, [], None)
            self._fail(result, reason)
            return True
        key_id = msg.u32(AvpCode.KEY_ID)
        if key_id is None or eap is None or self._pac_nonce is None or self._paa_nonce is None:
            return False
        _, failed = self._feed(eap)
        msk = self._peer.msk
        if failed or msk is None:
            reason = self._peer.failure or "EAP-Success before EAP-PSK completed"
            self._fail(ResultCode.PANA_AUTHENTICATION_REJECTED, reason)
            return True
        key = derive_auth_key(
            self._prf,
            self._integrity,
            msk,
            self._i_par,
            self._i_pan,
            self._pac_nonce,
            self._paa_nonce,
            key_id,
        )
        if not verify(msg, self._integrity, key):
            return False
        self._key, self._key_id = key, key_id
        self._answer(msg, raw, Flag.COMPLETE, [Avp.u32(AvpCode.KEY_ID, key_id)], key)
        lifetime = msg.u32(AvpCode.SESSION_LIFETIME)
        self.session_lifetime = lifetime
        self._pending = None  # a PNR(A) the PAA answered only implicitly
        self._state = _C.OPEN
        if lifetime is not None:
            self._expires_at = now + lifetime
            if self._factory is not None:
                self._reauth_at = now + lifetime * REAUTH_FRACTION
        self._events.append(SessionEstablished(self.session_id, key_id, lifetime))
        return True


_A = AgentState


class PanaAgent(PanaEndpoint):
    """The PAA: the meter side, serving one PaC (for the emulator and for tests)."""

    _handlers: ClassVar[dict[str, tuple[frozenset[str], str]]] = {
        "PCI": (_states({_A.IDLE}), "_on_pci"),
        "PAN-S": (_states({_A.AUTHENTICATING}), "_on_pan"),
        "PAN": (_states({_A.AUTHENTICATING, _A.REAUTHENTICATING}), "_on_pan"),
        "PAN-C": (_states({_A.AUTHENTICATING, _A.REAUTHENTICATING}), "_on_pan"),
        "PNR-A": (_states({_A.OPEN}), "_on_pnr_reauth"),
        "PNR-P": (_states({_A.OPEN, _A.REAUTHENTICATING}), "_on_ping"),
        "PNA-P": (_states({_A.OPEN, _A.REAUTHENTICATING}), "_on_plain_answer"),
        "PTR": (_states({_A.OPEN, _A.REAUTHENTICATING, _A.TERMINATING}), "_on_ptr"),
        "PTA": (_states({_A.TERMINATING}), "_on_pta"),
    }

    def __init__(
        self,
        eap_server_factory: Callable[[], EapServer],
        *,
        now: float,
        lifetime: int = 86400,
        random_bytes: Callable[[int], bytes] = os.urandom,
        session_id: int | None = None,
        max_message_size: int = _MAX_SIZE,
        prf_algorithms: tuple[int, ...] = _PRF_PREFERENCE,
        integrity_algorithms: tuple[int, ...] = _INTEGRITY_PREFERENCE,
    ) -> None:
        super().__init__(random_bytes=random_bytes, max_message_size=max_message_size)
        if not set(prf_algorithms) <= set(_PRF_PREFERENCE) or not prf_algorithms:
            raise ValueError("prf_algorithms: a non-empty subset of the supported PRFs")
        if not set(integrity_algorithms) <= set(_INTEGRITY_PREFERENCE) or not integrity_algorithms:
            raise ValueError("integrity_algorithms: a non-empty subset of the supported ones")
        self._prfs = prf_algorithms
        self._integrities = integrity_algorithms
        self._factory = eap_server_factory
        self._server: EapServer | None = None
        self._lifetime = lifetime
        self._wanted_session_id = session_id
        self._last_eap = b""  # the EAP packet our next PAR carries
        self._outcome_sent: int | None = None  # Result-Code of our PAR(C)

    @property
    def state(self) -> AgentState:
        return AgentState(self._state)

    def reauthenticate(self, now: float) -> None:
        """PAA-initiated re-authentication: a PAR with a new EAP-PSK round."""
        if self._state != _A.OPEN or self._pending is not None:
            raise SessionError(f"PAA is {self._state}, cannot re-authenticate")
        self._start_eap(now, reauth=True)

    def ping(self, now: float) -> None:
        if self._state != _A.OPEN or self._pending is not None:
            raise SessionError(f"PAA is {self._state}, cannot ping")
        self._request(Flag.PING, MessageType.NOTIFICATION, [], now)

    def terminate(self, now: float) -> None:
        """PTR with Termination-Cause ADMINISTRATIVE."""
        if self._state not in (_A.OPEN, _A.REAUTHENTICATING):
            raise SessionError(f"PAA is {self._state}, cannot terminate")
        cause = Avp.u32(AvpCode.TERMINATION_CAUSE, TerminationCause.ADMINISTRATIVE)
        self._request(0, MessageType.TERMINATION, [cause], now)
        self._state = _A.TERMINATING

    # ---------------------------------------------------------------- helpers
    def _start_eap(self, now: float, *, reauth: bool) -> None:
        if reauth:
            self._state = _A.REAUTHENTICATING
            self._events.append(ReauthenticationStarted())
        self._server = self._factory()
        self._pac_nonce = None
        self._paa_nonce = self._rand(NONCE_LEN)
        avps = [_nonce_avp(self._paa_nonce), _eap_avp(self._server.start())]
        self._request(0, MessageType.AUTH, avps, now)

    def _complete(self, server: EapServer, now: float) -> None:
        msk = server.msk
        if server.outcome == "success" and msk is not None and self._pac_nonce is not None:
            key_id = (
                int.from_bytes(self._rand(4), "big")
                if self._key_id is None
                else (self._key_id + 1) & _U32
            )
            assert self._paa_nonce is not None
            key = derive_auth_key(
                self._prf,
                self._integrity,
                msk,
                self._i_par,
                self._i_pan,
                self._pac_nonce,
                self._paa_nonce,
                key_id,
            )
            self._key, self._key_id = key, key_id
            self._outcome_sent = ResultCode.PANA_SUCCESS
            avps = [
                Avp.u32(AvpCode.RESULT_CODE, ResultCode.PANA_SUCCESS),
                _eap_avp(self._last_eap),
                Avp.u32(AvpCode.KEY_ID, key_id),
                Avp.u32(AvpCode.SESSION_LIFETIME, self._lifetime),
            ]
        else:
            rejected = ResultCode.PANA_AUTHENTICATION_REJECTED
            self._outcome_sent = rejected
            avps = [Avp.u32(AvpCode.RESULT_CODE, rejected), _eap_avp(self._last_eap)]
            self._events.append(AuthenticationFailed(rejected, server.failure or "EAP failed"))
        self._request(Flag.COMPLETE, MessageType.AUTH, avps, now)

    # ---------------------------------------------------------------- handlers
    def _on_pci(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        if msg.session_id != 0 or msg.sequence != 0:
            return False
        sid = self._wanted_session_id
        while not sid:
            sid = int.from_bytes(self._rand(4), "big")
        self.session_id = sid
        avps = [Avp.u32(AvpCode.PRF_ALGORITHM, p) for p in self._prfs]
        avps += [Avp.u32(AvpCode.INTEGRITY_ALGORITHM, i) for i in self._integrities]
        self._i_par = self._request(Flag.START, MessageType.AUTH, avps, now)
        self._state = _A.AUTHENTICATING
        return True

    def _on_pan(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        assert self._pending is not None
        sent = self._pending.message
        if (sent.flags & (Flag.START | Flag.COMPLETE)) != (
            msg.flags & (Flag.START | Flag.COMPLETE)
        ):
            return False
        if msg.has(Flag.START):
            prfs = msg.u32_list(AvpCode.PRF_ALGORITHM)
            integrities = msg.u32_list(AvpCode.INTEGRITY_ALGORITHM)
            if len(prfs) != 1 or len(integrities) != 1:
                return False
            if prfs[0] not in self._prfs or integrities[0] not in self._integrities:
                return False
            self._prf, self._integrity, self._i_pan = prfs[0], integrities[0], raw
            self._pending = None
            self._start_eap(now, reauth=False)
            return True
        if msg.has(Flag.COMPLETE):
            self._pending = None
            if self._outcome_sent != ResultCode.PANA_SUCCESS:
                self._close(_A.FAILED)
                return True
            if msg.u32(AvpCode.KEY_ID) != self._key_id:
                return False
            assert self._key_id is not None
            self._state = _A.OPEN
            self._expires_at = now + self._lifetime
            self.session_lifetime = self._lifetime
            self._events.append(SessionEstablished(self.session_id, self._key_id, self._lifetime))
            return True
        server = self._server
        eap = msg.bytes_of(AvpCode.EAP_PAYLOAD)
        nonce = msg.bytes_of(AvpCode.NONCE)
        if server is None or eap is None or (self._pac_nonce is None and nonce is None):
            return False
        reply = server.receive(eap)
        if reply is None:
            return False
        if self._pac_nonce is None:
            self._pac_nonce = nonce
        self._pending = None
        self._last_eap = reply
        if server.outcome == "pending":
            self._request(0, MessageType.AUTH, [_eap_avp(reply)], now)
        else:
            self._complete(server, now)
        return True

    def _on_pnr_reauth(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        self._answer(msg, raw, Flag.REAUTH, [], None)
        self._start_eap(now, reauth=True)
        return True
