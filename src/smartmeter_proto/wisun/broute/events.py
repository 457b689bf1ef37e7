"""The events :class:`~smartmeter_proto.wisun.broute.BRoute` hands back, and its counters.

Frozen records of what the B-route link did (state changes, scan rounds, the
join, ECHONET Lite datagrams, send outcomes, failures); :class:`BRouteStats`
counts what it dropped, retried and recovered from. None carries the B-route
ID or password.
"""

from __future__ import annotations

from dataclasses import dataclass

from .driver import BRouteState, PanInfo

__all__ = [
    "AuthFailed",
    "BRouteEvent",
    "BRouteStats",
    "DroppedInput",
    "EchonetReceived",
    "Joined",
    "LinkError",
    "Reauthenticated",
    "ScanFinished",
    "SendConfirmed",
    "StateChanged",
]


# --------------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class StateChanged:
    old: BRouteState
    new: BRouteState


@dataclass(frozen=True, slots=True)
class ScanFinished:
    """One scan round ended; ``found`` is empty when nothing answered at ``duration``."""

    found: tuple[PanInfo, ...]
    duration: int


@dataclass(frozen=True, slots=True)
class Joined:
    """PANA succeeded: the meter's link-local address (RFC 5952 text), MAC, channel, PAN."""

    meter_ipv6: str
    meter_mac: bytes
    channel: int
    pan_id: int


@dataclass(frozen=True, slots=True)
class EchonetReceived:
    """A datagram to UDP 3610; ``source`` in RFC 5952 text."""

    payload: bytes
    source: str
    multicast: bool


@dataclass(frozen=True, slots=True)
class SendConfirmed:
    """The outcome of one :meth:`BRoute.send_echonet`, in call order."""

    ok: bool


@dataclass(frozen=True, slots=True)
class AuthFailed:
    """The meter refused the credentials (the reason never contains them)."""

    reason: str


@dataclass(frozen=True, slots=True)
class LinkError:
    """The link gave up: retries, scans or recoveries ran out, or an illegal move."""

    reason: str


@dataclass(frozen=True, slots=True)
class Reauthenticated:
    """The PANA session was renewed; sends queued meanwhile go out now."""


@dataclass(frozen=True, slots=True)
class DroppedInput:
    """Something the dongle said that does not apply in the current state."""

    reason: str


BRouteEvent = (
    StateChanged | ScanFinished | Joined | EchonetReceived | SendConfirmed | AuthFailed
    | LinkError | Reauthenticated | DroppedInput
)  # fmt: skip


@dataclass(slots=True)
class BRouteStats:
    """Counters for diagnostics."""

    garbled: int = 0  # malformed dongle output
    unknown: int = 0  # lines or frames the codec does not know
    dropped: int = 0  # inputs that did not apply (DroppedInput, or anything once inert)
    ignored: int = 0  # harmless notices: neighbour discovery, PANA traffic, TX limit
    retries: int = 0  # commands sent again after a timeout or a retryable failure
    join_retries: int = 0
    reauths: int = 0
    rejoins: int = 0  # joins re-run after the session ended
    recoveries: int = 0  # runs from the reset after a dongle reset or a lost link
