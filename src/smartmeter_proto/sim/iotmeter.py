"""Simulated IoT-route meters: gas, water and a PV special meter (sans-IO device side).

Each meter takes a reading every ``interval`` seconds, numbers it with the
next sequence number, keeps it in a bounded :class:`~smartmeter_proto.iot.backfill.MeterStore`
and sends it, protected, to the head-end; it answers ``BackfillRequest``s
from the store. Values follow a seeded consumption model: cumulative volume in
m3 for gas and water, cumulative generation in kWh plus power in W for PV.
Its send counter and replay floor live in ``state_store`` (the CLI gives it a
:class:`~smartmeter_proto.security_state.FileStateStore`), so a restarted meter never
reuses a nonce nor accepts a request captured before the restart.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable
from typing import Any, Final

from ..errors import AuthError, DecodeError
from ..iot.backfill import MeterStore
from ..iot.channel import ChannelKeys, SecureChannel
from ..iot.frame import (
    BackfillEntry,
    BackfillRequest,
    BackfillResponse,
    Header,
    MeterKind,
    Reading,
    Route,
)
from ..iot.senml import SenmlPack, SenmlRecord
from ..security_state import StateStore

__all__ = ["SimulatedIotMeter"]

Address = Hashable
#: Back-fill answers carry at most this many readings per frame (one UDP datagram).
_ENTRIES_PER_ANSWER: Final = 16
#: Mean consumption per hour: gas and water in m3, PV peak in kW.
_MEAN_PER_HOUR: Final = {MeterKind.GAS: 0.08, MeterKind.WATER: 0.02, MeterKind.SPECIAL_PV: 4.0}


class SimulatedIotMeter:
    """One meter; ``headend`` is the opaque address its frames go to."""

    def __init__(
        self,
        keys: ChannelKeys,
        kind: MeterKind,
        *,
        headend: Address,
        start: float,
        state_store: StateStore,
        interval: float = 1800.0,
        capacity: int = 1440,
        route: Route = Route.A_IOT,
        seed: int = 1,
    ) -> None:
        if kind not in _MEAN_PER_HOUR:
            raise ValueError(f"no consumption model for {kind!r}")
        if not 0 < interval < math.inf:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        self.keys = keys
        self.kind = kind
        self.route = route
        self.headend = headend
        self.interval = interval
        self.store = MeterStore(keys.meter_id, capacity, max_per_answer=_ENTRIES_PER_ANSWER)
        self.channel = SecureChannel(keys, side="meter", state_store=state_store, route=route)
        self._rng = random.Random(seed)  # noqa: S311 - seeded simulation noise, not secrets
        self._next = start + interval
        self._total = 0.0
        self._outgoing: list[tuple[bytes, Address]] = []
        #: Every pack produced, by sequence number (what a test compares against).
        self.produced: dict[int, SenmlPack] = {}
        self.dropped = 0

    def _header(self, seq: int) -> Header:
        return Header(self.keys.meter_id, self.kind, self.route, seq)

    def _pack(self, now: float) -> SenmlPack:
        hours = self.interval / 3600
        mean = _MEAN_PER_HOUR[self.kind]
        base = f"urn:dev:meter:{self.keys.meter_id}:"
        records: tuple[SenmlRecord, ...]
        if self.kind is MeterKind.SPECIAL_PV:
            daylight = max(0.0, math.sin(math.pi * ((now / 3600 + 9) % 24 - 6) / 12))
            power_kw = mean * daylight * self._rng.uniform(0.5, 1.0)
            self._total += power_kw * hours
            records = (
                SenmlRecord(
                    base_name=base,
                    base_time=int(now),
                    name="energy",
                    unit="kWh",
                    value=round(self._total, 3),
                ),
                SenmlRecord(name="power", unit="W", value=round(power_kw * 1000)),
            )
        else:
            self._total += mean * hours * self._rng.uniform(0.2, 1.8)
            records = (
                SenmlRecord(
                    base_name=base,
                    base_time=int(now),
                    name="volume",
                    unit="m3",
                    value=round(self._total, 4),
                ),
            )
        return SenmlPack(records)

    # --------------------------------------------------------------- sans-IO
    def next_deadline(self) -> float | None:
        return None if self._next == math.inf else self._next

    def stop_readings(self) -> None:
        """Take no more readings (the meter still answers back-fill requests)."""
        self._next = math.inf

    def handle_timeout(self, now: float) -> None:
        """Take the readings due by ``now`` and send them."""
        while self._next <= now:
            pack = self._pack(self._next)
            reading = self.store.record(pack, self._next)
            self.produced[reading.seq] = pack
            frame = Reading(self._header(reading.seq), pack)
            self._outgoing.append((self.channel.seal(frame), self.headend))
            self._next += self.interval

    def receive_datagram(self, data: bytes, source: Address, now: float) -> None:
        """A frame from the head-end: back-fill requests are answered from the store."""
        try:
            message = self.channel.open(data, now)
        except (DecodeError, AuthError):
            self.dropped += 1
            return
        if not isinstance(message, BackfillRequest):
            self.dropped += 1
            return
        # One answer per request, capped by the store: the collector asks again for the rest.
        kept = self.store.range(message.first_seq, message.last_seq)
        entries = tuple(BackfillEntry(r.seq, int(r.time), r.value) for r in kept)
        answer = BackfillResponse(
            self._header(self.store.latest_seq or 0), message.request_id, entries
        )
        self._outgoing.append((self.channel.seal(answer), source))

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        out, self._outgoing = self._outgoing, []
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "meter_id": self.keys.meter_id,
            "kind": self.kind.name,
            "readings": len(self.produced),
        }
