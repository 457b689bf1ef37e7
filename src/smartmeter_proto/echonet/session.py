"""Sans-IO ECHONET Lite client (controller side).

Bytes and time go in, events and datagrams come out; nothing here sleeps,
reads a clock or touches a socket. The caller drives it:

* ``get()/set()/set_get()/inf_req()`` queue a request and return its id;
* ``datagrams_to_send()`` hands over ``(bytes, address)`` pairs to transmit;
* ``receive_data(data, source, now)`` returns :mod:`events` for what arrived;
* ``next_deadline()`` / ``handle_timeout(now)`` run the retry timers.

Rules applied (ECHONET Lite Specification Part II): an answer matches a request
by TID, by its SEOJ being the object we addressed (instance 0 addresses
every instance, §3.2.4) and by coming from the host the request went to
(§3.1.2: a response goes back to the requester, so only the node asked can
answer; any node may answer a multicast request); an SNA answer carries the refused properties with
PDC 0 (§3.2.5); an INFC is answered with INFC_Res echoing the EPCs with PDC 0
(§4.2.2). Requests whose answers may exceed ``max_response_size`` or that
name more than ``max_properties`` EPCs are split into several frames.

Real gateways and relays (a Wi-SUN B-route dongle, a LAN adapter in front of
several appliances) serve one request at a time and drop large multi-property
Gets, so the session paces and adapts per node (keyed by host):

* at most ``max_in_flight`` unicast requests wait for an answer per node (1 by
  default; 0 lifts the bound); later frames queue in order and leave as answers
  come back;
* a Get (or INF_REQ) of several properties that the node answers with no
  property served (SNA, PDC 0 everywhere), with fewer properties than asked, or
  not at all, while larger than any batch the node served before, is asked
  again in smaller batches: the first failure halves, then the size is searched
  between the largest batch the node served and the smallest it failed, and
  remembered per node (:meth:`Session.batch_limit`). No property is lost: the
  failed frame's EPCs are asked again ahead of the node's queue. A mixed SNA
  (some served, some refused) has its refused EPCs asked once more on their own.

Response waits: a few seconds on a LAN (:data:`LAN_RESPONSE_WAIT_S`); the B-route
transports use :data:`BROUTE_RESPONSE_WAIT_S` (low-voltage smart meter AIF
specification ver. 1.10 §2.4.2: a controller waits at least 20 s for an answer).

With ``learn_nodes=True`` the session keeps :attr:`Session.known_nodes`: a node
that announces itself with its instance list 0xD5 (Part II §4.3.1, at start)
is learnt from it, and a node whose first INF carries anything else is asked
for its list 0xD6 by a Get; either way a :class:`NodeDiscovered` event follows.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ..errors import DecodeError, EncodeError, SessionError
from . import frame as _frame
from .events import (
    MULTICAST,
    Address,
    DiscoveredNode,
    Event,
    FrameDropped,
    NodeDiscovered,
    Notification,
    RequestDone,
    RequestFailed,
    Response,
)
from .frame import EOJ, ESV, Frame, Property
from .node import INSTANCE_LIST_NOTIFICATION, NODE_PROFILE, SELF_NODE_INSTANCE_LIST
from .properties import (
    PropertyValue,
    decode_frame_properties,
    encode_property,
    lookup,
    property_epc,
)
from .specs import STANDARD_VERSION, release_of
from .typed import decode_typed

if TYPE_CHECKING:
    from .node import Node

__all__ = [
    "BROUTE_RESPONSE_WAIT_S",
    "CONTROLLER",
    "LAN_RESPONSE_WAIT_S",
    "PropertyValues",
    "Session",
    "resolve_epc",
    "resolve_epcs",
    "same_host",
]

#: Answer wait on a LAN (UDP 3610 on Ethernet/Wi-Fi): a few seconds.
LAN_RESPONSE_WAIT_S: Final = 5.0
#: Answer wait over the B-route (Wi-SUN or G3-PLC): at least 20 s (low-voltage smart
#: meter AIF specification ver. 1.10 §2.4.2).
BROUTE_RESPONSE_WAIT_S: Final = 20.0

#: Controller class 0x05FF, instance 1 (APPENDIX §3.6.2): the default source object.
CONTROLLER: Final = EOJ(0x05, 0xFF, 0x01)
#: Answers we wait for, by request service; SNA codes are 0x10 below each answer.
_ANSWERS: Final[dict[ESV, frozenset[int]]] = {
    ESV.GET: frozenset({ESV.GET_RES, ESV.GET_SNA}),
    ESV.SETC: frozenset({ESV.SET_RES, ESV.SETC_SNA}),
    ESV.SETI: frozenset({ESV.SETI_SNA}),
    ESV.INF_REQ: frozenset({ESV.INF, ESV.INF_SNA}),
    ESV.SETGET: frozenset({ESV.SETGET_RES, ESV.SETGET_SNA}),
}
#: Frame overhead counted when splitting a Get: header 12 bytes, then EPC+PDC per property.
_HEADER: Final = 12
_PER_PROPERTY: Final = 2
_UNKNOWN_EDT_SIZE: Final = 255
#: Node profile class (§6.11.1).
_NODE_PROFILE_CLASS: Final = 0x0EF0
#: Nodes learnt from notifications are kept up to this many (a bound against INF floods).
_MAX_KNOWN_NODES: Final = 1024
#: Device objects whose 0x82 release is remembered, at most (a bound against floods).
_MAX_RELEASES: Final = 4 * _MAX_KNOWN_NODES
#: Class group of profile objects: their 0x82 is a protocol version, not a release (§6.11.1).
_PROFILE_GROUP: Final = 0x0E
#: EHD2 of format-2 (arbitrary message) frames, which a node may handle (Part II §3.2.1.2).
_FORMAT_2: Final = bytes((_frame.EHD2_ARBITRARY,))


@dataclass(slots=True)
class _Part:
    """One frame of a request: queued (``tid`` -1), then waiting for its answer."""

    request: _Request
    props: tuple[Property, ...]
    tid: int = -1
    payload: bytes = b""
    attempts: int = 0
    deadline: float = 0.0
    done: bool = False
    in_flight: bool = False

    @property
    def epcs(self) -> tuple[int, ...]:
        return tuple(p.epc for p in self.props)


@dataclass(slots=True)
class _BatchLimit:
    """What a node showed of its Get batch size: the largest served, the smallest failed."""

    served: int = 0
    failed: int | None = None

    def size(self, ceiling: int) -> int:
        """The batch to try next: the ceiling until a failure, then a bisection."""
        if self.failed is None:
            return ceiling
        high = min(ceiling, self.failed - 1)
        low = max(self.served, 1)
        return high if low >= high else (low + high + 1) // 2

    def ok(self, size: int) -> None:
        self.served = max(self.served, size)
        if self.failed is not None and self.failed <= size:
            self.failed = None

    def too_large(self, size: int) -> None:
        self.failed = size if self.failed is None else min(self.failed, size)
        self.served = min(self.served, size - 1)


@dataclass(slots=True)
class _Request:
    request_id: int
    esv: ESV
    dest: Address
    deoj: EOJ
    multicast: bool
    get_props: tuple[Property, ...] = ()
    parts: list[_Part] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    #: EPCs refused once in a mixed SNA and asked again on their own.
    second_chance: set[int] = field(default_factory=set)
    #: EPCs refused for good (an SNA that was not retried).
    refused: list[int] = field(default_factory=list)

    @property
    def key(self) -> Hashable | None:
        """The node the request is paced on; ``None`` for a multicast request."""
        return None if self.multicast else _host_of(self.dest)


def _host_of(address: Address) -> Hashable:
    """The host part of an address, normalised: ``FE80:0:..`` = ``fe80::..``, scope dropped."""
    host = address[0] if isinstance(address, tuple) and address else address
    if not isinstance(host, str):
        return host
    try:
        parsed = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower()
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


def same_host(answered: Address, asked: Address) -> bool:
    """Whether ``answered`` is the host ``asked``; ports may differ (a node answers from any).

    Part II §3.1.2 fixes the destination port (3610), not the source port, so
    only the host identifies the node a unicast request went to.
    """
    return answered == asked or _host_of(answered) == _host_of(asked)


def _is_group(dest: Address) -> bool:
    """A request to a multicast address literal is a multicast request too."""
    host = _host_of(dest)
    return isinstance(host, ipaddress.IPv4Address | ipaddress.IPv6Address) and host.is_multicast


def _same_object(answered: EOJ, asked: EOJ) -> bool:
    if answered.class_group != asked.class_group or answered.class_code != asked.class_code:
        return False
    return asked.instance in (0, answered.instance)


class Session:
    """An ECHONET Lite client: request tracking, retries, INF/INFC handling.

    ``timeout`` and ``retries`` govern unicast requests (a multicast request
    listens for ``timeout`` seconds and never retries). ``node``, when given,
    answers the requests other controllers send to us (our node profile).
    """

    def __init__(
        self,
        *,
        seoj: EOJ = CONTROLLER,
        timeout: float = 5.0,
        retries: int = 2,
        max_properties: int = 16,
        max_response_size: int = 1232,
        node: Node | None = None,
        first_tid: int = 1,
        learn_nodes: bool = False,
        same_peer: Callable[[Address, Address], bool] = same_host,
        max_in_flight: int = 1,
        adapt_batches: bool = True,
        max_queued: int = 256,
    ) -> None:
        if timeout <= 0 or retries < 0 or max_properties < 1 or max_in_flight < 0 or max_queued < 1:
            raise ValueError(
                "timeout must be > 0, retries >= 0, max_properties >= 1, max_in_flight >= 0, "
                "max_queued >= 1"
            )
        if max_response_size < _HEADER + _PER_PROPERTY + 1:
            raise ValueError(f"max_response_size must be at least {_HEADER + _PER_PROPERTY + 1}")
        self.seoj = seoj
        self.timeout = timeout
        self.retries = retries
        self.max_properties = max_properties
        self.max_response_size = max_response_size
        self.node = node
        #: Unicast frames waiting for an answer per node at most (0: no bound).
        self.max_in_flight = max_in_flight
        #: Shrink multi-property Gets a node fails, and remember the size per node.
        self.adapt_batches = adapt_batches
        #: Frames waiting their turn per node at most: memory stays bounded however fast a
        #: caller asks; past it a new request raises :class:`SessionError` (back-pressure).
        self.max_queued = max_queued
        self._limits: dict[Hashable, _BatchLimit] = {}
        self._queues: dict[Hashable, deque[_Part]] = {}
        self._in_flight: dict[Hashable, int] = {}
        #: Learn nodes from their INFs (see the module docstring).
        self.learn_nodes = learn_nodes
        #: ``same_peer(source, dest)``: may an answer from ``source`` answer a request to ``dest``?
        self.same_peer = same_peer
        #: Nodes known by host: from :meth:`remember`, or learnt from their notifications.
        self.known_nodes: dict[Hashable, DiscoveredNode] = {}
        self._learning: dict[int, Address] = {}
        #: APPENDIX release each device object reported in its 0x82 answers and announcements,
        #: by (host, EOJ): its properties decode with that release's definitions.
        self.releases: dict[tuple[Hashable, EOJ], str] = {}
        self._asked: set[Hashable] = set()
        self._next_tid = first_tid & 0xFFFF
        self._ids = itertools.count(1)
        self._by_tid: dict[int, _Part] = {}
        self._outgoing: list[tuple[bytes, Address]] = []
        #: Datagrams dropped: undecodable, or answers to no pending request.
        self.dropped = 0
        #: Of those, answers whose TID and SEOJ matched a request to another host (spoofs).
        self.foreign_answers = 0
        self.received = 0

    # ------------------------------------------------------------------ requests
    def get(self, dest: Address, deoj: EOJ, epcs: Iterable[int | str], now: float) -> int:
        """Queue a Get (0x62) of ``epcs`` from ``deoj`` at ``dest``; returns the request id.

        An EPC may be given by name (snake_case or MRA shortName, :func:`property_epc`).
        """
        wanted = tuple(dict.fromkeys(resolve_epcs(deoj.class_id, epcs)))
        if not wanted:
            raise ValueError("a Get needs at least one EPC")
        return self._start(ESV.GET, dest, deoj, wanted, now)

    def inf_req(self, dest: Address, deoj: EOJ, epcs: Iterable[int | str], now: float) -> int:
        """Queue an INF_REQ (0x63): the node answers with an INF of the properties."""
        wanted = tuple(dict.fromkeys(resolve_epcs(deoj.class_id, epcs)))
        if not wanted:
            raise ValueError("an INF_REQ needs at least one EPC")
        return self._start(ESV.INF_REQ, dest, deoj, wanted, now)

    def set(
        self,
        dest: Address,
        deoj: EOJ,
        values: PropertyValues,
        now: float,
        *,
        confirm: bool = True,
    ) -> int:
        """Queue a SetC (``confirm=True``) or SetI of ``values`` (typed values or raw EDT bytes).

        Keys are EPCs or property names (``{"operationStatus": True}``, ``{0x80: "on"}``).

        Typed values are encoded and checked against the class's type and range
        first: a value that breaks them raises :class:`EncodeError` and nothing
        is queued. Raw ``bytes`` go out as given (a tester's way to send any EDT).
        """
        props = self._encode(deoj, values)
        esv = ESV.SETC if confirm else ESV.SETI
        return self._start(esv, dest, deoj, (), now, set_props=props)

    def set_get(
        self,
        dest: Address,
        deoj: EOJ,
        values: PropertyValues,
        epcs: Iterable[int | str],
        now: float,
    ) -> int:
        """Queue a SetGet (0x6E): write ``values``, then read ``epcs``, in one frame."""
        props = self._encode(deoj, values)
        gets = tuple(Property(epc) for epc in dict.fromkeys(resolve_epcs(deoj.class_id, epcs)))
        return self._start(ESV.SETGET, dest, deoj, (), now, set_props=props, get_props=gets)

    def _encode(self, deoj: EOJ, values: PropertyValues) -> tuple[Property, ...]:
        if not values:
            raise ValueError("a Set needs at least one property")
        props = []
        for key, value in values.items():
            epc = resolve_epc(deoj.class_id, key)
            raw = isinstance(value, bytes)
            edt = value if raw else _checked_edt(deoj.class_id, epc, value)
            props.append(Property(epc, edt))
        return tuple(props)

    def batch_limit(self, dest: Address) -> int:
        """The Get batch size the session uses for the node at ``dest`` now."""
        limit = self._limits.get(_host_of(dest))
        return self.max_properties if limit is None else limit.size(self.max_properties)

    def _split_get(self, deoj: EOJ, epcs: Iterable[int], most: int) -> list[tuple[Property, ...]]:
        chunks: list[tuple[Property, ...]] = []
        current: list[Property] = []
        size = _HEADER
        for epc in epcs:
            spec = lookup(deoj.class_id, epc)
            expected = _PER_PROPERTY + (spec.data_type.max_size if spec else _UNKNOWN_EDT_SIZE)
            full = len(current) >= most or size + expected > self.max_response_size
            if current and full:
                chunks.append(tuple(current))
                current, size = [], _HEADER
            current.append(Property(epc))
            size += expected
        if current:
            chunks.append(tuple(current))
        return chunks

    def _allocate_tid(self) -> int:
        for _ in range(0x10000):
            tid = self._next_tid
            self._next_tid = (tid + 1) & 0xFFFF
            if tid not in self._by_tid:
                return tid
        raise RuntimeError("all 65536 TIDs are waiting for answers")

    def _start(
        self,
        esv: ESV,
        dest: Address,
        deoj: EOJ,
        epcs: tuple[int, ...],
        now: float,
        *,
        set_props: tuple[Property, ...] = (),
        get_props: tuple[Property, ...] = (),
    ) -> int:
        multicast = dest is MULTICAST or _is_group(dest)
        request = _Request(
            next(self._ids), esv, dest, deoj, multicast=multicast, get_props=get_props
        )
        if esv in _READS:
            most = self.max_properties if multicast else self.batch_limit(dest)
            chunks = self._split_get(deoj, epcs, most)
        else:
            chunks = [set_props]
        request.parts = [_Part(request, props) for props in chunks]
        if request.key is not None and self.max_in_flight:
            waiting = len(self._queues.get(request.key, ()))
            if waiting + len(request.parts) > self.max_queued:
                raise SessionError(
                    f"{waiting} frames already wait for {request.key!r} "
                    f"(max_queued={self.max_queued}): the node is not keeping up"
                )
            self._queues.setdefault(request.key, deque()).extend(request.parts)
            self._pump(request.key, now)
        else:
            for part in request.parts:
                self._transmit(part, now)
        return request.request_id

    def _free(self, key: Hashable) -> bool:
        return not self.max_in_flight or self._in_flight.get(key, 0) < self.max_in_flight

    def _pump(self, key: Hashable, now: float) -> None:
        """Send the node's queued frames while it has room for more outstanding requests."""
        queue = self._queues.get(key)
        while queue and self._free(key):
            part = queue.popleft()
            if not part.done:
                self._transmit(part, now)
        if not queue:
            self._queues.pop(key, None)

    def _transmit(self, part: _Part, now: float) -> None:
        if part.tid < 0:
            request = part.request
            part.tid = self._allocate_tid()
            part.payload = _frame.encode(
                Frame(part.tid, self.seoj, request.deoj, request.esv, part.props, request.get_props)
            )
            self._by_tid[part.tid] = part
            part.in_flight = True
            if request.key is not None:
                self._in_flight[request.key] = self._in_flight.get(request.key, 0) + 1
        part.attempts += 1
        part.deadline = now + self.timeout
        self._outgoing.append((part.payload, part.request.dest))

    def _release(self, part: _Part) -> Hashable | None:
        """Take ``part`` off the wire (answered, split or failed); returns its node to pump."""
        if self._by_tid.get(part.tid) is part:
            del self._by_tid[part.tid]
        if not part.in_flight:
            return None
        part.in_flight = False
        key = part.request.key
        if key is not None:
            left = self._in_flight.get(key, 0) - 1
            if left > 0:
                self._in_flight[key] = left
            else:
                self._in_flight.pop(key, None)
        return key

    # ------------------------------------------------------------------ I/O side
    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """Datagrams to transmit now, in order; the queue is emptied."""
        out, self._outgoing = self._outgoing, []
        if self.node is not None:
            out.extend(self.node.datagrams_to_send())
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must next be called, or ``None``."""
        deadlines = [p.deadline for p in self._by_tid.values()]
        if self.node is not None and (node_deadline := self.node.next_deadline()) is not None:
            deadlines.append(node_deadline)
        return min(deadlines, default=None)

    def handle_timeout(self, now: float) -> list[Event]:
        """Retry, shrink or fail the requests whose deadline has passed."""
        events: list[Event] = []
        for part in [p for p in self._by_tid.values() if p.deadline <= now]:
            if part.done:  # its request already failed through another part
                continue
            request = part.request
            if request.multicast or request.esv is ESV.SETI:
                # Listening window closed: multicast collects what came; SetI
                # is answered only when refused, so silence means accepted.
                self._finish_part(part, now, events)
            elif self._shrink(part, part.epcs, now):
                continue
            elif part.attempts <= self.retries:
                self._transmit(part, now)
            else:
                self._fail(
                    request,
                    f"no answer to TID {part.tid} (EPCs "
                    f"{', '.join(f'0x{e:02X}' for e in part.epcs)})",
                    part.attempts,
                    events,
                    now,
                )
        if self.node is not None:
            events.extend(self.node.handle_timeout(now))
        return self._learnt(events)

    def _shrink(self, part: _Part, again: Iterable[int], now: float) -> bool:
        """Ask ``again`` in smaller batches if ``part`` may have been too large for its node.

        A multi-property read larger than any batch the node served before is
        the suspect; the node's limit learns the failure and the EPCs go ahead
        of its queue. Returns whether it did so.
        """
        request = part.request
        size = len(part.props)
        key = request.key
        if not self.adapt_batches or key is None or request.esv not in _READS or size < 2:
            return False
        limit = self._limits.setdefault(key, _BatchLimit())
        if size <= limit.served:
            return False
        limit.too_large(size)
        self._requeue(part, again, min(limit.size(self.max_properties), size - 1), now)
        return True

    def _requeue(self, part: _Part, epcs: Iterable[int], most: int, now: float) -> None:
        """Replace ``part`` by new frames of ``epcs`` (``most`` each), first in the node's queue."""
        request = part.request
        part.done = True
        key = self._release(part)
        chunks = self._split_get(request.deoj, epcs, most)
        fresh = [_Part(request, props) for props in chunks]
        request.parts.extend(fresh)
        if key is not None and self.max_in_flight:
            queue = self._queues.setdefault(key, deque())
            queue.extendleft(reversed(fresh))
            self._pump(key, now)
        else:
            for new in fresh:
                self._transmit(new, now)

    def receive_data(self, data: bytes, source: Address, now: float) -> list[Event]:
        """The former name of :meth:`receive_datagram` (the library's endpoint contract)."""
        return self.receive_datagram(data, source, now)

    def receive_datagram(self, data: bytes, source: Address, now: float) -> list[Event]:
        """Feed one datagram from ``source``; returns the events it produced."""
        self.received += 1
        if data[1:2] == _FORMAT_2 and self.node is not None:
            # Format 2 is for the node's own handler (a relay); what it refuses counts here too.
            handled = self.node.receive_datagram(data, source, now)
            self.dropped += sum(isinstance(e, FrameDropped) for e in handled)
            return handled
        try:
            decoded = decode_typed(data).frame()
        except DecodeError as exc:
            self.dropped += 1
            return [FrameDropped(source, "undecodable frame", exc)]
        esv = decoded.esv
        events: list[Event] = []
        waiting = self._by_tid.get(decoded.tid)
        if esv is ESV.INFC or (
            # An INF answers only our INF_REQ; any other INF is a notification,
            # whatever its TID (meters count their own TIDs for announcements).
            esv is ESV.INF and (waiting is None or waiting.request.esv is not ESV.INF_REQ)
        ):
            self._notification(decoded, source, events)
            if self.learn_nodes:
                self._learn_from(decoded, source, now, events)
        elif isinstance(esv, ESV) and esv.is_request:
            if self.node is not None:
                events.extend(self.node.receive_frame(decoded, source, now))
            else:
                self.dropped += 1
                events.append(FrameDropped(source, f"request {esv.name} and no node to answer it"))
        else:
            self._answer(decoded, source, now, events)
        return self._learnt(events)

    def remember_release(self, address: Address, eoj: EOJ, release: str) -> None:
        """Decode ``eoj`` at ``address`` by APPENDIX Release ``release`` (``"A"``..``"Z"``)
        before its 0x82 is read (a 0x82 read later replaces it)."""
        if len(release) != 1 or release_of(b"\x00\x00" + release.encode() + b"\x00") is None:
            raise ValueError(f"release must be one letter A..Z, got {release!r}")
        self.releases[(_host_of(address), eoj)] = release

    def _typed(
        self, source: Address, seoj: EOJ, properties: Iterable[Property]
    ) -> tuple[PropertyValue, ...]:
        """Decode ``properties`` of ``seoj`` by the release it reported in 0x82 (in this
        frame or before; APPENDIX chapter 2 Table 2-1), else by the newest definitions."""
        properties = tuple(properties)
        key = (_host_of(source), seoj)
        if seoj.class_group != _PROFILE_GROUP:
            for prop in properties:
                release = release_of(prop.edt) if prop.epc == STANDARD_VERSION else None
                if release is not None and (
                    key in self.releases or len(self.releases) < _MAX_RELEASES
                ):
                    self.releases[key] = release
        values, _ = decode_frame_properties(seoj.class_id, properties, self.releases.get(key))
        return values

    def _notification(self, decoded: Frame, source: Address, events: list[Event]) -> None:
        values = self._typed(source, decoded.seoj, decoded.properties)
        confirmed = decoded.esv is ESV.INFC
        if confirmed:
            reply = Frame(
                decoded.tid,
                decoded.deoj,
                decoded.seoj,
                ESV.INFC_RES,
                tuple(Property(p.epc) for p in decoded.properties),
            )
            self._outgoing.append((_frame.encode(reply), source))
        events.append(Notification(source, decoded, values, confirmed))

    def _answer(self, decoded: Frame, source: Address, now: float, events: list[Event]) -> None:
        part = self._by_tid.get(decoded.tid)
        if (
            part is None
            or part.done
            or decoded.esv not in _ANSWERS[part.request.esv]
            or not _same_object(decoded.seoj, part.request.deoj)
        ):
            self.dropped += 1
            events.append(FrameDropped(source, f"answer to no pending request (TID {decoded.tid})"))
            return
        request = part.request
        if not request.multicast and not self.same_peer(source, request.dest):
            # Only the node asked may answer (§3.1.2); the genuine answer may still come.
            self.dropped += 1
            self.foreign_answers += 1
            events.append(
                FrameDropped(
                    source, f"answer to TID {decoded.tid} from {source!r}, asked {request.dest!r}"
                )
            )
            return
        values = self._typed(source, decoded.seoj, _readable(decoded))
        response = Response(request.request_id, source, decoded, values)
        if not request.multicast and request.esv in _READS and self._adapt(part, decoded, now):
            if request.responses or values:
                request.responses.append(response)
                events.append(response)
            return
        request.responses.append(response)
        events.append(response)
        if not request.multicast:
            self._finish_part(part, now, events)

    def _adapt(self, part: _Part, answer: Frame, now: float) -> bool:
        """Ask again what a read answer left out; returns whether ``part`` was replaced.

        No property served by a multi-property read: maybe too large (see
        :meth:`_shrink`). Fewer properties than asked: the node cut its answer,
        the rest is asked again in smaller batches. Some refused among served
        ones: those are asked once more on their own before counting as refused.
        """
        asked = part.epcs
        answered = {p.epc: p.edt for p in answer.properties}
        served = [e for e in asked if answered.get(e)]
        missing = [e for e in asked if e not in answered]
        refused = [e for e in asked if e in answered and not answered[e]]
        key = part.request.key
        limit = self._limits.setdefault(key, _BatchLimit()) if self.adapt_batches else None
        if not served:
            if self._shrink(part, asked, now):
                return True
            if missing and len(missing) < len(asked):
                self._requeue(part, missing, len(missing), now)
                return True
            return False
        if missing:
            most = len(missing)
            if limit is not None:
                limit.too_large(len(asked))
                limit.ok(len(served))
                most = min(most, limit.size(self.max_properties))
            self._requeue(part, missing, most, now)
            return True
        if limit is not None:
            limit.ok(len(asked))
        retry = [e for e in refused if e not in part.request.second_chance]
        if retry and len(asked) > 1:
            part.request.second_chance.update(retry)
            self._requeue(part, retry, len(retry), now)
            return True
        return False

    def _finish_part(self, part: _Part, now: float, events: list[Event]) -> None:
        part.done = True
        key = self._release(part)
        request = part.request
        if all(p.done for p in request.parts):
            events.append(_summarise(request))
        if key is not None:
            self._pump(key, now)

    def _fail(
        self, request: _Request, reason: str, attempts: int, events: list[Event], now: float
    ) -> None:
        keys = set()
        for part in request.parts:
            keys.add(self._release(part))
            part.done = True
        events.append(RequestFailed(request.request_id, reason, attempts))
        for key in keys - {None}:
            self._pump(key, now)

    # ------------------------------------------------------------ known nodes
    def remember(self, node: DiscoveredNode) -> bool:
        """Record ``node`` (from a discovery); returns whether it was not known before."""
        key = _host_of(node.address)
        new = key not in self.known_nodes
        if new and len(self.known_nodes) >= _MAX_KNOWN_NODES:
            return False
        self.known_nodes[key] = node
        return new

    def _learn_from(self, decoded: Frame, source: Address, now: float, events: list[Event]) -> None:
        key = _host_of(source)
        if key in self.known_nodes or key in self._asked:
            return
        if decoded.seoj.class_id == _NODE_PROFILE_CLASS:
            for prop in decoded.properties:
                if prop.epc == INSTANCE_LIST_NOTIFICATION and prop.edt:
                    instances = _instances(prop.edt)
                    if instances is not None:
                        node = DiscoveredNode(source, instances)
                        if self.remember(node):
                            events.append(NodeDiscovered(node))
                        return
        if len(self._asked) >= _MAX_KNOWN_NODES:
            return
        # Any other INF from a node we do not know: ask it for its instance list.
        self._asked.add(key)
        request_id = self.get(source, NODE_PROFILE, [SELF_NODE_INSTANCE_LIST], now)
        self._learning[request_id] = source

    def _learnt(self, events: list[Event]) -> list[Event]:
        """Turn the outcome of the session's own 0xD6 Gets into :class:`NodeDiscovered`."""
        if not self._learning:
            return events
        out: list[Event] = []
        for event in events:
            if (
                isinstance(event, RequestDone | RequestFailed)
                and event.request_id in self._learning
            ):
                source = self._learning.pop(event.request_id)
                self._asked.discard(_host_of(source))
                if isinstance(event, RequestDone):
                    value = event.values.get(SELF_NODE_INSTANCE_LIST)
                    if value is not None and isinstance(value.value, tuple):
                        node = DiscoveredNode(source, tuple(value.value))
                        if self.remember(node):
                            out.append(NodeDiscovered(node))
                continue
            out.append(event)
        return out

    @property
    def pending(self) -> int:
        """Frames still waiting for an answer."""
        return len(self._by_tid)


def _instances(edt: bytes) -> tuple[EOJ, ...] | None:
    """EOJs of an instance list EDT (0xD5/0xD6: count, then 3 bytes each, §6.11.1)."""
    count = edt[0]
    if len(edt) < 1 + 3 * count:
        return None
    return tuple(
        EOJ.from_int(int.from_bytes(edt[1 + 3 * i : 4 + 3 * i], "big")) for i in range(count)
    )


def _readable(frame: Frame) -> tuple[Property, ...]:
    """The properties of an answer that carry read values (not Set echoes)."""
    if frame.esv in _SET_ANSWERS:
        return ()
    if frame.esv in (ESV.SETGET_RES, ESV.SETGET_SNA):
        return frame.get_properties
    return frame.properties


def _refused(frame: Frame) -> list[int]:
    """EPCs an SNA answer refused (§3.2.5): PDC 0 in a read list, an echoed EDT in a Set list."""
    esv = frame.esv
    if not isinstance(esv, ESV) or not esv.is_sna:
        return []
    if esv is ESV.SETGET_SNA:
        return [p.epc for p in frame.properties if p.edt] + [
            p.epc for p in frame.get_properties if not p.edt
        ]
    if esv in _SET_ANSWERS:
        return [p.epc for p in frame.properties if p.edt]
    return [p.epc for p in frame.properties if not p.edt]


def _summarise(request: _Request) -> RequestDone:
    values: dict[int, PropertyValue] = {}
    refused: list[int] = []
    undecodable: list[tuple[int, DecodeError]] = []
    final = _ANSWER_OK[request.esv]
    for response in request.responses:
        frame = response.frame
        if isinstance(frame.esv, ESV) and frame.esv.is_sna:
            final = frame.esv
        for value in response.values:
            values[value.epc] = value
        refused.extend(_refused(frame))
        _, bad = decode_frame_properties(frame.seoj.class_id, _readable(frame))
        undecodable.extend(bad)
    if request.esv in _READS and not request.multicast:
        # A property refused once and served when asked again is not refused.
        refused = [e for e in refused if e not in values]
        final = _SNA_OF[request.esv] if refused else _ANSWER_OK[request.esv]
    return RequestDone(
        request.request_id,
        final,
        tuple(request.responses),
        values,
        tuple(dict.fromkeys(refused)),
        tuple(undecodable),
    )


_ANSWER_OK: Final[dict[ESV, ESV]] = {
    ESV.GET: ESV.GET_RES,
    ESV.SETC: ESV.SET_RES,
    ESV.SETI: ESV.SET_RES,
    ESV.INF_REQ: ESV.INF,
    ESV.SETGET: ESV.SETGET_RES,
}
#: Answers to a Set: accepted properties come back with PDC 0, refused ones
#: (in an SNA) echo the EDT that was not accepted (§3.2.5).
_SET_ANSWERS: Final = frozenset({ESV.SET_RES, ESV.SETC_SNA, ESV.SETI_SNA})
#: Read services whose EPC lists may be split, paced and shrunk per node.
_READS: Final = frozenset({ESV.GET, ESV.INF_REQ})
_SNA_OF: Final = {ESV.GET: ESV.GET_SNA, ESV.INF_REQ: ESV.INF_SNA}


#: Values to Set, keyed by EPC or property name (a union: ``Mapping`` keys are invariant).
PropertyValues = Mapping[int, Any] | Mapping[str, Any] | Mapping[int | str, Any]


def resolve_epc(class_id: int, key: int | str) -> int:
    """The EPC of ``key`` (an EPC, or a property name of class ``class_id``).

    A name the class does not know raises :class:`ValueError` naming both.
    """
    if isinstance(key, int):
        return key
    try:
        return property_epc(class_id, key)
    except KeyError:
        raise ValueError(f"class 0x{class_id:04X} has no property named {key!r}") from None


def resolve_epcs(class_id: int, keys: Iterable[int | str]) -> list[int]:
    """:func:`resolve_epc` of every key, in order."""
    return [resolve_epc(class_id, key) for key in keys]


def _checked_edt(class_id: int, epc: int, value: Any) -> bytes:
    """Encode ``value`` for a Set and check it against the EPC's type and range.

    Part II §4.2.3: a device refuses a value out of its range; the controller
    checks first, so such a value never reaches the wire.
    """
    edt = encode_property(class_id, epc, value)
    spec = lookup(class_id, epc)
    if spec is not None:
        try:
            decoded = spec.data_type.decode(edt)
            fits = spec.data_type.in_range(decoded)
        except (DecodeError, EncodeError) as exc:
            raise EncodeError(f"{spec.name} (0x{epc:02X}): {exc}") from None
        if not fits:
            raise EncodeError(f"{spec.name} (0x{epc:02X}): {value!r} is out of range")
    return edt
