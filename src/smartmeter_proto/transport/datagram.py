"""The UDP datagram adapter: any sans-IO datagram endpoint on a real socket.

Every datagram protocol of the library runs through :class:`DatagramLink`: the ECHONET
Lite client and node (:mod:`.udp` puts a :class:`~smartmeter_proto.echonet.session.Session`
on it), the A-route meter and head end (:mod:`smartmeter_proto.aroute.udp_endpoints`) and
the IoT head end (:class:`~smartmeter_proto.iot.headend.HeadEnd`). An endpoint has the
library's one endpoint contract:

* ``receive_datagram(data, source, now) -> events`` for each datagram received;
* ``datagrams_to_send() -> [(bytes, destination)]``;
* ``next_deadline() -> float | None`` and ``handle_timeout(now) -> events``;

with ``now`` a float of seconds from the link's ``clock``. The link only moves bytes and
fires timers; the events the endpoint returns go to ``on_events``.

Sockets are non-blocking and read on the loop's selector (:class:`DatagramSocket`), every
queued datagram per wake-up up to a fairness bound, so a head end receiving pushes from
thousands of meters drains its queue at once. Sends are immediate (``sendto``); one the
kernel refuses is counted in :attr:`DatagramLink.send_errors` and lost, as UDP loses
datagrams: the endpoints' retries cover it.

Multicast: with ``group`` (an address and port) a destination equal to
:data:`~smartmeter_proto.echonet.events.MULTICAST` goes to the group, and
``join_group=True`` joins it:

* bound to one address, the link leaves and listens on that address's interface:
  ``IP_MULTICAST_IF`` is the bound address (IPv6: its interface index), and a second,
  receive-only socket bound to the group and its port joins there (a socket bound to a
  unicast address never sees multicast on Linux);
* bound to the wildcard, it joins on the default interface, or on each of ``interface``
  (a name or a list of names), and a multicast leaves once by each of them;
* ``group`` may name a unicast address instead (a peer on a network without multicast);
  nothing is joined then.

Multicast loopback stays on, so nodes on one host hear each other; a link drops its own
multicast when it comes back (same source address and port, same bytes) and counts it in
:attr:`DatagramLink.own_echoes`. The unicast socket never shares its address unless
``reuse_address=True``: a busy address fails with :class:`TransportError`. The group
socket always shares the group's port with the other nodes of the host (``SO_REUSEADDR``
on a multicast address: each gets a copy).

With ``run_timers=False`` the link arms no timers: a
:class:`~smartmeter_proto.transport.virtual_time.VirtualTimeRunner` moves a virtual clock
from deadline to deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol

from ..echonet.events import MULTICAST
from ..echonet.session import same_host
from ..errors import TransportError

__all__ = [
    "ANY_IPV4",
    "ANY_IPV6",
    "DatagramEndpoint",
    "DatagramLink",
    "DatagramSocket",
    "Interfaces",
    "serve_endpoint",
]

log = logging.getLogger(__name__)

#: The wildcard addresses: a HEMS listens on every interface of the home network.
ANY_IPV4: Final = "0.0.0.0"  # noqa: S104
ANY_IPV6: Final = "::"
_MAX_DATAGRAM: Final = 65_535
_DEFAULT_BATCH: Final = 256
#: A deadline already past is fired on the next loop turn, never in a busy loop.
_MIN_TIMER_S: Final = 0.001
#: Own multicast datagrams remembered to recognise them when they loop back.
_OWN_ECHO_MEMORY: Final = 32
#: Linux socket options the socket module may not name: deliver a group only where
#: this socket joined it (``IP_MULTICAST_ALL`` = 49), interface address (``SIOCGIFADDR``).
_IP_MULTICAST_ALL: Final = getattr(socket, "IP_MULTICAST_ALL", 49)
_SIOCGIFADDR: Final = 0x8915
_IF_INET6: Final = Path("/proc/net/if_inet6")

Interfaces = str | Sequence[str] | None
Receiver = Callable[[bytes, tuple[str, int]], None]


class DatagramEndpoint(Protocol):
    """The sans-IO endpoint contract (see the module docstring)."""

    def receive_datagram(self, data: bytes, source: Any, now: float) -> Any: ...

    def datagrams_to_send(self) -> Sequence[tuple[bytes, Any]]: ...

    def next_deadline(self) -> float | None: ...

    def handle_timeout(self, now: float) -> Any: ...


# ---------------------------------------------------------------- addresses and interfaces
def show(host: str, port: int) -> str:
    """``host:port``, IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ip_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address of a literal (an IPv6 ``%scope`` ignored); None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def interface_index(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise TransportError(f"no network interface {name!r}") from None


def ipv4_of_interface(name: str) -> str:
    """The IPv4 address of interface ``name`` (Linux ``SIOCGIFADDR``)."""
    interface_index(name)
    if sys.platform != "linux":  # pragma: no cover - the ioctl is Linux's
        raise TransportError(f"cannot find the IPv4 address of {name!r} on {sys.platform}")
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            answer = fcntl.ioctl(
                probe.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15])
            )
        except OSError:
            raise TransportError(f"interface {name!r} has no IPv4 address") from None
    return socket.inet_ntoa(answer[20:24])


def ipv6_index_of(host: str) -> int:
    """The interface index of a local IPv6 address: its ``%scope``, else /proc/net/if_inet6."""
    if "%" in host:
        scope = host.split("%", 1)[1]
        return int(scope) if scope.isdigit() else interface_index(scope)
    wanted = ip_of(host)
    if wanted is None:
        return 0
    with contextlib.suppress(OSError):
        for line in _IF_INET6.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6 and ipaddress.IPv6Address(int(fields[0], 16)) == wanted:
                return int(fields[1], 16)
    return 0


def bind_error(exc: OSError, host: str, port: int) -> TransportError:
    where = show(host, port)
    if exc.errno == errno.EADDRINUSE:
        return TransportError(f"address {where} is already in use")
    if exc.errno == errno.EADDRNOTAVAIL:
        return TransportError(f"address {host} is not an address of this host")
    return TransportError(f"cannot bind {where}: {exc.strerror or exc}")


# ------------------------------------------------------------------------------ one socket
class DatagramSocket:
    """One bound, non-blocking UDP socket read on the running loop's selector.

    ``on_datagram(data, (host, port))`` runs for each datagram received, up to ``batch``
    per wake-up (fairness between sockets). It moves bytes only.
    """

    def __init__(
        self, sock: socket.socket, on_datagram: Receiver, *, batch: int = _DEFAULT_BATCH
    ) -> None:
        self._sock = sock
        self._on_datagram = on_datagram
        self._batch = batch
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self.received = 0
        self.sent = 0
        self.send_errors = 0
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._read_ready)

    @classmethod
    def open(
        cls,
        local: tuple[str, int],
        on_datagram: Receiver,
        *,
        receive_buffer: int | None = None,
        batch: int = _DEFAULT_BATCH,
    ) -> DatagramSocket:
        """Bind ``local`` (IPv4 or IPv6 literal) on the running loop."""
        sock = socket.socket(family_of(local[0]), socket.SOCK_DGRAM)
        try:
            if receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.bind(local)
        except OSError as exc:
            sock.close()
            raise bind_error(exc, local[0], local[1]) from exc
        return cls(sock, on_datagram, batch=batch)

    @property
    def socket(self) -> socket.socket:
        return self._sock

    @property
    def address(self) -> tuple[str, int]:
        name = self._sock.getsockname()
        return (str(name[0]), int(name[1]))

    def _read_ready(self) -> None:
        for _ in range(self._batch):
            if self._closed:
                return
            try:
                data, peer = self._sock.recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on a later read
                log.debug("receive error: %s", exc)
                continue
            self.received += 1
            self._on_datagram(data, (str(peer[0]), int(peer[1])))

    def send(self, data: bytes, destination: tuple[Any, ...]) -> bool:
        """Send one datagram now; False (counted) if the kernel refused it."""
        if self._closed:
            return False
        try:
            self._sock.sendto(data, destination)
        except OSError as exc:
            self.send_errors += 1
            log.debug("send to %s failed: %s", destination, exc)
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


# ------------------------------------------------------------------------- the endpoint link
class DatagramLink:
    """Runs one endpoint on one UDP address (and the multicast group, if any).

    ``send_filter(data, destination)`` may drop outgoing datagrams (a lossy network);
    ``time_scale`` > 1 runs the endpoint's time that much faster than the wall clock;
    ``run_timers=False`` leaves the timers to the caller (:meth:`handle_timeout`).
    ``reply_port`` sends every unicast datagram to that port of its destination.
    """

    def __init__(
        self,
        endpoint: DatagramEndpoint,
        *,
        local: tuple[str, int] = (ANY_IPV4, 0),
        group: tuple[str, int] | None = None,
        join_group: bool = False,
        interface: Interfaces = None,
        reuse_address: bool = False,
        reply_port: int | None = None,
        receive_buffer: int | None = None,
        clock: Callable[[], float] = time.time,
        send_filter: Callable[[bytes, Hashable], bool] | None = None,
        time_scale: float = 1.0,
        run_timers: bool = True,
        on_events: Callable[[Any], None] | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        family = family_of(local[0])
        if group is not None and family_of(group[0]) != family:
            raise ValueError(f"group {group[0]} and local address {local[0]} differ in family")
        self.endpoint = endpoint
        self.local = local
        self.group = group
        self.join_group = join_group
        #: Network interfaces for multicast, by name (ff02::1 is link-scope: one per link).
        self.interfaces: tuple[str, ...] = (
            (interface,) if isinstance(interface, str) else tuple(interface or ())
        )
        self.reuse_address = reuse_address
        self.reply_port = reply_port
        self.clock = clock
        self._receive_buffer = receive_buffer
        self._family = family
        self._filter = send_filter
        self._scale = time_scale
        self._run_timers = run_timers
        self._on_events = on_events
        self._socket: DatagramSocket | None = None
        self._group_sockets: list[DatagramSocket] = []
        self._timer: asyncio.TimerHandle | None = None
        self._taps: list[Callable[[bytes, tuple[str, int]], None]] = []
        #: Where a multicast leaves: (IP_MULTICAST_IF value or None, destination), one per way out.
        self._multicast_targets: list[tuple[bytes | int | None, tuple[Any, ...]]] = []
        self._recent_multicast: deque[bytes] = deque(maxlen=_OWN_ECHO_MEMORY)
        #: Datagrams sent, and refused by the socket (lost: the endpoint's retries cover it).
        self.sent = 0
        self.send_errors = 0
        #: Datagrams dropped by ``send_filter``.
        self.filtered = 0
        #: Datagrams received and handled, the endpoint's answers already sent.
        self.received = 0
        #: Our own multicasts that looped back to us and were dropped.
        self.own_echoes = 0
        #: Where the group was joined: the interface names or addresses, "default" for the route's.
        self.joined: tuple[str, ...] = ()

    # ------------------------------------------------------------------ state
    @property
    def address(self) -> tuple[str, int]:
        """The bound local address (host, port)."""
        if self._socket is None:
            raise TransportError("link is not open")
        return self._socket.address

    @property
    def multicast(self) -> bool:
        """Whether ``group`` is a multicast group (not a unicast stand-in)."""
        if self.group is None:
            return False
        address = ip_of(self.group[0])
        return address is not None and address.is_multicast

    @property
    def idle(self) -> bool:
        """No send is pending (sends are immediate: always true once a call returns)."""
        return True

    def _wildcard(self) -> bool:
        address = ip_of(self.local[0])
        return address is None or address.is_unspecified

    # ---------------------------------------------------------------- sockets
    def _make_socket(self) -> socket.socket:
        host, port = self.local
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            if self.reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._receive_buffer is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise bind_error(exc, host, port) from exc
            if self.multicast:
                self._plan_multicast(sock)
        except BaseException:
            sock.close()
            raise
        return sock

    def _plan_multicast(self, sock: socket.socket) -> None:
        """Set ``IP_MULTICAST_IF`` and list the ways a multicast leaves this link."""
        assert self.group is not None
        host = self.local[0]
        group, port = self.group
        if self._family == socket.AF_INET:
            if self.interfaces:
                addresses = [ipv4_of_interface(name) for name in self.interfaces]
            elif not self._wildcard():
                addresses = [host]
            else:
                addresses = []
            self._multicast_targets = [(socket.inet_aton(a), (group, port)) for a in addresses] or [
                (None, (group, port))
            ]
        else:
            if self.interfaces:
                indexes = [interface_index(name) for name in self.interfaces]
            elif not self._wildcard():
                indexes = [ipv6_index_of(host)]
            else:
                indexes = [0]
            self._multicast_targets = [(i or None, (group, port, 0, i)) for i in indexes]
        first = self._multicast_targets[0][0]
        if first is not None:
            self._set_multicast_if(sock, first)

    def _set_multicast_if(self, sock: socket.socket, value: bytes | int) -> None:
        if self._family == socket.AF_INET:
            assert isinstance(value, bytes)
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, value)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, int(value))

    def _join(self, sock: socket.socket) -> None:
        """Join the group on each interface this link multicasts on."""
        assert self.group is not None
        group = self.group[0]
        joined = []
        for value, _target in self._multicast_targets:
            where = self._where(value)
            try:
                if self._family == socket.AF_INET:
                    interface = value if isinstance(value, bytes) else socket.inet_aton(ANY_IPV4)
                    request = socket.inet_aton(group) + interface
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
                else:
                    index = int(value or 0)
                    request = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, request)
            except OSError as exc:
                raise TransportError(
                    f"cannot join {group} on {where}: {exc.strerror or exc}"
                ) from exc
            joined.append(where)
        self.joined = tuple(joined)

    def _where(self, value: bytes | int | None) -> str:
        if value is None:
            return "default"
        if isinstance(value, bytes):
            return socket.inet_ntoa(value)
        with contextlib.suppress(OSError):
            return socket.if_indextoname(value)
        return str(value)

    def _make_group_sockets(self) -> list[socket.socket]:
        """Receive-only sockets bound to the group, for a link bound to one address or port."""
        assert self.group is not None
        group, port = self.group
        plans: list[tuple[Any, ...]] = (
            [(group, port)]
            if self._family == socket.AF_INET
            else [(group, port, 0, int(v or 0)) for v, _ in self._multicast_targets]
        )
        out: list[socket.socket] = []
        for where in plans:
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if self._family == socket.AF_INET and sys.platform == "linux":
                    sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
                try:
                    sock.bind(where)
                except OSError as exc:
                    raise TransportError(
                        f"cannot listen to {show(group, port)}: {exc.strerror or exc}"
                    ) from exc
                self._join(sock)
            except BaseException:
                sock.close()
                for other in out:
                    other.close()
                raise
            out.append(sock)
        return out

    async def open(self) -> None:
        """Bind, join the group if asked, start reading and arm the endpoint's timer."""
        if self._socket is not None:
            raise TransportError("link is already open")
        sock = self._make_socket()
        group_socks: list[socket.socket] = []
        try:
            if self.join_group and self.multicast:
                assert self.group is not None
                if self._wildcard() and self.local[1] == self.group[1]:
                    self._join(sock)  # the wildcard socket on the group's port receives it
                else:
                    group_socks = self._make_group_sockets()
        except BaseException:
            sock.close()
            raise
        self._socket = DatagramSocket(sock, self._received)
        self._group_sockets = [DatagramSocket(g, self._received) for g in group_socks]
        if self.joined and self.group is not None:
            log.debug("joined %s on %s", self.group[0], ", ".join(self.joined))
        self._arm()

    async def close(self) -> None:
        """Stop the timer and release the sockets (the address is free when this returns)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sock in (self._socket, *self._group_sockets):
            if sock is not None:
                sock.close()
        self._socket = None
        self._group_sockets = []

    def stop(self) -> None:
        """Stop firing the endpoint's timers (the sockets stay open until :meth:`close`)."""
        self._run_timers = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def __aenter__(self) -> DatagramLink:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -------------------------------------------------------------- receiving
    def add_tap(self, tap: Callable[[bytes, tuple[str, int]], None]) -> Callable[[], None]:
        """See every received datagram before the endpoint does (diagnostics, conformance).

        Returns a function that removes the tap.
        """
        self._taps.append(tap)
        return lambda: self._taps.remove(tap)

    def _own_echo(self, data: bytes, source: tuple[str, int]) -> bool:
        """Our own multicast looping back: our address and port, bytes we multicast."""
        if data not in self._recent_multicast or self._socket is None:
            return False
        host, port = self.address
        if source[1] != port:
            return False
        return self._wildcard() or same_host(source, (host, port))

    def _received(self, data: bytes, source: tuple[str, int]) -> None:
        if self._own_echo(data, source):
            self.own_echoes += 1
            return
        for tap in self._taps:
            tap(data, source)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("rx %s %s", source, data.hex())
        events = self.endpoint.receive_datagram(data, source, self.clock())
        if self._on_events is not None:
            self._on_events(events)
        self.flush()
        self.received += 1

    # ---------------------------------------------------------------- sending
    def send(self, data: bytes, destination: Any) -> None:
        """Send one datagram now: to ``destination`` (host, port) or to the group
        (:data:`~smartmeter_proto.echonet.events.MULTICAST`)."""
        sock = self._socket
        if sock is None:
            raise TransportError("link is not open")
        if self._filter is not None and not self._filter(data, destination):
            self.filtered += 1
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("tx %s %s", destination, data.hex())
        if destination is MULTICAST:
            if self.group is None:
                raise TransportError("this link has no multicast group")
            if not self.multicast:
                self._count(sock.send(data, self.group))
                return
            self._recent_multicast.append(data)
            for value, target in self._multicast_targets:
                if len(self._multicast_targets) > 1 and value is not None:
                    self._set_multicast_if(sock.socket, value)
                self._count(sock.send(data, target))
        elif isinstance(destination, tuple) and len(destination) >= 2:
            host, port = str(destination[0]), self.reply_port or int(destination[1])
            self._count(sock.send(data, (host, port, *destination[2:])))
        else:
            raise TransportError(f"not a UDP address: {destination!r}")

    def _count(self, ok: bool) -> None:
        if ok:
            self.sent += 1
        else:
            self.send_errors += 1

    def flush(self) -> None:
        """Send everything the endpoint has queued, then re-arm its timer."""
        if self._socket is not None:
            for data, destination in self.endpoint.datagrams_to_send():
                self.send(data, destination)
        self._arm()

    def kick(self) -> None:
        """Send what the endpoint queued outside a receive or a timer (a caller's request)."""
        self.flush()

    # ----------------------------------------------------------------- timers
    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._run_timers or self._socket is None:
            return
        deadline = self.endpoint.next_deadline()
        if deadline is not None:
            delay = max(_MIN_TIMER_S, (deadline - self.clock()) / self._scale)
            self._timer = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.fire()

    def fire(self) -> None:
        """Fire the endpoint's timers at the clock's time and send what they queued."""
        events = self.endpoint.handle_timeout(self.clock())
        if self._on_events is not None:
            self._on_events(events)
        self.flush()

    async def handle_timeout(self) -> None:
        """:meth:`fire`, awaitable (a virtual-time runner's step)."""
        self.fire()


@contextlib.asynccontextmanager
async def serve_endpoint(
    endpoint: DatagramEndpoint,
    local: tuple[str, int],
    *,
    clock: Callable[[], float] = time.time,
    send_filter: Callable[[bytes, Hashable], bool] | None = None,
    time_scale: float = 1.0,
    run_timers: bool = True,
    on_events: Callable[[Any], None] | None = None,
) -> AsyncIterator[DatagramLink]:
    """Bind ``local`` and run ``endpoint`` on it until the block exits.

    ``clock`` is the endpoint's time; with ``time_scale`` > 1 it runs that much faster
    than the wall clock (timers are armed for the scaled delay). ``run_timers=False``
    leaves the timers to the caller
    (:class:`~smartmeter_proto.transport.virtual_time.VirtualTimeRunner`).
    """
    link = DatagramLink(
        endpoint,
        local=local,
        clock=clock,
        send_filter=send_filter,
        time_scale=time_scale,
        run_timers=run_timers,
        on_events=on_events,
    )
    async with link:
        yield link
