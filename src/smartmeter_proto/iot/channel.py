"""The protected channel between one IoT meter and the head-end (sans-IO).

Each direction has its own key and kid, so no AES-CCM nonce is ever used twice
under one key (RFC 9053 §4.2 forbids nonce reuse): the sender's message counter
is the COSE Partial IV and is bound again through the external AAD
``[meter id, route tag, counter]`` (RFC 9052 §4.3). The receiver checks the
counter with a :class:`~.cose.ReplayWindow` before it trusts the frame, and
checks that the frame speaks for the meter the key belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ..errors import AuthError, DecodeError
from . import cose
from . import frame as iot_frame
from .frame import Message, Route

__all__ = ["ROUTE_TAGS", "MeterKeys", "SecureChannel"]

#: Route tags bound into the external AAD: traffic of one route cannot be replayed on the other.
ROUTE_TAGS: Final = {Route.A_IOT: "A-IoT", Route.B_IOT: "B-IoT"}
_KEY_SIZE: Final = 16
_IV_SIZE: Final = 13


@dataclass(frozen=True, slots=True)
class MeterKeys:
    """Key material of one meter: an uplink and a downlink AES-128 key and a 13-byte Common IV."""

    meter_id: str
    uplink_key: bytes = field(repr=False)
    downlink_key: bytes = field(repr=False)
    common_iv: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.uplink_key) != _KEY_SIZE or len(self.downlink_key) != _KEY_SIZE:
            raise ValueError("uplink and downlink keys are 16 bytes (AES-CCM-16-64-128)")
        if self.uplink_key == self.downlink_key:
            raise ValueError("the two directions need different keys")
        if len(self.common_iv) != _IV_SIZE:
            raise ValueError("the Common IV is 13 bytes (the AES-CCM-16-64-128 nonce size)")

    @property
    def uplink_kid(self) -> bytes:
        return f"{self.meter_id}/up".encode()

    @property
    def downlink_kid(self) -> bytes:
        return f"{self.meter_id}/down".encode()


class SecureChannel:
    """Seals the frames one side sends and opens the frames it receives.

    ``side`` is ``"meter"`` (sends uplink) or ``"headend"`` (sends downlink).
    """

    def __init__(
        self, keys: MeterKeys, *, side: str, route: Route = Route.A_IOT, window: int = 64
    ) -> None:
        if side not in ("meter", "headend"):
            raise ValueError("side is 'meter' or 'headend'")
        self.keys = keys
        self.route = route
        meter_sends = side == "meter"
        self._send_key = keys.uplink_key if meter_sends else keys.downlink_key
        self._send_kid = keys.uplink_kid if meter_sends else keys.downlink_kid
        self._recv = {
            (keys.downlink_kid if meter_sends else keys.uplink_kid): (
                keys.downlink_key if meter_sends else keys.uplink_key
            )
        }
        self._replay = cose.ReplayWindow(window)
        self._sent = 0

    def _aad(self, _kid: bytes, seq: int) -> bytes:
        return cose.build_external_aad(self.keys.meter_id, ROUTE_TAGS[self.route], seq)

    def seal(self, message: Message) -> bytes:
        """Encode and protect ``message`` with the next message counter."""
        self._sent += 1
        return cose.protect_encrypt0(
            iot_frame.encode(message),
            key=self._send_key,
            kid=self._send_kid,
            common_iv=self.keys.common_iv,
            seq=self._sent,
            external_aad=self._aad(self._send_kid, self._sent),
        )

    def open(self, data: bytes) -> Message:
        """Authenticate, replay-check and decode one received frame.

        Raises :class:`~smartmeter_proto.errors.DecodeError` for malformed bytes
        and :class:`AuthError` for a failed tag, a replay or a foreign meter id.
        """
        opened = cose.open_encrypt0(
            data, keys_by_kid=self._recv, common_iv=self.keys.common_iv, external_aad_for=self._aad
        )
        self._replay.check_and_update(self.keys.meter_id, opened.seq)
        message = iot_frame.decode(opened.payload)
        if message.header.meter_id != self.keys.meter_id:
            raise AuthError("frame names another meter than its key")
        return message

    @staticmethod
    def kid_of(data: bytes) -> bytes | None:
        """The kid of a protected frame, to pick the channel (``None`` if unreadable)."""
        try:
            return cose.decode_encrypt0(data).kid
        except DecodeError:
            return None
