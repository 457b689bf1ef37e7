"""The contract between the B-route machine (:mod:`.`) and its codec drivers.

A driver (:mod:`.skstack`, :mod:`.j11`) lists, per state, the
:class:`Step` plan the machine runs, builds each step's command bytes, and
turns the dongle's messages into :class:`Input` values. Nothing here knows a
wire format or holds state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from ipaddress import IPv6Address
from typing import Final, Protocol

__all__ = [
    "MAX_PAYLOAD",
    "BRouteState",
    "Driver",
    "In",
    "Input",
    "JoinFailure",
    "LinkContext",
    "PanInfo",
    "Step",
    "canonical_ipv6",
]

#: Largest payload of one send: SKSENDTO takes 0x4D0 bytes (BP35A1 reference 3.7 via
#: smdn), J11 Transmit Data 1232 (broute-j11, Tosainu bp35c0-j11).
MAX_PAYLOAD: Final = 1232
_MAC_SIZE: Final = 8


class BRouteState(Enum):
    """Where the link is; READY is the only state that sends."""

    IDLE = "idle"
    RESETTING = "resetting"
    CONFIGURING = "configuring"
    SCANNING = "scanning"
    JOINING = "joining"
    READY = "ready"
    REAUTHENTICATING = "reauthenticating"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class PanInfo:
    """One PAN an active scan heard: channel, PAN ID, coordinator MAC, signal."""

    channel: int
    pan_id: int
    mac: bytes
    rssi_dbm: float
    lqi: int | None = None

    def __post_init__(self) -> None:
        if len(self.mac) != _MAC_SIZE or not 0 <= self.pan_id <= 0xFFFF:
            raise ValueError("PanInfo needs an 8-byte MAC and a 16-bit PAN ID")

    @property
    def quality(self) -> float:
        """The ranking key: LQI where the dongle gives one (SKSTACK), else RSSI (J11)."""
        return float(self.lqi) if self.lqi is not None else self.rssi_dbm


class Step(Enum):
    """A command the machine asks its driver for; each driver's plans list them per state."""

    RESET = "reset"
    READ_OPTIONS = "read options"
    INITIALISE = "initial settings"
    SET_PASSWORD = "set password"  # noqa: S105 (a step name)
    SET_ID = "set B-route ID"
    SET_CREDENTIALS = "set credentials"
    SCAN = "active scan"
    SET_CHANNEL = "set channel"
    SET_PAN_ID = "set PAN ID"
    RESOLVE_ADDRESS = "resolve address"
    START_ROUTE_B = "start Route-B"
    OPEN_PORT = "open UDP port"
    JOIN = "join"
    SEND = "send"
    TERMINATE = "terminate"


@dataclass(slots=True)
class LinkContext:
    """What a driver needs to build a step's command and time it."""

    command_timeout: float
    join_timeout: float
    duration: int = 0
    pan: PanInfo | None = None
    meter_ipv6: str | None = None
    payload: bytes = field(default=b"", repr=False)
    dest: str = ""


class JoinFailure(Enum):
    """Why PANA failed, as far as the dongle tells."""

    REJECTED = "rejected"  # the meter answered PANA and refused: the credentials
    UNANSWERED = "unanswered"  # the meter was not heard: radio, worth another try


class In(Enum):
    """Kinds of :class:`Input`: from the caller, the timers, the driver, or an action."""

    # caller
    START = "start"
    SEND = "send"
    CLOSE = "close"
    PORT_LOST = "port lost"  # the serial port went away (dongle unplugged)
    # timers
    COMMAND_TIMEOUT = "command timeout"
    JOIN_TIMEOUT = "join timeout"
    SILENCE_TIMEOUT = "silence timeout"
    # driver: the command in flight
    COMMAND_DONE = "command done"  # may teach meter_ipv6 and pan
    COMMAND_FAILED = "command failed"  # reason, retryable
    # driver: the dongle's own news
    PAN_FOUND = "PAN found"  # pan
    JOIN_SUCCEEDED = "PANA succeeded"  # meter_ipv6
    JOIN_FAILED = "PANA failed"  # failure, reason
    SESSION_EXPIRED = "session expired"
    SESSION_ENDED = "session ended"
    LINK_LOST = "link lost"  # dongle restarted, MAC link down
    DATAGRAM = "datagram"  # payload, source, multicast
    SEND_DONE = "transmit report"  # ok
    STRAY = "stray message"  # a known message that answers nothing in flight
    NOISE = "notice"  # needs no reaction in any state
    GARBLED = "garbled output"
    UNKNOWN = "unknown output"
    # follow-ups an action hands back to the table
    STEPS_DONE = "plan done"
    PAN_CHOSEN = "PAN chosen"
    SCAN_AGAIN = "scan again"
    SCAN_EXHAUSTED = "scans exhausted"
    RETRY_JOIN = "retry join"
    JOIN_REJECTED = "credentials refused"
    STEP_ABANDONED = "step abandoned"
    GIVE_UP = "give up"


@dataclass(frozen=True, slots=True)
class Input:
    """One input of the machine; which fields matter depends on ``kind`` (see :class:`In`)."""

    kind: In
    reason: str = ""
    retryable: bool = False
    ok: bool = False
    payload: bytes = field(default=b"", repr=False)
    address: str = ""  # DATAGRAM: its source; SEND: its destination (RFC 5952 text)
    multicast: bool = False
    meter_ipv6: str | None = None
    pan: PanInfo | None = None
    failure: JoinFailure = JoinFailure.UNANSWERED

    def describe(self) -> str:
        return f"{self.kind.value}: {self.reason}" if self.reason else self.kind.value


class Driver(Protocol):
    """One codec family: plans as data, steps to bytes, dongle bytes to inputs."""

    def plan(self, state: BRouteState) -> tuple[Step, ...]: ...

    def encode(self, step: Step, link: LinkContext) -> bytes: ...

    def timeout(self, step: Step, link: LinkContext) -> float: ...

    def feed(self, data: bytes) -> None: ...

    def next_inputs(self, in_flight: Step | None) -> tuple[Input, ...] | None:
        """Inputs for the next buffered message (maybe none); None once all are used."""
        ...


def canonical_ipv6(address: str | IPv6Address) -> str:
    """RFC 5952 text of an address: the form events carry."""
    return str(IPv6Address(address))
