"""ECHONET Lite over UDP (port 3610) with asyncio-dgram: client and node server.

Multicast goes to 224.0.23.0 (IPv4) or ff02::1 (IPv6), port 3610 (ECHONET Lite
Specification Part II §3.1.2). A link joins that group by default:

* bound to one address, it leaves and listens on that address's interface:
  ``IP_MULTICAST_IF`` is the bound address (IPv6: its interface index), and a
  second, receive-only socket bound to the group and port 3610 joins there
  (a socket bound to a unicast address never sees multicast on Linux);
* bound to the wildcard, it joins on the default interface, or on each of
  ``interface`` (a name or a list of names), and a multicast leaves once by
  each of them;
* ``group`` may name a unicast address instead (a peer on a network without
  multicast); nothing is joined then.

Multicast loopback stays on, so nodes on one host hear each other; a link drops
its own multicast when it comes back (same source address and port, same
bytes) and counts it in :attr:`UDPLink.own_echoes`. The unicast socket never
shares its address unless ``reuse_address=True``: a busy address fails with
:class:`TransportError`. The group socket always shares port 3610 with the
other nodes of the host (``SO_REUSEADDR`` on a multicast address: each gets
a copy).
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import asyncio_dgram
from asyncio_dgram.aio import DatagramServer, TransportClosed

from ..echonet.events import (
    MULTICAST,
    Address,
    DiscoveredNode,
    Notification,
    RequestDone,
    RequestFailed,
)
from ..echonet.frame import EOJ
from ..echonet.node import NODE_PROFILE, Node
from ..echonet.session import PropertyValues, Session, resolve_epc, resolve_epcs, same_host
from ..errors import SessionError, TransportError
from .driver import SessionDriver

__all__ = [
    "ECHONET_PORT",
    "IPV4_GROUP",
    "IPV6_GROUP",
    "DiscoveredNode",
    "EchonetClient",
    "UDPLink",
    "serve_node",
]

log = logging.getLogger(__name__)
#: The wildcard address: a HEMS listens on every interface of the home network.
ANY_IPV4: Final = "0.0.0.0"  # noqa: S104
ANY_IPV6: Final = "::"

#: UDP port and multicast groups of ECHONET Lite (Part II §3.1.2).
ECHONET_PORT: Final = 3610
IPV4_GROUP: Final = "224.0.23.0"
IPV6_GROUP: Final = "ff02::1"
_NODE_PROFILE_ALL: Final = EOJ(0x0E, 0xF0, 0x00)
_SELF_NODE_INSTANCE_LIST: Final = 0xD6
#: Own multicast datagrams remembered to recognise them when they loop back.
_OWN_ECHO_MEMORY: Final = 32
#: Linux socket options the socket module may not name: deliver a group only where
#: this socket joined it (``IP_MULTICAST_ALL`` = 49), interface address (``SIOCGIFADDR``).
_IP_MULTICAST_ALL: Final = getattr(socket, "IP_MULTICAST_ALL", 49)
_SIOCGIFADDR: Final = 0x8915
_IF_INET6: Final = Path("/proc/net/if_inet6")

Interfaces = str | Sequence[str] | None


def _show(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _interface_index(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        raise TransportError(f"no network interface {name!r}") from None


def _ipv4_of_interface(name: str) -> str:
    """The IPv4 address of interface ``name`` (Linux ``SIOCGIFADDR``)."""
    _interface_index(name)
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


def _ipv6_index_of(host: str) -> int:
    """The interface index of a local IPv6 address: its ``%scope``, else /proc/net/if_inet6."""
    if "%" in host:
        scope = host.split("%", 1)[1]
        return int(scope) if scope.isdigit() else _interface_index(scope)
    wanted = _ip(host)
    if wanted is None:
        return 0
    with suppress(OSError):
        for line in _IF_INET6.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6 and ipaddress.IPv6Address(int(fields[0], 16)) == wanted:
                return int(fields[1], 16)
    return 0


def _bind_error(exc: OSError, host: str, port: int) -> TransportError:
    where = _show(host, port)
    if exc.errno == errno.EADDRINUSE:
        return TransportError(f"address {where} is already in use")
    if exc.errno == errno.EADDRNOTAVAIL:
        return TransportError(f"address {host} is not an address of this host")
    return TransportError(f"cannot bind {where}: {exc.strerror or exc}")


class UDPLink:
    """One UDP socket carrying a :class:`Session` (and its node, if any).

    ``join_group`` joins the ECHONET group (see the module docstring) on
    ``interface`` (a name or a list of names) or on the interface of ``local``;
    ``reuse_address`` lets another socket share ``local`` (off: a busy address
    is an error). ``group`` defaults to 224.0.23.0 or ff02::1 by the family of
    ``local``, port 3610.
    """

    def __init__(
        self,
        session: Session,
        *,
        local: tuple[str, int] = (ANY_IPV4, 0),
        group: tuple[str, int] | None = None,
        join_group: bool = True,
        reply_port: int | None = None,
        interface: Interfaces = None,
        reuse_address: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local
        family = _family(local[0])
        if group is None:
            group = (IPV6_GROUP if family == socket.AF_INET6 else IPV4_GROUP, ECHONET_PORT)
        if _family(group[0]) != family:
            raise ValueError(f"group {group[0]} and local address {local[0]} differ in family")
        #: Network interfaces for multicast, by name (ff02::1 is link-scope: one per link).
        self.interfaces: tuple[str, ...] = (
            (interface,) if isinstance(interface, str) else tuple(interface or ())
        )
        self.group = group
        self.join_group = join_group
        self.reply_port = reply_port
        self.reuse_address = reuse_address
        self.driver = SessionDriver(session, self._send, clock=clock)
        self._family = family
        self._stream: DatagramServer | None = None
        self._sock: socket.socket | None = None
        self._group_streams: list[DatagramServer] = []
        self._readers: list[asyncio.Task[None]] = []
        #: Where a multicast leaves: (IP_MULTICAST_IF value or None, destination), one per way out.
        self._multicast_targets: list[tuple[bytes | int | None, tuple[Any, ...]]] = []
        self._recent_multicast: deque[bytes] = deque(maxlen=_OWN_ECHO_MEMORY)
        #: Datagrams the socket refused to send (the session retries them).
        self.send_errors = 0
        #: Our own multicasts that looped back to us and were dropped.
        self.own_echoes = 0
        #: Where the group was joined: the interface names or addresses, "default" for the route's.
        self.joined: tuple[str, ...] = ()

    @property
    def session(self) -> Session:
        return self.driver.session

    @property
    def address(self) -> tuple[str, int]:
        """The bound local address (host, port)."""
        if self._stream is None:
            raise TransportError("link is not open")
        sockname: Any = self._stream.sockname
        return (str(sockname[0]), int(sockname[1]))

    @property
    def multicast(self) -> bool:
        """Whether ``group`` is a multicast group (not a unicast stand-in)."""
        address = _ip(self.group[0])
        return address is not None and address.is_multicast

    # ------------------------------------------------------------------ sockets
    def _make_socket(self) -> socket.socket:
        host, port = self.local
        sock = socket.socket(self._family, socket.SOCK_DGRAM)
        try:
            if self.reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                raise _bind_error(exc, host, port) from exc
            if self.multicast:
                self._plan_multicast(sock)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def _wildcard(self) -> bool:
        address = _ip(self.local[0])
        return address is None or address.is_unspecified

    def _plan_multicast(self, sock: socket.socket) -> None:
        """Set ``IP_MULTICAST_IF`` and list the ways a multicast leaves this link."""
        host = self.local[0]
        group, port = self.group
        if self._family == socket.AF_INET:
            if self.interfaces:
                addresses = [_ipv4_of_interface(name) for name in self.interfaces]
            elif not self._wildcard():
                addresses = [host]
            else:
                addresses = []
            self._multicast_targets = [(socket.inet_aton(a), (group, port)) for a in addresses] or [
                (None, (group, port))
            ]
        else:
            if self.interfaces:
                indexes = [_interface_index(name) for name in self.interfaces]
            elif not self._wildcard():
                indexes = [_ipv6_index_of(host)]
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
        with suppress(OSError):
            return socket.if_indextoname(value)
        return str(value)

    def _group_sockets(self) -> list[socket.socket]:
        """Receive-only sockets bound to the group, for a link bound to one address or port."""
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
                        f"cannot listen to {_show(group, port)}: {exc.strerror or exc}"
                    ) from exc
                self._join(sock)
                sock.setblocking(False)
            except BaseException:
                sock.close()
                for other in out:
                    other.close()
                raise
            out.append(sock)
        return out

    async def open(self) -> None:
        sock = self._make_socket()
        group_socks: list[socket.socket] = []
        try:
            if self.join_group and self.multicast:
                if self._wildcard() and self.local[1] == self.group[1]:
                    self._join(sock)  # the wildcard socket on 3610 receives the group itself
                else:
                    group_socks = self._group_sockets()
            stream = await asyncio_dgram.from_socket(sock)
            groups = [await asyncio_dgram.from_socket(g) for g in group_socks]
        except BaseException:
            sock.close()
            for g in group_socks:
                g.close()
            raise
        if not isinstance(stream, DatagramServer) or not all(
            isinstance(g, DatagramServer) for g in groups
        ):
            stream.close()
            for group_stream in groups:
                group_stream.close()
            raise TransportError("expected an unconnected UDP socket")
        self._sock = sock
        self._stream = stream
        self._group_streams = [g for g in groups if isinstance(g, DatagramServer)]
        self.driver.start()
        loop = asyncio.get_running_loop()
        self._readers = [loop.create_task(self._read(s)) for s in (stream, *self._group_streams)]
        if self.joined:
            log.debug("joined %s on %s", self.group[0], ", ".join(self.joined))

    async def close(self) -> None:
        for reader in self._readers:
            reader.cancel()
        for reader in self._readers:
            with suppress(asyncio.CancelledError, TransportClosed):
                await reader
        self._readers = []
        await self.driver.stop()
        for stream in (self._stream, *self._group_streams):
            if stream is not None:
                stream.close()
        # The transports release their sockets on the next loop turn: wait for it, so the
        # address is free again when close() returns.
        await asyncio.sleep(0)
        self._stream = None
        self._sock = None
        self._group_streams = []

    async def __aenter__(self) -> UDPLink:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _own_echo(self, data: bytes, source: tuple[str, int]) -> bool:
        """Our own multicast looping back: our address and port, bytes we multicast."""
        if data not in self._recent_multicast or self._stream is None:
            return False
        host, port = self.address
        if source[1] != port:
            return False
        return self._wildcard() or same_host(source, (host, port))

    async def _read(self, stream: DatagramServer) -> None:
        while True:
            try:
                data, source = await stream.recv()
            except TransportClosed:
                return
            except OSError as exc:
                # An ICMP error for an earlier send (port unreachable): UDP
                # loses datagrams; the session's retries cover it.
                log.debug("socket error on %s: %s", self.local, exc)
                continue
            peer: Any = source
            address = (str(peer[0]), int(peer[1]))
            if self._own_echo(data, address):
                self.own_echoes += 1
                continue
            await self.driver.feed(data, address)

    async def _send(self, data: bytes, dest: Address) -> None:
        if self._stream is None or self._sock is None:
            raise TransportError("link is not open")
        if dest is MULTICAST:
            if not self.multicast:
                await self._send_to(data, self.group)
                return
            self._recent_multicast.append(data)
            for value, target in self._multicast_targets:
                if len(self._multicast_targets) > 1 and value is not None:
                    self._set_multicast_if(self._sock, value)
                await self._send_to(data, target)
        elif isinstance(dest, tuple) and len(dest) >= 2:
            await self._send_to(data, (str(dest[0]), self.reply_port or int(dest[1])))
        else:
            raise TransportError(f"not a UDP address: {dest!r}")

    async def _send_to(self, data: bytes, target: tuple[Any, ...]) -> None:
        assert self._stream is not None
        try:
            await self._stream.send(data, target)
        except OSError as exc:
            self.send_errors += 1
            log.debug("send to %s failed: %s", target, exc)


def _address(host: str, port: int) -> tuple[str, int]:
    ipaddress.ip_address(host.split("%", 1)[0])  # raises ValueError for a bad literal
    return (host, port)


class EchonetClient:
    """Async ECHONET Lite client: ``await client.get(host, eoj, [0xE7])``.

    Open it with ``async with EchonetClient.udp() as client:``; the Wi-SUN and
    G3-PLC transports hand back the same class over their own link.
    """

    def __init__(
        self,
        driver: SessionDriver,
        *,
        default_port: int = ECHONET_PORT,
        link: UDPLink | None = None,
        hosts: Iterable[str | tuple[str, int]] = (),
    ) -> None:
        self.driver = driver
        self.default_port = default_port
        #: The UDP link under the client, when it runs over UDP.
        self.link = link
        #: Nodes :meth:`discover` also asks by unicast (networks that filter multicast).
        self.hosts: tuple[str | tuple[str, int], ...] = tuple(hosts)

    @classmethod
    @asynccontextmanager
    async def udp(
        cls,
        *,
        local: tuple[str, int] = (ANY_IPV4, ECHONET_PORT),
        group: tuple[str, int] | None = None,
        timeout: float = 5.0,
        retries: int = 2,
        node: Node | None = None,
        join_group: bool = True,
        interface: Interfaces = None,
        hosts: Iterable[str | tuple[str, int]] = (),
        reuse_address: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> AsyncIterator[EchonetClient]:
        """A client on UDP: joins the ECHONET group on ``interface`` (or the one of ``local``).

        ``hosts`` are asked by unicast too when :meth:`discover` runs; nodes
        that announce themselves with an INF are learnt (:attr:`known_nodes`).
        """
        session = Session(timeout=timeout, retries=retries, node=node, learn_nodes=True)
        async with UDPLink(
            session,
            local=local,
            group=group,
            join_group=join_group,
            interface=interface,
            reuse_address=reuse_address,
            clock=clock,
        ) as link:
            yield cls(link.driver, link=link, hosts=hosts)

    @property
    def known_nodes(self) -> list[DiscoveredNode]:
        """Nodes found by :meth:`discover` or learnt from their INF, in the order met."""
        return list(self.driver.session.known_nodes.values())

    def _dest(self, host: Address) -> Address:
        if host is MULTICAST or isinstance(host, tuple):
            return host
        return _address(str(host), self.default_port)

    async def _run(self, start: Callable[[float], int]) -> RequestDone:
        outcome = await self.driver.request(start)
        if isinstance(outcome, RequestFailed):
            raise SessionError(
                f"request failed after {outcome.attempts} attempts: {outcome.reason}"
            )
        return outcome

    async def get(self, host: Address, eoj: EOJ, epcs: Iterable[int | str]) -> RequestDone:
        """Read ``epcs`` (EPCs or property names) from ``eoj`` at ``host``.

        Refused EPCs are listed in ``refused``; an unknown name raises ``ValueError``.
        """
        dest = self._dest(host)
        wanted = resolve_epcs(eoj.class_id, epcs)
        return await self._run(lambda now: self.driver.session.get(dest, eoj, wanted, now))

    async def get_values(
        self, host: Address, eoj: EOJ, epcs: Iterable[int | str]
    ) -> dict[int | str, Any]:
        """Read ``epcs`` as ``{key: typed value}``, keyed as asked (EPC or property name).

        A refused EPC raises :class:`SessionError`.
        """
        keys = list(epcs)
        done = await self.get(host, eoj, keys)
        if done.refused:
            refused = ", ".join(f"0x{e:02X}" for e in done.refused)
            raise SessionError(f"{eoj} refused {refused}", hint=int(done.esv))
        by_epc = {epc: value.value for epc, value in done.values.items()}
        found: dict[int | str, Any] = {}
        for key in keys:
            epc = resolve_epc(eoj.class_id, key)
            if epc in by_epc:
                found[key] = by_epc[epc]
        return found

    async def set(
        self, host: Address, eoj: EOJ, values: PropertyValues, *, confirm: bool = True
    ) -> RequestDone:
        """Write ``values`` (typed or EDT bytes) with SetC, or SetI when ``confirm=False``.

        Keys are EPCs or property names: ``{"operationStatus": True, 0xB3: 25}``.
        """
        dest = self._dest(host)
        return await self._run(
            lambda now: self.driver.session.set(dest, eoj, values, now, confirm=confirm)
        )

    async def inf_req(self, host: Address, eoj: EOJ, epcs: Iterable[int | str]) -> RequestDone:
        dest = self._dest(host)
        wanted = resolve_epcs(eoj.class_id, epcs)
        return await self._run(lambda now: self.driver.session.inf_req(dest, eoj, wanted, now))

    async def discover(self, target: Address = MULTICAST) -> list[DiscoveredNode]:
        """Ask every node (or ``target``) for its instance list 0xD6; lists who answered.

        A multicast discovery also asks each of :attr:`hosts` by unicast; a host
        that does not answer is left out (a ``target`` that does not raises).
        """
        if target is not MULTICAST or not self.hosts:
            found = await self._discover_one(self._dest(target))
        else:
            asked = [self._dest(MULTICAST), *(self._dest(host) for host in self.hosts)]
            outcomes = await asyncio.gather(
                *(self._discover_one(dest) for dest in asked), return_exceptions=True
            )
            found = []
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, SessionError):
                        raise outcome
                    log.debug("unicast discovery failed: %s", outcome)
                    continue
                found.extend(outcome)
        nodes: list[DiscoveredNode] = []
        for node in found:  # a node heard twice (multicast and unicast) is listed once
            if not any(same_host(node.address, seen.address) for seen in nodes):
                nodes.append(node)
                self.driver.session.remember(node)
        return nodes

    async def _discover_one(self, dest: Address) -> list[DiscoveredNode]:
        done = await self._run(
            lambda now: self.driver.session.get(
                dest,
                _NODE_PROFILE_ALL if dest is MULTICAST else NODE_PROFILE,
                [_SELF_NODE_INSTANCE_LIST],
                now,
            )
        )
        nodes = []
        for response in done.responses:
            for value in response.values:
                if value.epc == _SELF_NODE_INSTANCE_LIST:
                    nodes.append(DiscoveredNode(response.source, tuple(value.value)))
        return nodes

    async def notifications(self) -> AsyncIterator[Notification]:
        """INF and INFC frames as they arrive (INFC already answered)."""
        while True:
            yield await self.driver.notifications.get()


@asynccontextmanager
async def serve_node(
    node: Node,
    *,
    local: tuple[str, int] = (ANY_IPV4, ECHONET_PORT),
    group: tuple[str, int] | None = None,
    join_group: bool = True,
    reply_port: int | None = ECHONET_PORT,
    clock: Callable[[], float] = time.time,
    interface: Interfaces = None,
    reuse_address: bool = False,
) -> AsyncIterator[UDPLink]:
    """Serve ``node`` on UDP until the context exits; announces its instance list at start.

    Answers go to port 3610 of the requester, whatever port the request came
    from (Part II §3.1.2: the destination port of ECHONET Lite over UDP is
    always 3610). ``reply_port=None`` answers the request's source port
    instead, for clients that listen on an ephemeral port. The node joins the
    ECHONET group on ``interface`` or on the interface of ``local`` (see
    :class:`UDPLink`), so it answers a multicast Get of 0xD6.
    """
    session = Session(node=node)
    async with UDPLink(
        session,
        local=local,
        group=group,
        join_group=join_group,
        reply_port=reply_port,
        interface=interface,
        reuse_address=reuse_address,
        clock=clock,
    ) as link:
        node.start(clock())
        await link.driver.flush()
        yield link
