"""The protected channel between one IoT meter and the head-end (sans-IO).

Each direction has its own key and kid, so no AES-CCM nonce is ever used twice
under one key (RFC 9053 §4.2 forbids nonce reuse): the sender's message counter
is the COSE Partial IV and is bound again through the external AAD
``[meter id, route tag, counter]`` (RFC 9052 §4.3). The counter comes from a durable
:func:`~.sequence.send_counter` in the channel's store, named after the sending kid, so a
restarted sender never reuses a number. The receiver checks the counter with a
:class:`~.sequence.DurableReplayWindow` (reloaded from the same store) before it trusts the
frame, and checks that the frame speaks for the meter the key belongs to.

Re-keying: :meth:`SecureChannel.rekey` installs keys of a higher epoch. The kids name the
epoch (``<meter>/up`` for epoch 0, ``<meter>/up/<epoch>`` after), so the new sending key
gets a counter of its own that starts fresh, and frames still in flight under the old
receiving kid are accepted for a grace period (:data:`DEFAULT_REKEY_GRACE_S`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from ..errors import AuthError, DecodeError
from ..security_state import DEFAULT_BLOCK, SendCounter, StateStore
from . import cose
from . import frame as iot_frame
from .frame import Message, Route
from .sequence import DurableReplayWindow, send_counter

__all__ = [
    "DEFAULT_REKEY_GRACE_S",
    "ROUTE_TAGS",
    "ChannelKeys",
    "SecureChannel",
    "meter_of_kid",
    "open_frame",
]

#: Route tags bound into the external AAD: traffic of one route cannot be replayed on the other.
ROUTE_TAGS: Final = {Route.A_IOT: "A-IoT", Route.B_IOT: "B-IoT"}
_KEY_SIZE: Final = 16
_IV_SIZE: Final = 13
#: How long frames sealed under a replaced key are still accepted (s): an hour, two reading
#: intervals of the default 30-minute meter, so readings sealed just before the switch and
#: back-fill answers to requests sent before it still arrive (see :meth:`SecureChannel.rekey`).
DEFAULT_REKEY_GRACE_S: Final = 3600.0
_DIRECTIONS: Final = ("up", "down")


@dataclass(frozen=True, slots=True)
class ChannelKeys:
    """Key material of one meter: an uplink and a downlink AES-128 key and a 13-byte Common IV.

    ``epoch`` numbers the generation of the keys (0 for the first); it is part of the kids,
    so every generation's keys have kids of their own.
    """

    meter_id: str
    uplink_key: bytes = field(repr=False)
    downlink_key: bytes = field(repr=False)
    common_iv: bytes = field(repr=False)
    epoch: int = 0

    def __post_init__(self) -> None:
        if len(self.uplink_key) != _KEY_SIZE or len(self.downlink_key) != _KEY_SIZE:
            raise ValueError("uplink and downlink keys are 16 bytes (AES-CCM-16-64-128)")
        if self.uplink_key == self.downlink_key:
            raise ValueError("the two directions need different keys")
        if len(self.common_iv) != _IV_SIZE:
            raise ValueError("the Common IV is 13 bytes (the AES-CCM-16-64-128 nonce size)")
        if type(self.epoch) is not int or self.epoch < 0:
            raise ValueError(f"the key epoch is an int >= 0, got {self.epoch!r}")

    def _kid(self, direction: str) -> bytes:
        suffix = f"/{self.epoch}" if self.epoch else ""
        return f"{self.meter_id}/{direction}{suffix}".encode()

    @property
    def uplink_kid(self) -> bytes:
        return self._kid("up")

    @property
    def downlink_kid(self) -> bytes:
        return self._kid("down")


def meter_of_kid(kid: bytes | None) -> str | None:
    """The meter id a :class:`ChannelKeys` kid names (``<meter>/up[/<epoch>]``), else ``None``."""
    if kid is None:
        return None
    text = kid.decode("utf-8", "replace")
    head, _, last = text.rpartition("/")
    if last.isdecimal() and last.isascii():
        head, _, last = head.rpartition("/")
    return head if last in _DIRECTIONS and head else None


class SecureChannel:
    """Seals the frames one side sends and opens the frames it receives.

    ``side`` is ``"meter"`` (sends uplink) or ``"headend"`` (sends downlink). ``state_store``
    holds the send counter and the replay floors (there is no default: a channel that
    encrypts must say where its counter survives); ``block`` is how many counter values
    one durable write reserves. One store must not hold two live channels of one meter key.
    """

    def __init__(
        self,
        keys: ChannelKeys,
        *,
        side: str,
        state_store: StateStore,
        route: Route = Route.A_IOT,
        window: int = cose.DEFAULT_REPLAY_WINDOW,
        grace_s: float = DEFAULT_REKEY_GRACE_S,
        block: int = DEFAULT_BLOCK,
    ) -> None:
        if side not in ("meter", "headend"):
            raise ValueError("side is 'meter' or 'headend'")
        if grace_s < 0:
            raise ValueError("grace_s must be >= 0")
        self.route = route
        self.side = side
        self.grace_s = grace_s
        self._store = state_store
        self._block = block
        self._meter_sends = side == "meter"
        self._replay = DurableReplayWindow(state_store, keys.meter_id, cose.ReplayWindow(window))
        #: Receiving key and Common IV by kid, with the time from which the kid is refused.
        self._recv: dict[bytes, tuple[bytes, bytes, float | None]] = {}
        self.keys = keys
        self._install(keys)

    def _install(self, keys: ChannelKeys) -> None:
        self.keys = keys
        if self._meter_sends:
            self._send_key, self._send_kid = keys.uplink_key, keys.uplink_kid
            recv_kid, recv_key = keys.downlink_kid, keys.downlink_key
        else:
            self._send_key, self._send_kid = keys.downlink_key, keys.downlink_kid
            recv_kid, recv_key = keys.uplink_kid, keys.uplink_key
        self._counter = send_counter(self._store, keys.meter_id, self._send_kid, block=self._block)
        self._recv[recv_kid] = (recv_key, keys.common_iv, None)

    @property
    def counter(self) -> SendCounter:
        """The counter the next sealed frame takes its Partial IV from."""
        return self._counter

    @property
    def send_kid(self) -> bytes:
        return self._send_kid

    def receive_kids(self, now: float) -> list[bytes]:
        """The kids a frame may carry at ``now``: the current one and any still in grace."""
        return [kid for kid, (*_, until) in self._recv.items() if until is None or now < until]

    def _aad(self, _kid: bytes, seq: int) -> bytes:
        return cose.build_external_aad(self.keys.meter_id, ROUTE_TAGS[self.route], seq)

    def seal(self, message: Message) -> bytes:
        """Encode and protect ``message`` with the next message counter.

        Raises :class:`~smartmeter_proto.security_state.CounterExhausted` once the counter
        reached :data:`~.sequence.SEQ_LIMIT`: the keys must be replaced (:meth:`rekey`).
        """
        seq = self._counter.next()
        return cose.protect_encrypt0(
            iot_frame.encode(message),
            key=self._send_key,
            kid=self._send_kid,
            common_iv=self.keys.common_iv,
            seq=seq,
            external_aad=self._aad(self._send_kid, seq),
        )

    def open(self, data: bytes, now: float) -> Message:
        """Authenticate, replay-check and decode one frame received at ``now``.

        Raises :class:`~smartmeter_proto.errors.DecodeError` for malformed bytes
        and :class:`AuthError` for a failed tag, a replay, a retired key or a foreign
        meter id. The replay floor is written only once the tag verified.
        """
        for retired, (*_, until) in list(self._recv.items()):
            if until is not None and now >= until:
                del self._recv[retired]  # the grace period of a replaced key is over
        kid = cose.decode_encrypt0(data).kid
        entry = self._recv.get(kid) if kid is not None else None
        keys_by_kid = {} if kid is None or entry is None else {kid: entry[0]}
        # Without an entry this raises: DecodeError (no kid/Partial IV) or AuthError (unknown).
        opened = cose.open_encrypt0(
            data,
            keys_by_kid=keys_by_kid,
            common_iv=self.keys.common_iv if entry is None else entry[1],
            external_aad_for=self._aad,
        )
        self._replay.check_and_update(opened.kid, opened.seq)
        message = iot_frame.decode(opened.payload)
        if message.header.meter_id != self.keys.meter_id:
            raise AuthError("frame names another meter than its key")
        return message

    def rekey(self, keys: ChannelKeys, now: float) -> None:
        """Replace the meter's keys from ``now`` on.

        Frames are sealed under the new sending key at once, with a counter named by its
        new kid (it starts fresh only because the key is new). Frames under the old
        receiving kid are accepted until ``now + grace_s``. Re-key the head-end first, then
        the meter within the grace period: no uplink frame is lost in between.
        """
        old = self.keys
        if keys.meter_id != old.meter_id:
            raise ValueError("re-keying keeps the meter id")
        if keys.epoch <= old.epoch:
            raise ValueError(
                f"the new key epoch must be above {old.epoch}, got {keys.epoch}: "
                "a kid names one key for good"
            )
        if {keys.uplink_key, keys.downlink_key} & {old.uplink_key, old.downlink_key}:
            raise ValueError("re-keying needs new keys in both directions")
        recv_kid = old.downlink_kid if self._meter_sends else old.uplink_kid
        key, iv, _ = self._recv[recv_kid]
        self._recv[recv_kid] = (key, iv, now + self.grace_s)
        self._install(keys)

    @staticmethod
    def kid_of(data: bytes) -> bytes | None:
        """The kid of a protected frame, to pick the channel (``None`` if unreadable)."""
        try:
            return cose.decode_encrypt0(data).kid
        except DecodeError:
            return None


def open_frame(keys: ChannelKeys, data: bytes, *, route: Route = Route.A_IOT) -> Message:
    """Authenticate and decode one uplink frame, with no replay state (``decode iot --key``).

    Opens only: nothing is sealed, so no counter is needed.
    """
    opened = cose.open_encrypt0(
        data,
        keys_by_kid={keys.uplink_kid: keys.uplink_key},
        common_iv=keys.common_iv,
        external_aad_for=lambda _kid, seq: cose.build_external_aad(
            keys.meter_id, ROUTE_TAGS[route], seq
        ),
    )
    message = iot_frame.decode(opened.payload)
    if message.header.meter_id != keys.meter_id:
        raise AuthError("frame names another meter than its key")
    return message


#: The former name of :class:`ChannelKeys` (kept for one release; ``hes.push.MeterKeys`` is
#: the A-route's).
MeterKeys = ChannelKeys
