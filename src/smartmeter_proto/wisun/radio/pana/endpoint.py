"""What the PANA client and agent share, sans-IO (RFC 5191 sections 4, 5 and 9).

:class:`PanaEndpoint` owns the outgoing queue and the events, both sequence numbers, the
retransmission of our one outstanding request, the cache of our last answer, the AUTH check
of everything received once a key exists, and the handlers both sides use (ping, termination).
:mod:`.session` builds the PaC and the PAA on it and re-exports the public names here:
the events (the base emits some and queues all), both sides' state enums, and the EAP
interfaces the two sides drive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Final, Protocol

from ....errors import DecodeError
from .message import (
    Avp,
    AvpCode,
    Flag,
    IntegrityAlgorithm,
    MaskedKey,
    MessageType,
    PanaMessage,
    PrfAlgorithm,
    TerminationCause,
    decode,
    encode,
    sign,
    verify,
)

__all__ = [
    "PCI_RETRANSMISSION",
    "REQ_RETRANSMISSION",
    "AgentState",
    "AuthenticationFailed",
    "ClientState",
    "EapPeer",
    "EapServer",
    "PanaEndpoint",
    "PanaEvent",
    "PeerUnreachable",
    "ReauthenticationStarted",
    "Retransmission",
    "SessionEstablished",
    "SessionExpired",
    "SessionTerminated",
]


@dataclass(frozen=True, slots=True)
class Retransmission:
    """RFC 3315-style retransmission parameters (RFC 5191 section 9); ``mrc`` 0 = no limit."""

    irt: float  # initial timeout, seconds
    mrt: float  # maximum timeout, seconds
    mrc: int  # maximum retransmissions


PCI_RETRANSMISSION: Final = Retransmission(irt=1.0, mrt=120.0, mrc=0)  # RFC 5191 section 9
REQ_RETRANSMISSION: Final = Retransmission(irt=1.0, mrt=30.0, mrc=10)  # RFC 5191 section 9
_RAND_SPAN: Final = 0.1  # RAND in [-0.1, +0.1] (RFC 3315 section 14, used by RFC 5191 section 9)
_U32: Final = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class SessionEstablished:
    session_id: int
    key_id: int
    lifetime: int | None  # seconds (Session-Lifetime AVP); None when the PAA sent none


@dataclass(frozen=True, slots=True)
class AuthenticationFailed:
    result_code: int  # ResultCode
    reason: str


@dataclass(frozen=True, slots=True)
class ReauthenticationStarted:
    pass


@dataclass(frozen=True, slots=True)
class SessionTerminated:
    cause: int  # TerminationCause


@dataclass(frozen=True, slots=True)
class SessionExpired:
    pass


@dataclass(frozen=True, slots=True)
class PeerUnreachable:
    """A request went unanswered after all its retransmissions."""


PanaEvent = (
    SessionEstablished
    | AuthenticationFailed
    | ReauthenticationStarted
    | SessionTerminated
    | SessionExpired
    | PeerUnreachable
)


class EapPeer(Protocol):
    """What the PaC needs of :class:`smartmeter_proto.auth.eap_psk.EapPskPeer`."""

    def receive(self, packet: bytes) -> bytes | None: ...
    @property
    def outcome(self) -> str: ...
    @property
    def failure(self) -> str | None: ...
    @property
    def msk(self) -> bytes | None: ...


class EapServer(EapPeer, Protocol):
    """What the PAA needs of :class:`smartmeter_proto.auth.eap_psk.EapPskServer`."""

    def start(self) -> bytes: ...


class ClientState(StrEnum):
    IDLE = "idle"
    INITIATING = "initiating"  # PCI sent
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    REAUTHENTICATING = "reauthenticating"
    TERMINATING = "terminating"
    CLOSED = "closed"
    FAILED = "failed"


class AgentState(StrEnum):
    IDLE = "idle"
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    REAUTHENTICATING = "reauthenticating"
    TERMINATING = "terminating"
    CLOSED = "closed"
    FAILED = "failed"


@dataclass(slots=True)
class _Pending:
    """Our outstanding request: its bytes, what it was, and its retransmission timer."""

    message: PanaMessage
    data: bytes
    params: Retransmission
    rt: float
    deadline: float
    count: int = 0


def _kind(msg: PanaMessage) -> str:
    """PCI, PAR-S, PAR-C, PAR, PNR-A, PNR-P, PTR and the same for answers."""
    kind = msg.name
    for flag, suffix in ((Flag.START, "-S"), (Flag.COMPLETE, "-C")):
        if msg.message_type == MessageType.AUTH and msg.has(flag):
            kind += suffix
    for flag, suffix in ((Flag.REAUTH, "-A"), (Flag.PING, "-P")):
        if msg.message_type == MessageType.NOTIFICATION and msg.has(flag):
            kind += suffix
    return kind


class PanaEndpoint:
    """What PaC and PAA share: queues, sequence numbers, retransmission, AUTH checking."""

    # kind -> (states it is accepted in, handler method name)
    _handlers: ClassVar[dict[str, tuple[frozenset[str], str]]] = {}
    # kinds whose AUTH the handler checks itself (with a key it derives from them)
    _self_verified: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, random_bytes: Callable[[int], bytes], max_message_size: int) -> None:
        self._rand = random_bytes
        self._max = max_message_size
        self._out: list[bytes] = []
        self._events: list[PanaEvent] = []
        self.dropped = 0
        self.session_id = 0
        self._state: str = "idle"
        self._prf: int = PrfAlgorithm.PRF_HMAC_SHA1
        self._integrity: int = IntegrityAlgorithm.AUTH_HMAC_SHA1_160
        self._key: MaskedKey | None = None
        self._key_id: int | None = None
        self._i_par = b""
        self._i_pan = b""
        self._pac_nonce: bytes | None = None
        self._paa_nonce: bytes | None = None
        self._my_seq = int.from_bytes(self._rand(4), "big")
        self._pending: _Pending | None = None
        self._peer_seq: int | None = None
        self._last_request = b""
        self._last_answer = b""
        self._expires_at: float | None = None
        self.session_lifetime: int | None = None

    # ---------------------------------------------------------------- public surface
    @property
    def key_id(self) -> int | None:
        return self._key_id

    @property
    def pana_auth_key(self) -> MaskedKey | None:
        """The current PANA_AUTH_KEY, masked (``reveal()`` gives the bytes)."""
        return self._key

    def datagrams_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def events(self) -> list[PanaEvent]:
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        times = [t for t in self._timers() if t is not None]
        return min(times) if times else None

    def handle_timeout(self, now: float) -> None:
        pending = self._pending
        if pending is not None and now >= pending.deadline:
            if pending.params.mrc and pending.count >= pending.params.mrc:
                self._pending = None
                self._events.append(PeerUnreachable())
                self._close(self._unreachable_state(pending.message))
            else:
                pending.count += 1
                pending.rt = self._next_rt(pending.rt, pending.params)
                pending.deadline = now + pending.rt
                self._out.append(pending.data)
        if self._expires_at is not None and now >= self._expires_at:
            self._events.append(SessionExpired())
            self._close("closed")
        self._on_timers(now)

    def receive(self, datagram: bytes, now: float) -> None:
        """One UDP payload from the peer; anything unacceptable is dropped and counted."""
        if not self._accept(bytes(datagram), now):
            self.dropped += 1

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(state={self._state!r}, session_id={self.session_id:#010x}, "
            f"key_id={self._key_id}, key={self._key!r}, dropped={self.dropped})"
        )

    # ---------------------------------------------------------------- machinery
    def _timers(self) -> list[float | None]:
        return [self._pending.deadline if self._pending else None, self._expires_at]

    def _on_timers(self, now: float) -> None:
        """Subclass timers (the PaC's re-authentication)."""

    def _unreachable_state(self, request: PanaMessage) -> str:
        return "closed" if self._key is not None else "failed"

    def _close(self, state: str) -> None:
        self._state = state
        self._key = None
        self._pending = None
        self._expires_at = None

    def _jitter(self) -> float:
        return (int.from_bytes(self._rand(2), "big") / 0xFFFF * 2 - 1) * _RAND_SPAN

    def _next_rt(self, rt: float, params: Retransmission) -> float:
        new = 2 * rt + self._jitter() * rt
        return params.mrt + self._jitter() * params.mrt if params.mrt and new > params.mrt else new

    def _new_seq(self) -> int:
        self._my_seq = (self._my_seq + 1) & _U32
        return self._my_seq

    def _wire(self, msg: PanaMessage, key: MaskedKey | None = None) -> bytes:
        if key is None:
            key = self._key
        return sign(msg, self._integrity, key) if key is not None else encode(msg)

    def _request(
        self,
        flags: int,
        message_type: int,
        avps: list[Avp],
        now: float,
        *,
        params: Retransmission = REQ_RETRANSMISSION,
        key: MaskedKey | None = None,
        sequence: int | None = None,
    ) -> bytes:
        seq = self._new_seq() if sequence is None else sequence
        # IANA PANA registry (RFC 5191 §7): the R flag is set on PAR/PTR/PNR, never on PCI.
        if message_type != MessageType.CLIENT_INITIATION:
            flags |= Flag.REQUEST
        msg = PanaMessage(flags, message_type, self.session_id, seq, tuple(avps))
        data = self._wire(msg, key)
        rt = params.irt + self._jitter() * params.irt
        self._pending = _Pending(msg, data, params, rt, now + rt)
        self._out.append(data)
        return data

    def _answer(
        self, request: PanaMessage, raw: bytes, flags: int, avps: list[Avp], key: MaskedKey | None
    ) -> bytes:
        msg = PanaMessage(
            flags, request.message_type, self.session_id, request.sequence, tuple(avps)
        )
        data = self._wire(msg, key)
        self._peer_seq, self._last_request, self._last_answer = request.sequence, raw, data
        self._out.append(data)
        return data

    def _accept(self, raw: bytes, now: float) -> bool:
        if len(raw) > self._max:
            return False
        try:
            msg = decode(raw, max_size=self._max)
        except DecodeError:
            return False
        kind = _kind(msg)
        if msg.is_request and self._last_answer and raw == self._last_request:
            self._out.append(self._last_answer)  # the peer lost our answer
            return True
        entry = self._handlers.get(kind)
        if entry is None or str(self._state) not in entry[0]:
            return False
        if kind not in ("PCI", "PAR-S") and msg.session_id != self.session_id:
            return False
        if kind == "PCI":
            pass
        elif msg.is_request:
            expected = None if self._peer_seq is None else (self._peer_seq + 1) & _U32
            if expected is not None and msg.sequence != expected:
                return False
        else:
            pending = self._pending
            if (
                pending is None
                or msg.sequence != pending.message.sequence
                or msg.message_type != pending.message.message_type
            ):
                return False
        if (
            self._key is not None
            and kind not in self._self_verified
            and not verify(msg, self._integrity, self._key)
        ):
            return False
        try:
            accepted: bool = getattr(self, entry[1])(msg, raw, now)
        except DecodeError:
            return False
        return accepted

    # ---------------------------------------------------------------- shared handlers
    _peer_cause: ClassVar[int] = TerminationCause.LOGOUT  # when a PTR carries no cause

    def _on_ping(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        self._answer(msg, raw, Flag.PING, [], None)
        return True

    def _on_plain_answer(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        self._pending = None
        return True

    def _on_ptr(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        cause = msg.u32(AvpCode.TERMINATION_CAUSE)
        self._answer(msg, raw, 0, [], None)
        return self._terminated(self._peer_cause if cause is None else cause)

    def _on_pta(self, msg: PanaMessage, raw: bytes, now: float) -> bool:
        assert self._pending is not None
        return self._terminated(self._pending.message.u32(AvpCode.TERMINATION_CAUSE) or 0)

    def _terminated(self, cause: int) -> bool:
        self._close("closed")
        known = {int(c) for c in TerminationCause}
        self._events.append(SessionTerminated(TerminationCause(cause) if cause in known else cause))
        return True
