"""The IoT-route head-end (sans-IO): protected frames in, back-fill requests out.

It opens each datagram on the channel of the meter its kid names, feeds
readings and back-fill answers to a :class:`~.backfill.Collector`, and turns
the collector's requests into protected ``BackfillRequest`` frames for the
address the meter last spoke from. Bad, forged or replayed datagrams are
dropped and counted by reason; nothing a peer sends can stop it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import AuthError, DecodeError, SessionError
from . import backfill
from .channel import MeterKeys, SecureChannel
from .frame import BackfillRequest, BackfillResponse, Header, MeterKind, Reading, Route

__all__ = ["Dropped", "HeadEnd", "ReadingReceived"]

Address = Hashable


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
    """Collects the readings of a set of meters, back-filling every gap."""

    def __init__(
        self,
        meters: Iterable[MeterKeys],
        *,
        route: Route = Route.A_IOT,
        collector: backfill.Collector | None = None,
        listener: Callable[[Any], None] | None = None,
    ) -> None:
        self.route = route
        #: Called with every event as it happens (a CLI's progress lines, a metrics hook).
        self.listener = listener
        self.collector = collector or backfill.Collector()
        self._channels: dict[bytes, SecureChannel] = {}
        self._by_meter: dict[str, SecureChannel] = {}
        for keys in meters:
            channel = SecureChannel(keys, side="headend", route=route)
            self._channels[keys.uplink_kid] = channel
            self._by_meter[keys.meter_id] = channel
        self._addresses: dict[str, Address] = {}
        self._kinds: dict[str, MeterKind | int] = {}
        self._requests: dict[tuple[str, int], backfill.BackfillRequest] = {}
        self._request_ids = 0
        self._outgoing: list[tuple[bytes, Address]] = []
        #: Datagrams refused, by reason ("malformed", "unknown kid", "authentication", ...).
        self.dropped: Counter[str] = Counter()

    # ----------------------------------------------------------------- input
    def receive_datagram(self, data: bytes, source: Address, now: float) -> list[Any]:
        """One datagram from ``source``; returns collector events and :class:`Dropped`."""
        kid = SecureChannel.kid_of(data)
        channel = self._channels.get(kid) if kid is not None else None
        if channel is None:
            return [self._drop(source, "malformed" if kid is None else "unknown kid")]
        try:
            message = channel.open(data)
        except DecodeError:
            return [self._drop(source, "malformed")]
        except AuthError as exc:
            reason = "replay" if "replay" in str(exc) or "stale" in str(exc) else "authentication"
            return [self._drop(source, reason)]
        meter_id = channel.keys.meter_id
        self._addresses[meter_id] = source
        self._kinds[meter_id] = message.header.kind
        events: list[Any] = []
        try:
            if isinstance(message, Reading):
                reading = backfill.Reading(meter_id, message.header.seq, now, message.pack)
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
            backfill.Reading(meter_id, entry.seq, float(entry.time), entry.pack)
            for entry in message.entries
        ]
        return list(self.collector.receive_backfill(meter_id, readings, now, request=asked))

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
            header = Header(
                request.meter_id, self._kinds[request.meter_id], self.route, self._request_ids
            )
            frame = BackfillRequest(header, self._request_ids, request.first, request.last)
            self._outgoing.append((channel.seal(frame), address))

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
