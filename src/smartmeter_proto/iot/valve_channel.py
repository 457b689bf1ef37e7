"""One end of the protected valve channel (:mod:`.valve`): COSE seal/open plus envelope checks.

The external AAD is ``[meter id, direction tag, seq]`` and the envelope seq must equal the
COSE Partial IV; failures come back as a :class:`.valve_events.RejectReason`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..errors import AuthError, DecodeError, SessionError
from . import cose, frame
from .frame import Header, Message, MeterKind, Route
from .valve_events import RejectReason

__all__ = ["DOWNLINK_TAG", "UPLINK_TAG"]

#: Direction tags bound in the external AAD (``cose.build_external_aad``): a frame sent one
#: way never authenticates the other way, even if both directions shared a key.
DOWNLINK_TAG = "valve/head-end->meter"
UPLINK_TAG = "valve/meter->head-end"

_VALVE_KINDS = frozenset({MeterKind.GAS, MeterKind.WATER})


class _Channel:
    """One end of the protected valve channel: opens incoming and seals outgoing frames."""

    __slots__ = (
        "_common_iv",
        "_keys_by_kid",
        "_next_seq",
        "_recv_tag",
        "_send_key",
        "_send_kid",
        "_send_tag",
        "_window",
        "kind",
        "meter_id",
        "route",
    )

    def __init__(
        self,
        meter_id: str | bytes,
        kind: MeterKind,
        route: Route,
        keys_by_kid: Mapping[bytes, bytes],
        send_kid: bytes,
        send_key: bytes,
        common_iv: bytes,
        window: cose.ReplayWindow | None,
        first_seq: int,
        tags: tuple[str, str],
    ) -> None:
        if kind not in _VALVE_KINDS:
            raise ValueError(f"valve control is for gas or water meters, got {kind!r}")
        if send_kid in keys_by_kid or send_key in keys_by_kid.values():
            # AES-CCM nonces repeat if both directions count seqs under one key.
            raise ValueError("the sending key must differ from every receiving key")
        if not 0 <= first_seq <= cose.MAX_SEQ:
            raise ValueError(f"first_seq must be in 0..{cose.MAX_SEQ}, got {first_seq}")
        self.meter_id = meter_id
        self.kind = kind
        self.route = route
        self._keys_by_kid = dict(keys_by_kid)
        self._send_kid = send_kid
        self._send_key = send_key
        self._common_iv = common_iv
        self._window = window if window is not None else cose.ReplayWindow()
        self._next_seq = first_seq
        self._send_tag, self._recv_tag = tags

    @property
    def next_seq(self) -> int:
        """The seq the next outgoing frame gets; persist it so a restart never reuses one."""
        return self._next_seq

    def seal(self, build: Callable[[Header], Message]) -> bytes:
        """Protect the message ``build(header)`` under a fresh seq."""
        if self._next_seq > cose.MAX_SEQ:
            raise SessionError("sequence numbers exhausted: re-key before sending again")
        seq = self._next_seq
        self._next_seq += 1
        header = Header(self.meter_id, self.kind, self.route, seq)
        msg = build(header)
        return cose.protect_encrypt0(
            frame.encode(msg),
            key=self._send_key,
            kid=self._send_kid,
            common_iv=self._common_iv,
            seq=seq,
            external_aad=cose.build_external_aad(self.meter_id, self._send_tag, seq),
        )

    def open(self, data: bytes) -> tuple[Message, int] | RejectReason:
        """Authenticate, replay-check, decode and check the envelope; a reason on failure."""
        try:
            opened = cose.open_encrypt0(
                bytes(data),
                keys_by_kid=self._keys_by_kid,
                common_iv=self._common_iv,
                external_aad_for=lambda _kid, seq: cose.build_external_aad(
                    self.meter_id, self._recv_tag, seq
                ),
            )
        except DecodeError:
            return RejectReason.MALFORMED
        except AuthError:
            return RejectReason.AUTH_FAILED
        try:
            self._window.check_and_update((self.meter_id, opened.kid), opened.seq)
        except AuthError:
            return RejectReason.REPLAY
        try:
            msg = frame.decode(opened.payload)
        except DecodeError:
            return RejectReason.MALFORMED
        h = msg.header
        if h.seq != opened.seq:
            return RejectReason.SEQ_MISMATCH
        if type(h.meter_id) is not type(self.meter_id) or h.meter_id != self.meter_id:
            return RejectReason.WRONG_METER
        if h.kind != self.kind:
            return RejectReason.WRONG_KIND
        return msg, opened.seq
