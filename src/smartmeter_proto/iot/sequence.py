"""Send sequence numbers and replay windows of the IoT route that survive a restart.

The COSE Partial IV is the sender's sequence number; with the Common IV it makes the
AES-CCM nonce (RFC 9052 §3.1), and a nonce must never be used twice under one key
(RFC 9053 §4.2). A sender therefore takes its numbers from a durable
:class:`~smartmeter_proto.security_state.SendCounter`, one per sending key, named by
:func:`counter_name` after the meter and the key id (the kid names one key and one
direction for good: a new key gets a new kid, so its counter starts fresh and only then).

A receiver keeps the highest sequence number it accepted per kid in
:class:`~smartmeter_proto.security_state.ReplayFloors`, written only after the tag
verified; :class:`DurableReplayWindow` reloads it, so every frame captured before a restart
is refused as a replay after it.

One store holds one live counter per name: never run two channels that send under the same
key on one store at the same time (they would hand out the same numbers).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final

from ..security_state import DEFAULT_BLOCK, ReplayFloors, SendCounter, StateStore
from . import cose

__all__ = [
    "SEQ_LIMIT",
    "DurableReplayWindow",
    "counter_name",
    "floor_name",
    "send_counter",
]

#: The first sequence number a sender never uses. A Partial IV takes at most 5 bytes
#: (RFC 8613 §7.2.1, ``cose.MAX_PARTIAL_IV_LENGTH``), so numbers stay below 2**40; the last
#: one, 2**40 - 1, is kept unused like the last DLMS invocation counter: at it the sender
#: refuses with :class:`~smartmeter_proto.security_state.CounterExhausted` (re-key first).
SEQ_LIMIT: Final = cose.MAX_SEQ
#: Store name prefixes: send counters and replay floors of the IoT route.
_SEND: Final = "iot:send"
_REPLAY: Final = "iot:replay"


def _label(value: str | bytes) -> str:
    """A readable, unambiguous rendering of a meter id or kid inside a store name."""
    if isinstance(value, bytes):
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            return "0x" + value.hex()
        return text if text.isprintable() and not text.startswith("0x") else "0x" + value.hex()
    if value.isprintable() and not value.startswith("0x"):
        return value
    return "0x" + value.encode().hex()


def counter_name(meter_id: str | bytes, kid: bytes) -> str:
    """The store name of the send counter of ``meter_id`` under the key named ``kid``."""
    return f"{_SEND}:{_label(meter_id)}:{_label(kid)}"


def floor_name(meter_id: str | bytes, kid: bytes) -> str:
    """The store name of the replay floor of frames from ``meter_id`` under ``kid``."""
    return f"{_REPLAY}:{_label(meter_id)}:{_label(kid)}"


def send_counter(
    store: StateStore,
    meter_id: str | bytes,
    kid: bytes,
    *,
    first: int = 1,
    block: int = DEFAULT_BLOCK,
) -> SendCounter:
    """The durable send counter of ``meter_id`` under ``kid``, limited to :data:`SEQ_LIMIT`."""
    name = counter_name(meter_id, kid)
    return SendCounter(store, name, first=first, limit=SEQ_LIMIT, block=block)


class DurableReplayWindow:
    """A :class:`~.cose.ReplayWindow` whose highest number per kid survives in a store.

    The first time a kid is checked its stored floor is loaded: every number at or below
    it counts as seen. After a number is accepted (feed only numbers of frames whose tag
    verified) a new highest number is written to the store before the frame is acted upon.
    """

    __slots__ = ("_floors", "_loaded", "_meter_id", "window")

    def __init__(
        self,
        store: StateStore,
        meter_id: str | bytes,
        window: cose.ReplayWindow | None = None,
    ) -> None:
        self.window = window if window is not None else cose.ReplayWindow()
        self._floors = ReplayFloors(store, _REPLAY)
        self._meter_id = meter_id
        self._loaded: set[bytes] = set()

    def _peer(self, kid: bytes) -> str:
        return f"{_label(self._meter_id)}:{_label(kid)}"

    def check_and_update(self, kid: bytes, seq: int) -> None:
        """Accept ``seq`` under ``kid`` once; :class:`AuthError` if replayed or stale."""
        key: Hashable = (self._meter_id, kid)
        if kid not in self._loaded:
            floor = self._floors.floor(self._peer(kid))
            if floor is not None:
                self.window.restore(key, floor)
            self._loaded.add(kid)
        before = self.window.highest(key)
        self.window.check_and_update(key, seq)
        if before is None or seq > before:
            self._floors.record(self._peer(kid), seq)

    def highest(self, kid: bytes) -> int | None:
        """The highest number accepted under ``kid`` in this run (``None`` before any)."""
        return self.window.highest((self._meter_id, kid))
