"""Back-fill sessions of the head end: associate with one meter, read profile ranges back.

One :class:`MeterSession` per meter that ever needed reading, driving a ciphered
:class:`~smartmeter_proto.aroute.association.AssociationClient`: associate (AARQ with a
glo-initiate-request), then one GET of Profile generic attribute 2 with a range descriptor
on the capture time (Blue Book selective access 1, inclusive bounds) per wanted range, the
power event log included. A GET that times out fails the session (the meter is probably
without power; the collector retries later); an exception-response means the meter lost
its association (a restart): the session associates again once and repeats the read.

A key transfer (:meth:`MeterSession.transfer_keys`) is the Security setup's
global_key_transfer (Blue Book, class 64 method 2; :mod:`smartmeter_proto.aroute.keys`)
under the current keys, before any read queued with it; once the meter confirms, the
session associates again under the new keys. Every association of the head end draws its
invocation counters from one :class:`~smartmeter_proto.security_state.SendCounter`.

Sans-IO: APDUs in and out, time as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Final

from ..aroute.apdu import ActionResult as ActionResultCode
from ..aroute.apdu import SelectiveAccess
from ..aroute.association import (
    ActionResult,
    Associated,
    AssociationClient,
    AssociationRefused,
    ClientEvent,
    ClientState,
    ExceptionReceived,
    GetResult,
    RequestTimedOut,
)
from ..aroute.axdr import CosemDateTime, Data
from ..aroute.cosem import CaptureObject, ClassId, RangeDescriptor, datetime_data
from ..aroute.obis import Obis
from ..aroute.profile import load_catalogue
from ..security_state import SendCounter
from .push import JST, PERIOD_5MIN, PERIOD_30MIN, MeterKeys

__all__ = [
    "KEY_TRANSFER",
    "LOG_PERIOD",
    "PROFILE_OF",
    "MeterSession",
    "Outcome",
    "Read",
    "SessionResult",
]

_CATALOGUE = load_catalogue()
#: The profile read back for each capture period (specs/cosem/profiles.yaml).
PROFILE_OF: Final[dict[int, Obis]] = {
    PERIOD_30MIN: _CATALOGUE.by_name("load_profile_30min").obis,
    PERIOD_5MIN: _CATALOGUE.by_name("load_profile_5min").obis,
}
#: Pseudo period naming the power event log (specs/cosem/events.yaml) in a :class:`Read`.
LOG_PERIOD: Final = 0
_POWER_LOG: Final = _CATALOGUE.by_name("power_event_log").obis
#: Pseudo period naming a key transfer in a :class:`Read` (its range is unused).
KEY_TRANSFER: Final = -1
_CLOCK_TIME: Final = CaptureObject(ClassId.CLOCK, _CATALOGUE.by_name("clock").obis, 2)
_REASSOCIATIONS: Final = 1


@dataclass(frozen=True, slots=True)
class Read:
    """Read ``period``'s profile (or the power event log) between two capture times."""

    period: int
    first: int
    last: int


class Outcome(Enum):
    ROWS = "rows"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SessionResult:
    read: Read
    outcome: Outcome
    rows: Data | None = None
    reason: str = ""


def _when(t: int) -> Data:
    return datetime_data(CosemDateTime.from_datetime(datetime.fromtimestamp(t, JST)))


class MeterSession:
    """The head end's association with one meter and the reads queued on it."""

    def __init__(
        self,
        *,
        client_title: bytes,
        server_title: bytes,
        keys: MeterKeys,
        invocation_counter: SendCounter,
        timeout: float,
        retries: int,
    ) -> None:
        self._client_title = client_title
        self._server_title = server_title
        self._keys = keys
        self._counter = invocation_counter
        self._timeout, self._retries = timeout, retries
        self.client = self._new_client()
        self._new_keys: MeterKeys | None = None
        self.reads: list[Read] = []
        self._current: Read | None = None
        self._reassociations = 0
        self.results: list[SessionResult] = []
        self.associations = 0
        self.requests = 0

    def _new_client(self) -> AssociationClient:
        return AssociationClient(
            system_title=self._client_title,
            ek=self._keys.ek,
            ak=self._keys.ak,
            server_system_title=self._server_title,
            counter=self._counter,
            timeout=self._timeout,
            retries=self._retries,
        )

    def transfer_keys(self, keys: MeterKeys) -> None:
        """Queue a key transfer to ``keys`` (wrapped under ``keys.kek``) before the reads."""
        if keys.kek is None:
            raise ValueError("a key transfer needs the meter's master key (kek)")
        self._new_keys = keys
        self.reads.insert(0, Read(KEY_TRANSFER, 0, 0))

    def use_keys(self, keys: MeterKeys) -> None:
        """The meter uses ``keys`` now: later associations are made under them."""
        self._keys = keys
        if self._current is None:
            self._restart_client()

    @property
    def busy(self) -> bool:
        return (
            self._current is not None
            or bool(self.reads)
            or (self.client.state in (ClientState.ASSOCIATING, ClientState.HLS_PENDING))
        )

    def start(self, reads: list[Read], now: float) -> None:
        """Queue ``reads`` and begin (associating first if needed)."""
        self.reads.extend(reads)
        self._reassociations = 0
        self._advance(now)

    def _advance(self, now: float) -> None:
        if self._current is not None or not self.reads:
            return
        if self.client.state is ClientState.IDLE:
            self.associations += 1
            self.client.associate(now)
            return
        if self.client.state is not ClientState.ASSOCIATED:
            return
        read = self.reads.pop(0)
        self._current = read
        self.requests += 1
        if read.period == KEY_TRANSFER:
            new = self._new_keys
            assert new is not None
            assert new.kek is not None
            self.client.transfer_keys(new.kek, ek=new.ek, ak=new.ak, now=now)
            return
        obis = _POWER_LOG if read.period == LOG_PERIOD else PROFILE_OF[read.period]
        access = RangeDescriptor(_CLOCK_TIME, _when(read.first), _when(read.last)).to_data()
        self.client.get(
            obis,
            ClassId.PROFILE_GENERIC,
            2,
            access=SelectiveAccess(RangeDescriptor.SELECTOR, access),
            now=now,
        )

    def _fail_all(self, reason: str) -> None:
        pending = ([self._current] if self._current is not None else []) + self.reads
        self.results += [SessionResult(r, Outcome.FAILED, reason=reason) for r in pending]
        self._current = None
        self.reads = []

    def _restart_client(self) -> None:
        self.client = self._new_client()

    def receive(self, apdu: bytes, now: float) -> None:
        self.client.receive(apdu, now)
        self._events(self.client.events(), now)

    def handle_timeout(self, now: float) -> None:
        self.client.handle_timeout(now)
        self._events(self.client.events(), now)

    def next_deadline(self) -> float | None:
        return self.client.next_deadline()

    def apdus_to_send(self) -> list[bytes]:
        return self.client.apdus_to_send()

    def _events(self, events: list[ClientEvent], now: float) -> None:
        for event in events:
            if isinstance(event, Associated):
                pass
            elif isinstance(event, AssociationRefused):
                self._fail_all(event.reason)
                self._restart_client()
            elif isinstance(event, RequestTimedOut):
                self._fail_all("no answer")
                self._restart_client()
            elif isinstance(event, ExceptionReceived):
                # The meter no longer knows the association (it restarted): once more.
                self._restart_client()
                if self._current is not None:
                    self.reads.insert(0, self._current)
                    self._current = None
                self._reassociations += 1
                if self._reassociations > _REASSOCIATIONS:
                    self._fail_all("exception-response after re-association")
            elif isinstance(event, ActionResult) and self._current is not None:
                read, self._current = self._current, None
                if event.result == ActionResultCode.SUCCESS and self._new_keys is not None:
                    # the client took the new keys itself; later associations use them too
                    self.results.append(SessionResult(read, Outcome.ROWS))
                    self._keys, self._new_keys = self._new_keys, None
                else:
                    self.results.append(
                        SessionResult(read, Outcome.FAILED, reason=f"action-result {event.result}")
                    )
            elif isinstance(event, GetResult) and self._current is not None:
                read, self._current = self._current, None
                if isinstance(event.result, Data):
                    self.results.append(SessionResult(read, Outcome.ROWS, event.result))
                else:
                    self.results.append(
                        SessionResult(
                            read, Outcome.FAILED, reason=f"data-access-result {event.result}"
                        )
                    )
        self._advance(now)

    def take_results(self) -> list[SessionResult]:
        out, self.results = self.results, []
        return out
