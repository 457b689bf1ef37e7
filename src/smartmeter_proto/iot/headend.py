"""The IoT-route head-end (sans-IO): protected frames in, back-fill requests out.

It opens each datagram on the channel of the meter its kid names, feeds
readings and back-fill answers to a :class:`~.backfill.BackfillCollector`, and turns
the collector's requests into protected ``BackfillRequest`` frames for the
address the meter last spoke from. Bad, forged or replayed datagrams are
dropped and counted by reason; nothing a peer sends can stop it.

Its send counters and replay floors live in ``state_store`` (the CLI's ``collect`` uses an
:class:`~smartmeter_proto.security_state.SqliteStateStore`): a restarted head-end neither
reuses a downlink nonce nor accepts an uplink frame captured before the restart.
:meth:`HeadEnd.rekey` replaces one meter's keys (see :meth:`.channel.SecureChannel.rekey`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import AuthError, DecodeError, SessionError
from ..security_state import CounterExhausted, StateStore
from . import backfill
from .channel import DEFAULT_REKEY_GRACE_S, ChannelKeys, SecureChannel
from .frame import BackfillRequest, BackfillResponse, Header, MeterKind, Reading, Route

__all__ = ["Dropped", "HeadEnd", "ReadingReceived"]

Address = Hashable
#: Requests remembered (to place their answers) per collected meter: the collector has a
#: few in flight per meter; older ones were retried or abandoned (fuzz/stateful.py found
#: this map growing by one entry per retry without this bound).
_REQUESTS_KEPT_PER_METER = 16


@dataclass(frozen=True, slots=True)
class ReadingReceived:
    """A reading arrived live (not by back-fill)."""

    meter_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """A datagram that was refused, and why (no secret in the reason)."""

    source: Address
    reason: str


class HeadEnd:
    """Collects the readings of a set of meters, back-filling every gap.

    ``state_store`` keeps every meter's downlink send counter and uplink replay floor
    (no default: it is what makes a restart safe); ``rekey_grace_s`` is how long a
    replaced uplink key is still accepted.
    """

    def __init__(
        self,
        meters: Iterable[ChannelKeys],
        *,
        state_store: StateStore,
        route: Route = Route.A_IOT,
        collector: backfill.BackfillCollector | None = None,
        listener: Callable[[Any], None] | None = None,
        rekey_grace_s: float = DEFAULT_REKEY_GRACE_S,
    ) -> None:
        self.route = route
        #: Called with every event as it happens (a CLI's progress lines, a metrics hook).
        self.listener = listener
        self.collector = collector or backfill.BackfillCollector()
        self.state_store = state_store
        self._channels: dict[bytes, SecureChannel] = {}
        self._by_meter: dict[str, SecureChannel] = {}
        for keys in meters:
            channel = SecureChannel(
                keys, side="headend", state_store=state_store, route=route, grace_s=rekey_grace_s
            )
            self._channels[keys.uplink_kid] = channel
            self._by_meter[keys.meter_id] = channel
        self._addresses: dict[str, Address] = {}
        self._kinds: dict[str, MeterKind | int] = {}
        self._requests: dict[tuple[str, int], backfill.BackfillDue] = {}
        self._request_ids = 0
        self._outgoing: list[tuple[bytes, Address]] = []
        #: Datagrams refused, by reason ("malformed", "unknown kid", "authentication", ...).
        self.dropped: Counter[str] = Counter()

    # ----------------------------------------------------------------- input
    def receive_datagram(self, data: bytes, source: Address, now: float) -> list[Any]:
        """One datagram from ``source``; returns collector events and :class:`Dropped`."""
        kid = SecureChannel.kid_of(data)
        channel = self._channels.get(kid) if kid is not None else None
        if kid is not None and channel is not None and kid not in channel.receive_kids(now):
            del self._channels[kid]  # a replaced key whose grace period is over
            channel = None
        if channel is None:
            return [self._drop(source, "malformed" if kid is None else "unknown kid")]
        try:
            message = channel.open(data, now)
        except DecodeError:
            return [self._drop(source, "malformed")]
        except AuthError as exc:
            reason = "replay" if "replay" in str(exc) or "stale" in str(exc) else "authentication"
            return [self._drop(source, reason)]
        if isinstance(message, Reading) and message.header.seq < backfill.FIRST_SEQ:
            # frame.cddl allows envelope seq 0, but readings are numbered from 1 (reading-seq):
            # one numbered 0 cannot be stored or back-filled (fuzz/iot_sealed found the
            # ValueError it raised here).
            return [self._drop(source, "malformed")]
        meter_id = channel.keys.meter_id
        self._addresses[meter_id] = source
        self._kinds[meter_id] = message.header.kind
        events: list[Any] = []
        try:
            if isinstance(message, Reading):
                reading = backfill.MeterReading(meter_id, message.header.seq, now, message.pack)
                events.append(ReadingReceived(meter_id, message.header.seq))
                events.extend(self.collector.receive_reading(reading, now))
            elif isinstance(message, BackfillResponse):
                events.extend(self._backfilled(meter_id, message, now))
            else:
                events.append(self._drop(source, f"unexpected {type(message).__name__}"))
        except SessionError as exc:
            events.append(self._drop(source, str(exc)))
        self._queue_requests(now)
        if self.listener is not None:
            for event in events:
                self.listener(event)
        return events

    def _backfilled(self, meter_id: str, message: BackfillResponse, now: float) -> list[Any]:
        asked = self._requests.pop((meter_id, message.request_id), None)
        readings = [
            backfill.MeterReading(meter_id, entry.seq, float(entry.time), entry.pack)
            for entry in message.entries
        ]
        return list(self.collector.receive_backfill(meter_id, readings, now, request=asked))

    def rekey(self, keys: ChannelKeys, now: float) -> None:
        """Replace the keys of meter ``keys.meter_id`` from ``now`` on.

        Downlink frames are sealed under the new key at once (its counter starts fresh);
        uplink frames under the old kid are accepted for ``rekey_grace_s`` more seconds.
        """
        channel = self._by_meter.get(keys.meter_id)
        if channel is None:
            raise ValueError(f"meter {keys.meter_id!r} is not collected here")
        channel.rekey(keys, now)
        self._channels[keys.uplink_kid] = channel
        for kid in [k for k, c in self._channels.items() if c is channel]:
            if kid not in channel.receive_kids(now):
                del self._channels[kid]

    def _drop(self, source: Address, reason: str) -> Dropped:
        self.dropped[reason] += 1
        return Dropped(source, reason)

    # ---------------------------------------------------------------- output
    def _queue_requests(self, now: float) -> None:
        for request in self.collector.requests_to_send():
            channel = self._by_meter.get(request.meter_id)
            address = self._addresses.get(request.meter_id)
            if channel is None or address is None:
                continue
            self._request_ids = (self._request_ids + 1) & 0xFFFFFFFF
            self._requests[(request.meter_id, self._request_ids)] = request
            if len(self._requests) > _REQUESTS_KEPT_PER_METER * len(self._by_meter):
                # Retried and abandoned requests are never answered: forget the oldest (a
                # late answer to it is matched by its seqs, as an answer without a request).
                del self._requests[next(iter(self._requests))]
            header = Header(
                request.meter_id, self._kinds[request.meter_id], self.route, self._request_ids
            )
            frame = BackfillRequest(header, self._request_ids, request.first, request.last)
            try:
                sealed = channel.seal(frame)
            except CounterExhausted:
                # Nothing more may be sent under this meter's downlink key until a re-key.
                self.dropped["send counter exhausted"] += 1
                continue
            self._outgoing.append((sealed, address))

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outgoing = self._outgoing, []
        return out

    def next_deadline(self) -> float | None:
        return self.collector.next_deadline()

    def handle_timeout(self, now: float) -> list[Any]:
        events = list(self.collector.handle_timeout(now))
        self._queue_requests(now)
        return events

    # --------------------------------------------------------------- reports
    def values(self, meter_id: str) -> dict[int, Any]:
        """Stored values by sequence number (the SenML packs as received)."""
        return {seq: r.value for seq, r in self.collector.stored(meter_id).items()}
