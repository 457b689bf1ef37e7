"""One end of the protected valve channel (:mod:`.`): COSE seal/open plus envelope checks.

The external AAD is ``[meter id, direction tag, seq]`` and the envelope seq must equal the
COSE Partial IV; failures come back as a :class:`.events.RejectReason`. The seq comes
from a durable :func:`..sequence.send_counter` named after the sending kid, and the replay
window reloads its floors from the same store (:mod:`..sequence`), so neither a restarted
sender nor a restarted receiver reuses or re-accepts a seq.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ...errors import AuthError, DecodeError
from ...security_state import StateStore
from .. import cose, frame
from ..frame import Header, Message, MeterKind, Route
from ..sequence import DurableReplayWindow, send_counter
from .events import RejectReason

__all__ = ["DOWNLINK_TAG", "UPLINK_TAG"]

#: Direction tags bound in the external AAD (``cose.build_external_aad``): a frame sent one
#: way never authenticates the other way, even if both directions shared a key.
DOWNLINK_TAG = "valve/head-end->meter"
UPLINK_TAG = "valve/meter->head-end"

_VALVE_KINDS = frozenset({MeterKind.GAS, MeterKind.WATER})
#: The first seq a new valve key sends with (the profile's frames have started at 0).
FIRST_VALVE_SEQ = 0


class ValveChannelState:
    """One end of the protected valve channel: opens incoming and seals outgoing frames."""

    __slots__ = (
        "_common_iv",
        "_counter",
        "_keys_by_kid",
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
        state_store: StateStore,
        tags: tuple[str, str],
    ) -> None:
        if kind not in _VALVE_KINDS:
            raise ValueError(f"valve control is for gas or water meters, got {kind!r}")
        if send_kid in keys_by_kid or send_key in keys_by_kid.values():
            # AES-CCM nonces repeat if both directions count seqs under one key.
            raise ValueError("the sending key must differ from every receiving key")
        self.meter_id = meter_id
        self.kind = kind
        self.route = route
        self._keys_by_kid = dict(keys_by_kid)
        self._send_kid = send_kid
        self._send_key = send_key
        self._common_iv = common_iv
        self._window = DurableReplayWindow(state_store, meter_id, window)
        self._counter = send_counter(state_store, meter_id, send_kid, first=FIRST_VALVE_SEQ)
        self._send_tag, self._recv_tag = tags

    @property
    def next_seq(self) -> int:
        """The seq the next outgoing frame gets (the durable counter survives a restart)."""
        return self._counter.peek

    def seal(self, build: Callable[[Header], Message]) -> bytes:
        """Protect the message ``build(header)`` under a fresh seq.

        Raises :class:`~smartmeter_proto.security_state.CounterExhausted` at
        :data:`~smartmeter_proto.iot.sequence.SEQ_LIMIT`: re-key before sending again.
        """
        seq = self._counter.next()
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
            self._window.check_and_update(opened.kid, opened.seq)
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
