"""The A-route head-end collector (sans-IO): pushes in, gaps found, ranges read back.

It receives UDP wrapper datagrams (``receive_datagram(data, source, now)``), so any
datagram adapter can run it. A general-glo-ciphering APDU is a push: the sender's system
title selects its keys, the invocation counter must be fresh, the tag must verify, then
the DataNotification is classified (:mod:`.push`) and stored. Anything else comes from a
meter the collector is reading back and goes to that meter's :class:`.sessions.MeterSession`.
Whatever fails is dropped and counted by reason in the store; nothing raises.

Gap detection: a 30-minute value must be there ``grace_30min`` after its period end (the
meters spread their pushes over 20 minutes), a real-time 5-minute value ``grace_5min``
after; a missing one makes the collector read the meter's profile back over every
unsettled period up to it. Meters known to be without power (a Last Gasp, no restoration
yet) are read when the restoration arrives, or probed every ``outage_probe`` in case the
restoration push was lost. The 5-minute profiles of the 5-minute class are pulled every
``pull_5min``. A back-fill range that comes back without some entries settles them as
absent (the meter has no such entry); if no known outage explains them, the power event
log is read over the range so the outage is known from the meter itself.

Service levels (METI/ANRE next-generation requirements, ``/work/shared/notes``): 30-minute
values within 60 minutes, real-time 5-minute values within 10 minutes; the defaults leave
the back-fill half of each window.

Restarts (everything below lives in the :class:`~.storage.Store`, nothing only in memory):

* The head end's own invocation counter is a :class:`~smartmeter_proto.security_state.SendCounter`
  in the store's ``security_state`` table, reserved in blocks before use, so a restarted
  collector never ciphers with an IV it used before. One counter serves every association:
  the GCM IV is the head end's system title ‖ IC (Green Book, security suite 0), each
  value is handed out once in all, so no (key, IV) pair repeats under any meter's key, a
  re-keyed one included; a meter's own IVs carry the meter's system title, which must
  differ from the head end's (checked when a meter is provisioned).
* The replay window of every meter is kept as a floor (highest invocation counter
  accepted, per meter and key: :func:`~smartmeter_proto.aroute.keys.replay_counters`),
  written in the same transaction as the readings it protects (:meth:`Collector.commit`).
  A restarted collector refuses every push at or below the floor as ``replayed`` (Last
  Gasp and restoration included); a reordered push inside the window that had not arrived
  before the restart is refused too (its value is read back like any other gap).
* Commit before acknowledge: what the collector considers collected is settled in
  memory and committed by :meth:`Collector.commit`, which :meth:`Collector.handle_timeout`
  calls at its end and the adapter calls after each batch of received datagrams.
* A new collector on the same store rebuilds, per meter, the settled marks (and what is
  settled above them), the known outages (a Last Gasp without restoration keeps the meter
  in outage) and the replay floors; its gap checks continue from their stored cursors, so
  it reads back at once whatever went unsettled while it was down.

Re-keying (:meth:`Collector.rekey`): the new keys are sent to the meter by a global key
transfer in a ciphered association under the old keys. Once the meter confirms, the
collector ciphers with the new keys and still accepts pushes under the old ones for
``rekey_grace`` seconds (pushes in flight, or queued in the meter before the change), each
key with its own replay window, so a re-key loses no push.
"""

from __future__ import annotations

import heapq
import math
import struct
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import Final

from ..aroute import wrapper
from ..aroute.axdr import Data, DataType
from ..aroute.keys import replay_namespace
from ..aroute.security import (
    CipheredFields,
    InvocationCounters,
    Suite0Opener,
    split_ciphered,
    unprotect_fields,
)
from ..errors import AuthError, DecodeError
from ..security_state import SendCounter
from .push import (
    PERIOD_5MIN,
    PERIOD_30MIN,
    POWER_EVENT,
    MeterKeys,
    PowerEvent,
    PowerEventKind,
    PushRecord,
    ValueReading,
    open_push_fields,
    posix_of,
    read_notification,
    readings_from_rows,
)
from .sessions import KEY_TRANSFER, LOG_PERIOD, MeterSession, Outcome, Read, SessionResult
from .storage import VIA_BACKFILL, VIA_LOG, VIA_PUSH, Store

__all__ = ["Collector", "CollectorConfig", "CollectorStats", "MeterInfo"]

_GENERAL_GLO: Final = 0xDB
#: Green Book wrapper header (version, source wPort, destination wPort, length), read in
#: place for a push; anything it does not accept goes through wrapper.decode.
_WRAPPER_HEADER: Final = struct.Struct(">HHHH")
_WRAPPER_HEADER_SIZE: Final = _WRAPPER_HEADER.size
_WRAPPER_VERSION: Final = wrapper.WRAPPER_VERSION
_CLIENT_WPORT: Final = int(wrapper.WPort.CLIENT_MANAGEMENT_PROCESS)
_SERVER_WPORT: Final = wrapper.MANAGEMENT_LOGICAL_DEVICE
#: How far back the power event log is read when a restoration arrives without a Last Gasp.
_LOG_LOOKBACK: Final = 2 * 86_400
_POWER_CODES: Final = frozenset(int(k) for k in PowerEventKind)
#: The head end's one invocation counter, for all the keys it ciphers under, in the store's
#: ``security_state`` table (:mod:`smartmeter_proto.security_state`). The replay floors
#: there are named by :func:`~smartmeter_proto.aroute.keys.replay_namespace` (per key).
_COUNTER_NAME: Final = "dlms/{title}/ic"
#: Names of the collector's cursors in the store's ``collector_state`` table.
_CHECK_STATE: Final = "check:{period}"
_PULL_STATE: Final = "next_pull"


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """A provisioned meter: who it is, its keys, where to reach it, its class."""

    system_title: bytes
    keys: MeterKeys
    address: Hashable
    five_min: bool = False
    realtime: bool = False


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    grace_30min: float = 1500.0
    grace_5min: float = 240.0
    pull_5min: float = 3 * 3600.0
    retry_after: float = 600.0
    outage_probe: float = 1800.0
    max_sessions: int = 64
    request_timeout: float = 20.0
    request_retries: int = 2
    replay_window: int = 64
    #: How long pushes under a meter's previous keys are still accepted after a re-key (s).
    rekey_grace: float = 3600.0
    capture: bool = False
    #: Read pushes through compiled notification layouts (hes.push); False reads every
    #: push through the general decoder, the reference the compiled path is tested against.
    compiled_layouts: bool = True


@dataclass(slots=True)
class CollectorStats:
    datagrams: int = 0
    pushes: int = 0
    readings_pushed: int = 0
    readings_backfilled: int = 0
    power_events: int = 0
    sessions: int = 0
    reads: int = 0
    reads_failed: int = 0
    rekeys: int = 0
    rekeys_failed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)


class _KeySlot:
    """One key of a meter: the keys and the replay window of pushes under them, on floors
    in the store (named by the key's check value, so new keys start a new window)."""

    __slots__ = ("keys", "opener", "until", "window")

    def __init__(self, keys: MeterKeys, window: InvocationCounters) -> None:
        self.keys = keys
        self.opener = Suite0Opener(keys.ek, keys.ak)
        self.window = window
        self.until = math.inf


class _Meter:
    __slots__ = (
        "changed",
        "in_outage",
        "info",
        "keys",
        "last_gasp_at",
        "mark",
        "max_drift",
        "new_keys",
        "not_before",
        "outages",
        "previous",
        "queued",
        "session",
        "settled",
        "transferring",
        "wanted",
    )

    def __init__(self, info: MeterInfo, start: float, changed: set[_Meter]) -> None:
        self.info = info
        self.in_outage = False
        self.last_gasp_at: int | None = None
        periods = [PERIOD_30MIN] + ([PERIOD_5MIN] if info.five_min else [])
        #: per period: every capture time <= mark is settled (stored or absent)
        self.mark = {p: math.floor(start / p) * p for p in periods}
        self.settled: dict[int, set[int]] = {p: set() for p in periods}
        self.wanted: dict[int, tuple[int, int]] = {}
        self.not_before = 0.0
        self.queued = False
        self.session: MeterSession | None = None
        self.max_drift = 0.0
        #: known power failures: (failure, restoration or None while still out)
        self.outages: list[tuple[int | None, int | None]] = []
        #: the keys in use (set by the collector), the previous ones while their grace lasts
        self.keys: _KeySlot
        self.previous: _KeySlot | None = None
        #: keys to transfer to the meter with its next session
        self.new_keys: MeterKeys | None = None
        #: keys sent in a key transfer the meter has not confirmed yet
        self.transferring: MeterKeys | None = None
        #: the collector's meters whose marks moved since the last commit (this one, new)
        self.changed = changed
        changed.add(self)

    def explained(self, at: int) -> bool:
        """Whether a known outage covers capture time ``at`` (nothing captured then)."""
        for failed, restored in self.outages:
            if failed is not None and failed < at and (restored is None or at <= restored):
                return True
        return False

    def settle(self, period: int, at: int) -> None:
        mark = self.mark.get(period)
        if mark is None or at <= mark:
            return
        done = self.settled[period]
        done.add(at)
        while mark + period in done:
            mark += period
            done.discard(mark)
        if mark != self.mark[period]:
            self.mark[period] = mark
            self.changed.add(self)

    def is_settled(self, period: int, at: int) -> bool:
        return at <= self.mark[period] or at in self.settled[period]

    def want(self, period: int, first: int, last: int) -> None:
        if last < first:
            return
        old = self.wanted.get(period)
        self.wanted[period] = (
            (first, last) if old is None else (min(old[0], first), max(old[1], last))
        )


class Collector:
    """Receives pushes from ``meters``, stores them in ``store``, back-fills the gaps.

    ``store`` is where everything durable lives (see the module text): a new collector on
    the store of a previous one continues its work. ``invocation_counter`` replaces the
    head end's counter kept in the store (a caller that keeps it elsewhere); ``start`` is
    the simulated time the collector starts at (POSIX s).
    """

    def __init__(
        self,
        meters: Iterable[MeterInfo],
        store: Store,
        *,
        system_title: bytes,
        start: float,
        config: CollectorConfig | None = None,
        invocation_counter: SendCounter | None = None,
    ) -> None:
        self.config = config or CollectorConfig()
        self.store = store
        self.system_title = bytes(system_title)
        self.stats = CollectorStats()
        state = store.security_state
        self.invocation_counter = invocation_counter or SendCounter(
            state, _COUNTER_NAME.format(title=self.system_title.hex())
        )
        self._saved = _Saved(store)
        self._meters: dict[bytes, _Meter] = {}
        #: meters whose settled marks moved since the last commit (commit writes only those)
        self._changed: set[_Meter] = set()
        self._by_address: dict[Hashable, _Meter] = {}
        self._out: list[tuple[bytes, Hashable]] = []
        self._waiting: deque[_Meter] = deque()
        self._active: set[bytes] = set()
        self._retry: list[tuple[float, bytes]] = []
        cursors = self._saved.cursors
        first_30 = math.floor(start / PERIOD_30MIN) * PERIOD_30MIN + PERIOD_30MIN
        first_5 = math.floor(start / PERIOD_5MIN) * PERIOD_5MIN + PERIOD_5MIN
        #: next capture time to check, per period (30 min: every meter; 5 min: real-time)
        self._check = {
            PERIOD_30MIN: int(cursors.get(_CHECK_STATE.format(period=PERIOD_30MIN), first_30)),
            PERIOD_5MIN: int(cursors.get(_CHECK_STATE.format(period=PERIOD_5MIN), first_5)),
        }
        self._next_pull = cursors.get(_PULL_STATE, start + self.config.pull_5min)
        self.captured: list[tuple[float, str, bytes]] = []
        for info in meters:
            self.add_meter(info, start)
        store.add_meters(
            (m.info.system_title, m.info.five_min, m.info.realtime) for m in self._meters.values()
        )

    def add_meter(self, info: MeterInfo, start: float) -> None:
        """Provision one more meter (its store row is written by the caller, see __init__);
        what the store knows of it (a previous collector's work) is restored."""
        if info.system_title == self.system_title:
            raise ValueError(
                "a meter's system title must differ from the head end's "
                "(the GCM IV starts with the sender's system title)"
            )
        meter = _Meter(info, start, self._changed)
        self._restore(meter)
        self._meters[info.system_title] = meter
        self._by_address[info.address] = meter

    def _restore(self, meter: _Meter) -> None:
        title = meter.info.system_title
        saved = self._saved
        for period in meter.mark:
            mark = saved.marks.get((title, period))
            if mark is not None:
                meter.mark[period] = mark
            for at in saved.settled.get((title, period), ()):
                meter.settle(period, at)
        for kind, at, via in saved.events.get(title, ()):
            event = PowerEvent(title, PowerEventKind(kind), at)
            if via == VIA_LOG:
                self._learn_from_log(meter, event)
            else:
                self._track_power(meter, event)
        meter.keys = self._slot(meter.info.keys)
        # what a previous collector had checked but not yet settled is wanted at once
        for period, mark in meter.mark.items():
            if period == PERIOD_5MIN and not meter.info.realtime:
                continue
            last = self._check[period] - period
            if meter.in_outage and meter.last_gasp_at is not None:
                last = min(last, math.floor(meter.last_gasp_at / period) * period)
            meter.want(period, mark + period, last)
        self._enqueue(meter)

    def _slot(self, keys: MeterKeys) -> _KeySlot:
        # the replay window of keys.replay_counters on floors that commit with the readings
        # they protect (commit())
        floors = self.store.replay_floors(replay_namespace(self.system_title, keys.ek))
        return _KeySlot(keys, InvocationCounters(self.config.replay_window, floors=floors))

    def _drop(self, reason: str) -> None:
        self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + 1
        self.store.count_drop(reason)

    # ------------------------------------------------------------------ receiving
    def receive_datagram(self, data: bytes, source: Hashable, now: float) -> None:
        """One datagram from ``source``; call :meth:`commit` after each batch."""
        self.stats.datagrams += 1
        if self.config.capture:
            self.captured.append((now, f"{source}", bytes(data)))
        size = len(data)
        if size > _WRAPPER_HEADER_SIZE and data[_WRAPPER_HEADER_SIZE] == _GENERAL_GLO:
            version, _, _, length = _WRAPPER_HEADER.unpack_from(data)
            if version == _WRAPPER_VERSION and length == size - _WRAPPER_HEADER_SIZE:
                self._push(data[_WRAPPER_HEADER_SIZE:], now)  # what wrapper.decode gives
                return
        try:
            frame = wrapper.decode(data)
        except DecodeError:
            self._drop("malformed")
            return
        apdu = frame.apdu
        if apdu[:1] == bytes((_GENERAL_GLO,)):
            self._push(apdu, now)
            return
        meter = self._by_address.get(source)
        if meter is None or meter.session is None:
            self._drop("unsolicited")
            return
        client = meter.session.client
        before = (client.stats.malformed, client.stats.auth_failed, client.stats.unexpected)
        meter.session.receive(apdu, now)
        client = meter.session.client
        after = (client.stats.malformed, client.stats.auth_failed, client.stats.unexpected)
        for reason, old, new in zip(
            ("malformed", "forged", "unsolicited"), before, after, strict=True
        ):
            for _ in range(new - old):
                self._drop(reason)
        self._after_session(meter, now)

    def _open_under_other_keys(
        self, meter: _Meter, fields: CipheredFields, now: float
    ) -> tuple[PushRecord, _KeySlot]:
        """A push that did not open under the meter's keys: under its previous keys while
        their grace lasts, else under keys being transferred (a push under them proves the
        meter took them); AuthError when none verifies."""
        compiled = self.config.compiled_layouts
        previous = meter.previous
        if previous is not None and now <= previous.until:
            try:
                return open_push_fields(fields, previous.keys, compiled=compiled), previous
            except AuthError:
                pass
        if meter.transferring is None:
            raise AuthError("hes collector: the push verifies under none of the meter's keys")
        opened = open_push_fields(fields, meter.transferring, compiled=compiled)
        self._promote(meter, meter.transferring, now)
        return opened, meter.keys

    def _push(self, apdu: bytes, now: float) -> None:
        """One push, in one pass: the header read once, the record stored as plain values."""
        meter = self._meters.get(apdu[2:10])  # the usual header's system title, peeked
        if meter is not None:
            slot = meter.keys
            try:
                opened = slot.opener.open_usual(apdu)
            except AuthError:
                if meter.previous is None and meter.transferring is None:
                    self._drop("forged")
                    return
                opened = None  # the general path tries the meter's other keys
            if opened is not None:
                title, ic, plain = opened
                try:
                    record = read_notification(plain, title, compiled=self.config.compiled_layouts)
                except DecodeError:
                    self._drop("malformed")
                    return
                except AuthError:
                    self._drop("forged")
                    return
                self._accept(meter, slot, title, ic, record, now)
                return
        self._push_general(apdu, now)

    def _push_general(self, apdu: bytes, now: float) -> None:
        """A push in any form the ciphering allows: split, then the meter's keys in turn."""
        try:
            fields = split_ciphered(apdu)
        except DecodeError:
            self._drop("malformed")
            return
        title = fields.system_title or b""
        meter = self._meters.get(title)
        if meter is None:
            self._drop("unknown_meter")
            return
        # The tag first, then the counter (as hes.batch does): a tampered copy of an earlier
        # push is forged, a genuine copy replayed; only verified counters are recorded.
        slot = meter.keys
        keys = slot.keys
        try:
            try:  # open_push_fields under the meter's keys, one call level less
                record = read_notification(
                    unprotect_fields(fields, ek=keys.ek, ak=keys.ak),
                    title,
                    compiled=self.config.compiled_layouts,
                )
            except AuthError:
                record, slot = self._open_under_other_keys(meter, fields, now)
        except DecodeError:
            self._drop("malformed")
            return
        except AuthError:
            self._drop("forged")
            return
        self._accept(meter, slot, title, fields.invocation_counter, record, now)

    def _accept(
        self,
        meter: _Meter,
        slot: _KeySlot,
        title: bytes,
        ic: int,
        record: PushRecord,
        now: float,
    ) -> None:
        """A push whose tag verified under ``slot``: its counter checked, then stored."""
        try:  # at or below the stored floor: accepted before a restart
            slot.window.accept(title, ic)
        except AuthError:
            self._drop("replayed")
            return
        sent_at, period, at, values = record
        if sent_at is not None:
            drift = sent_at - now
            if abs(drift) > abs(meter.max_drift):
                meter.max_drift = drift
        stats = self.stats
        if period == POWER_EVENT:
            stats.pushes += 1
            self._power_event(
                meter, PowerEvent(title, PowerEventKind(values[0]), at), now, VIA_PUSH
            )
            return
        mark = meter.mark.get(period)
        if mark is None:
            self._drop("unexpected_period")
            return
        stats.pushes += 1
        if meter.in_outage:
            self._back_without_restoration(meter, now)
            mark = meter.mark[period]
        if at > mark and at not in meter.settled[period]:  # else a copy: first arrival wins
            self.store.add_reading_values(title, period, at, now, VIA_PUSH, values)
            meter.settle(period, at)
        stats.readings_pushed += 1

    def _store_reading(self, meter: _Meter, reading: ValueReading, now: float, via: int) -> None:
        if meter.is_settled(reading.period, reading.period_end):
            return  # a copy of what is stored (first arrival wins)
        self.store.add_reading(reading, now, via)
        meter.settle(reading.period, reading.period_end)

    def _power_event(self, meter: _Meter, event: PowerEvent, now: float, via: int) -> None:
        self.store.add_event(event, now, via)
        self.stats.power_events += 1
        if via == VIA_LOG:
            self._learn_from_log(meter, event)
            return
        gasp_seen = meter.last_gasp_at is not None
        self._track_power(meter, event)
        if event.kind is PowerEventKind.LAST_GASP:
            return
        last = math.floor(event.at / PERIOD_30MIN) * PERIOD_30MIN
        meter.want(PERIOD_30MIN, meter.mark[PERIOD_30MIN] + PERIOD_30MIN, last)
        if meter.info.five_min:
            last5 = math.floor(event.at / PERIOD_5MIN) * PERIOD_5MIN
            meter.want(PERIOD_5MIN, meter.mark[PERIOD_5MIN] + PERIOD_5MIN, last5)
        if not gasp_seen:  # the Last Gasp never arrived: ask the meter
            meter.want(LOG_PERIOD, event.at - _LOG_LOOKBACK, event.at)
        meter.not_before = 0.0
        self._enqueue(meter)

    @staticmethod
    def _track_power(meter: _Meter, event: PowerEvent) -> None:
        """The outage state a pushed Last Gasp or restoration leaves (also on restore)."""
        if event.kind is PowerEventKind.LAST_GASP:
            meter.in_outage = True
            meter.last_gasp_at = event.at
            meter.outages.append((event.at, None))
            return
        meter.in_outage = False
        meter.last_gasp_at = None
        if meter.outages and meter.outages[-1][1] is None:
            meter.outages[-1] = (meter.outages[-1][0], event.at)
        else:
            meter.outages.append((None, event.at))

    def _back_without_restoration(self, meter: _Meter, now: float) -> None:
        """A meter thought without power pushes values: its restoration push was lost.
        Read its power event log for the restoration time and back-fill what is unsettled."""
        meter.in_outage = False
        since = meter.last_gasp_at if meter.last_gasp_at is not None else int(now) - _LOG_LOOKBACK
        meter.want(LOG_PERIOD, since, int(now))
        meter.last_gasp_at = None
        for period, mark in meter.mark.items():
            meter.want(period, mark + period, math.floor(now / period) * period)
        meter.not_before = 0.0
        self._enqueue(meter)

    @staticmethod
    def _learn_from_log(meter: _Meter, event: PowerEvent) -> None:
        """Fill the outage spans in with a failure or restoration read from the meter's log."""
        if event.kind is PowerEventKind.LAST_GASP:
            for i, (failed, restored) in enumerate(meter.outages):
                if failed is None and restored is not None and restored >= event.at:
                    meter.outages[i] = (event.at, restored)
                    return
            if not any(f == event.at for f, _ in meter.outages):
                meter.outages.append((event.at, None))
            return
        for i, (failed, restored) in enumerate(meter.outages):
            if failed is not None and restored is None and failed <= event.at:
                meter.outages[i] = (failed, event.at)
                return

    # ------------------------------------------------------------------ back-fill
    def _enqueue(self, meter: _Meter) -> None:
        if (
            not meter.queued
            and (meter.wanted or meter.new_keys is not None)
            and meter.info.system_title not in self._active
        ):
            meter.queued = True
            self._waiting.append(meter)

    def _start_sessions(self, now: float) -> None:
        deferred: list[_Meter] = []
        while self._waiting and len(self._active) < self.config.max_sessions:
            meter = self._waiting.popleft()
            meter.queued = False
            if not meter.wanted and meter.new_keys is None:
                continue
            if meter.not_before > now:
                deferred.append(meter)
                continue
            if meter.in_outage:
                meter.not_before = now + self.config.outage_probe
                deferred.append(meter)
                continue
            self._open(meter, now)
        for meter in deferred:
            heapq.heappush(self._retry, (meter.not_before, meter.info.system_title))

    def _open(self, meter: _Meter, now: float) -> None:
        if meter.session is None:
            meter.session = MeterSession(
                client_title=self.system_title,
                server_title=meter.info.system_title,
                keys=meter.keys.keys,
                invocation_counter=self.invocation_counter,
                timeout=self.config.request_timeout,
                retries=self.config.request_retries,
            )
        reads = [Read(p, first, last) for p, (first, last) in sorted(meter.wanted.items())]
        meter.wanted = {}
        if meter.new_keys is not None:  # the key transfer first, the reads under new keys
            meter.session.transfer_keys(meter.new_keys)
            meter.transferring, meter.new_keys = meter.new_keys, None
        self._active.add(meter.info.system_title)
        self.stats.sessions += 1
        meter.session.start(reads, now)
        self._after_session(meter, now)

    def _after_session(self, meter: _Meter, now: float) -> None:
        session = meter.session
        if session is None:
            return
        for apdu in session.apdus_to_send():
            frame = wrapper.WrapperFrame(_CLIENT_WPORT, _SERVER_WPORT, apdu)
            self._out.append((wrapper.encode(frame), meter.info.address))
        failed = False
        for result in session.take_results():
            failed |= not self._apply(meter, result, now)
        if failed:
            meter.not_before = now + self.config.retry_after
        if not session.busy:
            self._active.discard(meter.info.system_title)
            if meter.wanted:
                if meter.not_before > now:
                    heapq.heappush(self._retry, (meter.not_before, meter.info.system_title))
                else:
                    self._enqueue(meter)
            self._start_sessions(now)

    def _apply(self, meter: _Meter, result: SessionResult, now: float) -> bool:
        read = result.read
        if read.period == KEY_TRANSFER:
            return self._keys_transferred(meter, result, now)
        self.stats.reads += 1
        if result.outcome is Outcome.FAILED or result.rows is None:
            self.stats.reads_failed += 1
            meter.want(read.period, read.first, read.last)
            return False
        title = meter.info.system_title
        try:
            if read.period == LOG_PERIOD:
                for event in _events_from_log(result.rows, title):
                    self._power_event(meter, event, now, VIA_LOG)
                return True
            readings = readings_from_rows(result.rows, title, read.period)
        except (DecodeError, AuthError):
            self._drop("malformed_backfill")
            meter.want(read.period, read.first, read.last)
            return False
        returned = set()
        for reading in readings:
            returned.add(reading.period_end)
            if not meter.is_settled(read.period, reading.period_end):
                self.stats.readings_backfilled += 1
            self._store_reading(meter, reading, now, VIA_BACKFILL)
        unexplained = False
        first = math.ceil(read.first / read.period) * read.period
        for at in range(first, read.last + 1, read.period):
            if at not in returned and not meter.is_settled(read.period, at):
                self.store.add_absent(title, read.period, at, now)
                meter.settle(read.period, at)
                unexplained |= not meter.explained(at)
        if unexplained:  # learn the outage that explains the hole from the meter's own log
            meter.want(LOG_PERIOD, read.first, read.last + read.period)
        return True

    # ------------------------------------------------------------------ re-keying
    def rekey(self, system_title: bytes, keys: MeterKeys, now: float) -> None:
        """Replace a meter's global keys: a key transfer (wrapped under ``keys.kek``, the
        meter's master key) in a ciphered association under the current keys, as soon as a
        session slot is free. Pushes under the old keys stay accepted for
        ``config.rekey_grace`` seconds after the meter confirmed."""
        meter = self._meters.get(system_title)
        if meter is None:
            raise ValueError(f"no provisioned meter {system_title.hex().upper()}")
        if keys.kek is None:
            raise ValueError("a key transfer needs the meter's master key (kek)")
        meter.new_keys = keys
        meter.not_before = 0.0
        self._enqueue(meter)
        self._start_sessions(now)

    def keys_of(self, system_title: bytes) -> MeterKeys:
        """The keys the collector uses for the meter now (never shown in a repr)."""
        return self._meters[system_title].keys.keys

    def _keys_transferred(self, meter: _Meter, result: SessionResult, now: float) -> bool:
        new = meter.transferring
        if new is None:
            return True  # a push under the new keys already completed the re-key
        if result.outcome is Outcome.FAILED:
            self.stats.rekeys_failed += 1
            meter.transferring = None
            meter.new_keys = new  # try again with the next session
            return False
        self._promote(meter, new, now)
        return True

    def _promote(self, meter: _Meter, new: MeterKeys, now: float) -> None:
        """The meter uses ``new`` from now on; the old keys enter their grace period."""
        meter.transferring = None
        old = meter.keys
        old.until = now + self.config.rekey_grace
        meter.previous = old
        meter.keys = self._slot(new)
        meter.info = replace(meter.info, keys=new)
        if meter.session is not None:
            meter.session.use_keys(new)
        self.stats.rekeys += 1

    # ------------------------------------------------------------------ committing
    def commit(self) -> None:
        """Commit what was stored since the last commit, with the replay floors it raised,
        the settled marks and the gap-check cursors, in one transaction. Call it after each
        batch of received datagrams (:meth:`handle_timeout` calls it itself)."""
        for meter in self._changed:
            for period, mark in meter.mark.items():
                self.store.set_mark(meter.info.system_title, period, mark)
        self._changed.clear()
        for period, at in self._check.items():
            self.store.set_state(_CHECK_STATE.format(period=period), at)
        self.store.set_state(_PULL_STATE, self._next_pull)
        self.store.commit()

    # ------------------------------------------------------------------ timers
    def next_deadline(self) -> float | None:
        times = [
            self._check[PERIOD_30MIN] + self.config.grace_30min,
            self._check[PERIOD_5MIN] + self.config.grace_5min,
            self._next_pull,
        ]
        if self._retry:
            times.append(self._retry[0][0])
        for title in self._active:
            session = self._meters[title].session
            due = None if session is None else session.next_deadline()
            if due is not None:
                times.append(due)
        return min(times)

    def handle_timeout(self, now: float) -> None:
        for title in list(self._active):
            meter = self._meters[title]
            if meter.session is not None:
                meter.session.handle_timeout(now)
                self._after_session(meter, now)
        self._checks(now)
        if now >= self._next_pull:
            self._next_pull = now + self.config.pull_5min
            last = math.floor(now / PERIOD_5MIN) * PERIOD_5MIN - PERIOD_5MIN
            for meter in self._meters.values():
                if meter.info.five_min and not meter.in_outage:
                    meter.want(PERIOD_5MIN, meter.mark[PERIOD_5MIN] + PERIOD_5MIN, last)
                    self._enqueue(meter)
        while self._retry and self._retry[0][0] <= now:
            _, title = heapq.heappop(self._retry)
            self._enqueue(self._meters[title])
        self._start_sessions(now)
        self.commit()

    def _checks(self, now: float) -> None:
        graces = {PERIOD_30MIN: self.config.grace_30min, PERIOD_5MIN: self.config.grace_5min}
        for period, grace in graces.items():
            while self._check[period] + grace <= now:
                at = self._check[period]
                self._check[period] = at + period
                for meter in self._meters.values():
                    if period == PERIOD_5MIN and not meter.info.realtime:
                        continue
                    first = meter.mark[period] + period  # the oldest unsettled value
                    if first > at:
                        continue
                    if (
                        meter.in_outage
                        and meter.last_gasp_at is not None
                        and first > meter.last_gasp_at
                    ):
                        continue  # captured nothing without power
                    meter.want(period, first, at)
                    self._enqueue(meter)

    def confirm_all(self, until: float, now: float) -> None:
        """The confirmation pass: read back every meter's unsettled values up to ``until``
        (30-minute values of all, 5-minute values of the 5-minute class)."""
        for meter in self._meters.values():
            for period, mark in meter.mark.items():
                last = math.floor(until / period) * period
                if mark < last:
                    meter.want(period, mark + period, last)
            self._enqueue(meter)
        self._start_sessions(now)

    def datagrams_to_send(self) -> list[tuple[bytes, Hashable]]:
        out, self._out = self._out, []
        return out

    def finish(self) -> None:
        """Commit everything (see :meth:`commit`)."""
        self.commit()

    def clock_drift(self) -> dict[bytes, float]:
        """Largest clock offset seen per meter (s, meter minus head end), from push times."""
        return {t: m.max_drift for t, m in self._meters.items() if m.max_drift}


class _Saved:
    """What a previous collector left in the store, read once when a collector starts."""

    __slots__ = ("cursors", "events", "marks", "settled")

    def __init__(self, store: Store) -> None:
        self.marks = store.marks()
        self.settled = store.settled_above(self.marks)
        self.cursors = store.state()
        self.events: dict[bytes, list[tuple[int, int, int]]] = {}
        for title, kind, at, via in store.power_events():
            if kind in _POWER_CODES:
                self.events.setdefault(title, []).append((kind, at, via))


def _events_from_log(rows: Data, title: bytes) -> list[PowerEvent]:
    """The power failures and restorations in power event log rows (clock, event code)."""
    if (
        not isinstance(rows, Data)
        or rows.type != DataType.ARRAY
        or not isinstance(rows.value, tuple)
    ):
        raise DecodeError("hes-collector", 0, "the power event log is an array")
    out: list[PowerEvent] = []
    for i, row in enumerate(rows.value):
        fields = row.value
        if row.type != DataType.STRUCTURE or not isinstance(fields, tuple) or len(fields) != 2:
            raise DecodeError("hes-collector", i, "a power event log row is (clock, code)")
        code = fields[1].value
        if not isinstance(code, int) or code not in _POWER_CODES:
            continue  # other event codes in the log are not power events we track
        try:
            kind = PowerEventKind(code)
        except ValueError:
            continue  # other event codes in the log are not power events we track
        out.append(PowerEvent(title, kind, posix_of(fields[0], i)))
    return out
