"""Simulated Wi-SUN B-route dongles (sans-IO): the shared core and the fault plan.

A :class:`DongleEmulator` sits between a host (bytes of the serial line) and a
simulated meter (an ECHONET Lite :class:`~smartmeter_proto.echonet.node.Node`
reached over a simulated radio link). It never does I/O: feed it host bytes
with ``receive_data``, take its output with ``data_to_send``, and fire its
timers when ``next_deadline`` says. The SKSTACK IP family is
:mod:`.skstack`, ROHM J11 :mod:`.j11`, the factory by model name :mod:`.factory`; the
pty adapter is :mod:`smartmeter_proto.transport.pty_server`. Timing figures that no source
gives are named constants marked *synthetic*.
"""

from __future__ import annotations

import heapq
import hmac
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from ...echonet.events import MULTICAST
from ...echonet.frame import ECHONET_PORT
from ...echonet.node import Node
from ...wisun.broute.auth import MeterCredentials
from ...wisun.j11 import MAX_CHANNEL, MIN_CHANNEL, link_local_from_mac
from ...wisun.skstack import format_ipv6
from ..meter import SimulatedMeter, meter_node
from ..radio import CaptureSink, RadioLink
from .pana import PanaDriver

__all__ = [
    "SESSION_LIFETIME_S",
    "DongleEmulator",
    "Fault",
    "FaultPlan",
    "Masked",
    "RadioIdentity",
]

_Rng = random.Random  # seeded simulation randomness (addresses, noise), never for secrets


#: Meter answers reach the dongle this long after the request left it (synthetic).
RADIO_LATENCY_S: Final = 0.15
#: One-way time of a PANA message over the radio (synthetic).
PANA_LATENCY_S: Final = 0.1
#: Session-Lifetime the meter grants: 0x00015180 s = 24 h in the [WSUHA] capture.
SESSION_LIFETIME_S: Final = 86400
#: A B-route ID is 32 characters; the password 1..32 for SKSETPWD (12 in practice).
_RBID_LEN: Final = 32
_PWD_MAX: Final = 32
#: Meter MACs seen in public B-route captures start 00 1C 64 00 (for example
#: "001C6400601421A3" and "001C640003DD6393" in ERXUDP lines of hobby projects).
_METER_MAC_PREFIX: Final = bytes.fromhex("001C6400")
#: A meter's PAN ID is the last two bytes of its MAC in every capture we read: "Pan ID:6393"
#: for 001C640003DD6393 (RL7023 Stick-D/IPS test lines), "Pan ID:B5FB" for the meter at
#: FE80::C2F9:4500:4058:B5FB (RS-WSUHA-P session, Qiita NervesJP Advent Calendar 2023).
_PAN_ID_FROM_MAC: Final = slice(6, 8)
#: Link quality: LQI range drawn for the simulated link, and the LQI -> dBm rule
#: 0.275 * LQI - 104.27 (BP35A1 reference, also used by momonga).
_LQI_RANGE: Final = (0x90, 0xE0)
_MAX_STEPS: Final = 100_000


class Fault(StrEnum):
    """What :meth:`DongleEmulator.inject` can do to the link."""

    SESSION_EXPIRY = "session_expiry"  # session lifetime ends; automatic re-authentication
    JOIN_FAILURE = "join_failure"  # the next join fails even with the right credentials
    DROP_LINE = "drop_line"  # the next line/frame to the host is lost (match= to pick one)
    GARBLE_LINE = "garble_line"  # the next line/frame has a byte corrupted (mode="truncate")
    SILENT_METER = "silent_meter"  # nothing comes from the meter for seconds=
    FAIL_ER10 = "fail_er10"  # the next command fails (SKSTACK FAIL ER10, J11 result=)
    DISCONNECT = "disconnect"  # the serial link goes quiet for good


@dataclass(frozen=True, slots=True)
class RadioIdentity:
    """The simulated meter as the radio sees it: MAC, PAN ID, J11 channel (4..17), LQI."""

    meter_mac: bytes
    pan_id: int
    j11_channel: int
    lqi: int

    def __post_init__(self) -> None:
        if len(self.meter_mac) != 8 or not 0 <= self.pan_id <= 0xFFFF:
            raise ValueError("meter_mac is 8 bytes and pan_id 16 bits")
        if not MIN_CHANNEL <= self.j11_channel <= MAX_CHANNEL or not 0 <= self.lqi <= 0xFF:
            raise ValueError(f"j11_channel is {MIN_CHANNEL}..{MAX_CHANNEL} and lqi one byte")

    @classmethod
    def draw(cls, rng: random.Random) -> RadioIdentity:
        mac = _METER_MAC_PREFIX + rng.randbytes(8 - len(_METER_MAC_PREFIX))
        return cls(
            meter_mac=mac,
            pan_id=int.from_bytes(mac[_PAN_ID_FROM_MAC], "big"),
            j11_channel=rng.randint(MIN_CHANNEL, MAX_CHANNEL),
            lqi=rng.randint(*_LQI_RANGE),
        )

    @property
    def rssi_dbm(self) -> int:
        return round(0.275 * self.lqi - 104.27)


class _Credentials:
    """The meter's B-route ID and password; never shown."""

    __slots__ = ("_password", "_rbid")

    def __init__(self, rbid: str, password: str) -> None:
        for what, value, sizes in (
            ("B-route ID", rbid, (_RBID_LEN, _RBID_LEN)),
            ("password", password, (1, _PWD_MAX)),
        ):
            if not isinstance(value, str) or not sizes[0] <= len(value) <= sizes[1]:
                size = str(sizes[0]) if sizes[0] == sizes[1] else f"{sizes[0]}..{sizes[1]}"
                raise ValueError(f"the {what} must be {size} characters")
            if not value.isascii() or not value.isprintable() or " " in value:
                raise ValueError(f"the {what} must be printable ASCII without spaces")
        self._rbid = rbid
        self._password = password

    @property
    def pairing_id(self) -> str:
        """The last 8 characters of the ID: public, the meter beacons it (EPANDESC PairID)."""
        return self._rbid[-8:]

    def match(self, rbid: str | None, password: str | None) -> bool:
        if rbid is None or password is None:
            return False
        ok_id = hmac.compare_digest(rbid.encode("latin-1"), self._rbid.encode("latin-1"))
        ok_pw = hmac.compare_digest(password.encode("latin-1"), self._password.encode("latin-1"))
        return ok_id and ok_pw

    def __repr__(self) -> str:
        return "_Credentials(****)"


class Masked(str):
    """A credential the host gave the dongle: compares as its text, shows as ``****``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'****'"

    __str__ = __repr__


Matcher = Callable[[bytes], bool]


def _any_unit(_unit: bytes) -> bool:
    return True


class FaultPlan:
    """Pending faults: one-shot output faults, command failures, join failures, silence."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._output: list[tuple[Fault, Matcher, str]] = []
        self.fail_next: list[int | None] = []
        self.join_failures = 0
        self.silent_until = float("-inf")

    def add_output_fault(self, fault: Fault, matcher: Matcher, mode: str = "corrupt") -> None:
        if mode not in ("corrupt", "truncate"):
            raise ValueError("garble_line mode is 'corrupt' or 'truncate'")
        self._output.append((fault, matcher, mode))

    def apply(self, unit: bytes, body_end: int) -> bytes | None:
        """``unit`` after the first pending output fault that matches it (None: dropped)."""
        for i, (fault, matcher, mode) in enumerate(self._output):
            if matcher(unit):
                del self._output[i]
                if fault is Fault.DROP_LINE:
                    return None
                return self._garble(unit, body_end, mode)
        return unit

    def _garble(self, unit: bytes, body_end: int, mode: str) -> bytes:
        end = max(1, min(body_end, len(unit)))
        if mode == "truncate":
            return unit[: max(1, end // 2)]
        at = self._rng.randrange(end)
        # Flip the top bit: the byte stops being ASCII, so no parser can take it as valid.
        return unit[:at] + bytes((unit[at] ^ 0x80,)) + unit[at + 1 :]

    def take_failure(self) -> tuple[bool, int | None]:
        """Whether the next command must fail, and the result code asked for (J11)."""
        if self.fail_next:
            return True, self.fail_next.pop(0)
        return False, None

    def take_join_failure(self) -> bool:
        if self.join_failures:
            self.join_failures -= 1
            return True
        return False


class _Timer:
    __slots__ = ("alive", "callback", "seq", "tag", "when")

    def __init__(self, when: float, seq: int, callback: Callable[[float], None], tag: str) -> None:
        self.when = when
        self.seq = seq
        self.callback = callback
        self.tag = tag
        self.alive = True

    def __lt__(self, other: _Timer) -> bool:
        return (self.when, self.seq) < (other.when, other.seq)


class DongleEmulator(ABC):
    """A B-route dongle with a simulated meter behind it (sans-IO).

    ``meter_mac``, ``meter_ipv6`` (SKSTACK form), ``channel`` (the model's own
    numbering) and ``pan_id`` are the meter's radio identity; ``mac`` and
    ``ipv6`` the dongle's own. Credentials are compared, never shown.
    """

    model: str

    def __init__(
        self,
        model: str,
        *,
        rbid: str,
        password: str,
        node: Node | None,
        now: float,
        seed: int,
        radio: RadioIdentity | None = None,
        capture: CaptureSink | None = None,
    ) -> None:
        self.model = model
        self._rng = _Rng(seed)
        self._credentials = _Credentials(rbid, password)
        self.radio = radio or RadioIdentity.draw(self._rng)
        self.meter_mac = self.radio.meter_mac
        self.meter_ipv6 = format_ipv6(link_local_from_mac(self.meter_mac))
        self.pan_id = self.radio.pan_id
        self.mac = self._own_mac(self._rng)
        self.ipv6 = format_ipv6(link_local_from_mac(self.mac))
        self.node = node if node is not None else meter_node(SimulatedMeter(), now=now)
        self.faults = FaultPlan(self._rng)
        self._now = now
        self._timers: list[_Timer] = []
        self._seq = 0
        self._out = bytearray()
        self._disconnected = False
        self._node_stuck_at: float | None = None
        self.radio_link = RadioLink(
            dongle_mac=self.mac, meter_mac=self.meter_mac, pan_id=self.pan_id, capture=capture
        )
        self.pana = PanaDriver(
            radio=self.radio_link,
            meter=MeterCredentials(rbid, password),
            listener=self,
            schedule=self._at,
            cancel=self._cancel,
            silent=self.meter_silent,
            latency=PANA_LATENCY_S,
            lifetime=SESSION_LIFETIME_S,
            rng=self._rng,
        )

    # ------------------------------------------------------------------ public API
    @property
    @abstractmethod
    def channel(self) -> int:
        """The meter's channel in this model's numbering."""

    @property
    @abstractmethod
    def session_established(self) -> bool:
        """Whether a PANA session with the meter is up."""

    @property
    def disconnected(self) -> bool:
        """The serial link went quiet (fault ``disconnect``): the adapter should close."""
        return self._disconnected

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes from the host (the serial line), in any chunking."""
        self._advance(now)
        if not self._disconnected and data:
            self._on_host_bytes(bytes(data), now)

    def data_to_send(self) -> bytes:
        """Bytes for the host; the queue is emptied."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must run next (timers and the meter's own schedule)."""
        if self._disconnected:
            return None
        self._drop_dead_timers()
        candidates = [self._timers[0].when] if self._timers else []
        node_deadline = self._node_deadline()
        if node_deadline is not None:
            candidates.append(node_deadline)
        return min(candidates, default=None)

    def handle_timeout(self, now: float) -> None:
        """Run everything due at ``now``."""
        self._advance(now)

    def inject(self, fault: str, **params: Any) -> None:
        """Apply a fault (see :class:`Fault`); it acts from the last ``now`` seen.

        ``drop_line``/``garble_line`` take ``match`` (SKSTACK: a line prefix such
        as ``"ERXUDP"``; J11: a command code) and ``garble_line`` ``mode``
        (``"corrupt"``, default, or ``"truncate"``); ``silent_meter`` takes
        ``seconds``; ``fail_er10`` takes ``result`` (J11 result code).
        """
        kind = Fault(fault)
        allowed = _FAULT_PARAMS[kind]
        if not set(params) <= allowed:
            raise TypeError(f"{kind.value} takes {sorted(allowed) or 'no parameters'}")
        if kind in (Fault.DROP_LINE, Fault.GARBLE_LINE):
            matcher = self._matcher(params["match"]) if "match" in params else _any_unit
            self.faults.add_output_fault(kind, matcher, str(params.get("mode", "corrupt")))
        elif kind is Fault.SILENT_METER:
            seconds = float(params.get("seconds", 60.0))
            if seconds < 0:
                raise ValueError("silent_meter seconds must not be negative")
            self.faults.silent_until = max(self.faults.silent_until, self._now + seconds)
        elif kind is Fault.FAIL_ER10:
            result = params.get("result")
            self.faults.fail_next.append(None if result is None else int(result))
        elif kind is Fault.JOIN_FAILURE:
            self.faults.join_failures += 1
        elif kind is Fault.SESSION_EXPIRY:
            self._at(self._now, self._on_session_expiry, "expiry")
        else:
            self._disconnected = True
            self._timers.clear()
            self._out.clear()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model={self.model!r}, meter={self.meter_ipv6}, "
            f"channel={self.channel}, pan_id=0x{self.pan_id:04X})"
        )

    # ------------------------------------------------------------------ for subclasses
    @abstractmethod
    def _own_mac(self, rng: random.Random) -> bytes:
        """The dongle's own MAC address."""

    @abstractmethod
    def _on_host_bytes(self, data: bytes, now: float) -> None:
        """Parse host bytes and act on them."""

    @abstractmethod
    def _from_meter(self, payload: bytes, multicast: bool, now: float) -> None:
        """An ECHONET Lite datagram from the meter arrives: print it to the host."""

    @abstractmethod
    def _on_session_expiry(self, now: float) -> None:
        """The PANA session lifetime ran out (fault ``session_expiry``)."""

    # PanaListener: what the host sees of the PANA exchange (model-specific)
    def pana_sent(self, now: float, *, retransmission: bool) -> None:  # noqa: B027 (optional hook)
        """The dongle put a PANA message on air."""

    def pana_received(self, message: bytes, now: float) -> None:  # noqa: B027 (optional hook)
        """A PANA message from the meter arrived."""

    @abstractmethod
    def pana_established(self, now: float, *, fresh: bool) -> None:
        """Authentication (first or re-) succeeded."""

    @abstractmethod
    def pana_failed(self, reason: str, now: float) -> None:
        """Authentication failed, or the meter never answered."""

    @abstractmethod
    def pana_reauthenticating(self, now: float) -> None:
        """The session's key is being renewed (lifetime or a peer asked)."""

    def pana_terminated(self, now: float, *, answered: bool) -> None:  # noqa: B027 (optional hook)
        """The session ended (``answered``: the meter confirmed it)."""

    def _matcher(self, match: Any) -> Matcher:
        """A predicate on output units for ``drop_line``/``garble_line`` ``match=``."""
        return _any_unit

    def _body_end(self, unit: bytes) -> int:
        """Bytes of ``unit`` that a garble may touch (a line without its CRLF)."""
        return len(unit)

    def _accepts_meter_data(self) -> bool:
        """Whether datagrams from the meter reach the host now."""
        return self.session_established

    def _emit(self, unit: bytes) -> None:
        """Queue one line/frame for the host, through the output faults."""
        if self._disconnected:
            return
        faulted = self.faults.apply(unit, self._body_end(unit))
        if faulted is not None:
            self._out += faulted

    def _at(self, when: float, callback: Callable[[float], None], tag: str = "") -> None:
        self._seq += 1
        heapq.heappush(self._timers, _Timer(when, self._seq, callback, tag))

    def _cancel(self, *tags: str) -> None:
        for timer in self._timers:
            if timer.tag in tags:
                timer.alive = False

    def _pending(self, tag: str) -> bool:
        return any(t.alive and t.tag == tag for t in self._timers)

    def meter_silent(self, now: float) -> bool:
        """Whether the meter is silenced (fault ``silent_meter``) at ``now``."""
        return now < self.faults.silent_until

    def _to_meter(self, payload: bytes, now: float, *, multicast: bool = False) -> None:
        """An ECHONET Lite datagram goes on air; the meter's answers come back later."""
        frames = self.radio_link.transmit(
            payload, now, from_meter=False, port=ECHONET_PORT, multicast=multicast
        )
        if self.meter_silent(now):
            return
        datagram = self.radio_link.receive(frames, now, at_meter=True)
        if datagram is None:
            return
        self.node.receive_data(datagram.payload, self.ipv6, now)
        self._collect_node(now, RADIO_LATENCY_S)

    def _collect_node(self, now: float, latency: float = 0.0) -> None:
        for data, dest in self.node.datagrams_to_send():
            self._at(now + latency, self._arrival(data, dest is MULTICAST), "meter")

    def _arrival(self, payload: bytes, multicast: bool) -> Callable[[float], None]:
        def arrive(now: float) -> None:
            if self.meter_silent(now):
                return
            frames = self.radio_link.transmit(
                payload, now, from_meter=True, port=ECHONET_PORT, multicast=multicast
            )
            if not self._accepts_meter_data():
                return
            datagram = self.radio_link.receive(frames, now, at_meter=False)
            if datagram is not None:
                self._from_meter(datagram.payload, multicast, now)

        return arrive

    # ------------------------------------------------------------------ event loop
    def _drop_dead_timers(self) -> None:
        while self._timers and not self._timers[0].alive:
            heapq.heappop(self._timers)

    def _node_deadline(self) -> float | None:
        deadline = self.node.next_deadline()
        stuck = self._node_stuck_at
        if deadline is not None and stuck is not None and deadline <= stuck:
            return None
        return deadline

    def _advance(self, now: float) -> None:
        self._now = max(self._now, now)
        for _ in range(_MAX_STEPS):
            if self._disconnected:
                return
            self._drop_dead_timers()
            timer_at = self._timers[0].when if self._timers else None
            node_at = self._node_deadline()
            timer_first = timer_at is not None and (node_at is None or timer_at <= node_at)
            if timer_at is not None and timer_at <= now and timer_first:
                timer = heapq.heappop(self._timers)
                timer.callback(timer.when)
            elif node_at is not None and node_at <= now:
                self.node.handle_timeout(node_at)
                self._collect_node(node_at)
                after = self.node.next_deadline()
                if after is not None and after <= node_at:
                    self._node_stuck_at = node_at  # a node that does not move on: skip it
            else:
                return


_FAULT_PARAMS: Final[dict[Fault, frozenset[str]]] = {
    Fault.SESSION_EXPIRY: frozenset(),
    Fault.JOIN_FAILURE: frozenset(),
    Fault.DROP_LINE: frozenset({"match"}),
    Fault.GARBLE_LINE: frozenset({"match", "mode"}),
    Fault.SILENT_METER: frozenset({"seconds"}),
    Fault.FAIL_ER10: frozenset({"result"}),
    Fault.DISCONNECT: frozenset(),
}
