"""ECHONET Lite over UDP (port 3610) with asyncio-dgram: client and node server.

Multicast is sent to 224.0.23.0 (IPv4) or ff02::1 (IPv6), port 3610
(ECHONET Lite Specification Part II §3.1.2). Where no multicast route exists
(loopback tests), ``group`` may name a unicast address instead.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import asyncio_dgram
from asyncio_dgram.aio import DatagramServer, TransportClosed

from ..echonet.events import (
    MULTICAST,
    Address,
    Notification,
    RequestDone,
    RequestFailed,
)
from ..echonet.frame import EOJ
from ..echonet.node import NODE_PROFILE, Node
from ..echonet.session import Session
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

#: UDP port and multicast groups of ECHONET Lite (Part II §3.1.2).
ECHONET_PORT: Final = 3610
IPV4_GROUP: Final = "224.0.23.0"
IPV6_GROUP: Final = "ff02::1"
_NODE_PROFILE_ALL: Final = EOJ(0x0E, 0xF0, 0x00)
_SELF_NODE_INSTANCE_LIST: Final = 0xD6


@dataclass(frozen=True, slots=True)
class DiscoveredNode:
    """A node that answered discovery, with the device objects it lists in 0xD6."""

    address: Address
    instances: tuple[EOJ, ...]


class UDPLink:
    """One UDP socket carrying a :class:`Session` (and its node, if any)."""

    def __init__(
        self,
        session: Session,
        *,
        local: tuple[str, int] = (ANY_IPV4, 0),
        group: tuple[str, int] = (IPV4_GROUP, ECHONET_PORT),
        join_group: bool = False,
        reply_port: int | None = None,
        interface: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.local = local
        #: Network interface for multicast (needed for ff02::1, a link-scope group).
        self.interface = interface
        self.group = group
        self.join_group = join_group
        self.reply_port = reply_port
        self.driver = SessionDriver(session, self._send, clock=clock)
        self._stream: DatagramServer | None = None
        self._reader: asyncio.Task[None] | None = None
        #: Datagrams the socket refused to send (the session retries them).
        self.send_errors = 0

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

    def _make_socket(self) -> socket.socket:
        host, port = self.local
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        index = socket.if_nametoindex(self.interface) if self.interface else 0
        if family == socket.AF_INET6 and index:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        if self.join_group:
            group = self.group[0]
            if family == socket.AF_INET:
                request = struct.pack("=4s4s", socket.inet_aton(group), socket.inet_aton(ANY_IPV4))
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
            else:
                request = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, request)
        sock.setblocking(False)
        return sock

    async def open(self) -> None:
        try:
            stream = await asyncio_dgram.from_socket(self._make_socket())
        except OSError as exc:
            raise TransportError(f"cannot open UDP socket on {self.local}: {exc}") from exc
        if not isinstance(stream, DatagramServer):
            stream.close()
            raise TransportError("expected an unconnected UDP socket")
        self._stream = stream
        self.driver.start()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError, TransportClosed):
                await self._reader
            self._reader = None
        await self.driver.stop()
        if self._stream is not None:
            self._stream.close()
            self._stream = None

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

    async def _read(self) -> None:
        assert self._stream is not None
        while True:
            try:
                data, source = await self._stream.recv()
            except TransportClosed:
                return
            except OSError as exc:
                # An ICMP error for an earlier send (port unreachable): UDP
                # loses datagrams; the session's retries cover it.
                log.debug("socket error on %s: %s", self.local, exc)
                continue
            peer: Any = source
            await self.driver.feed(data, (str(peer[0]), int(peer[1])))

    async def _send(self, data: bytes, dest: Address) -> None:
        if self._stream is None:
            raise TransportError("link is not open")
        if dest is MULTICAST:
            target = self.group
        elif isinstance(dest, tuple) and len(dest) >= 2:
            target = (str(dest[0]), self.reply_port or int(dest[1]))
        else:
            raise TransportError(f"not a UDP address: {dest!r}")
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
    ) -> None:
        self.driver = driver
        self.default_port = default_port
        #: The UDP link under the client, when it runs over UDP.
        self.link = link

    @classmethod
    @asynccontextmanager
    async def udp(
        cls,
        *,
        local: tuple[str, int] = (ANY_IPV4, ECHONET_PORT),
        group: tuple[str, int] = (IPV4_GROUP, ECHONET_PORT),
        timeout: float = 5.0,
        retries: int = 2,
        node: Node | None = None,
    ) -> AsyncIterator[EchonetClient]:
        session = Session(timeout=timeout, retries=retries, node=node)
        async with UDPLink(session, local=local, group=group) as link:
            yield cls(link.driver, link=link)

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

    async def get(self, host: Address, eoj: EOJ, epcs: Iterable[int]) -> RequestDone:
        """Read ``epcs`` from ``eoj`` at ``host``; refused EPCs are listed in ``refused``."""
        dest = self._dest(host)
        wanted = list(epcs)
        return await self._run(lambda now: self.driver.session.get(dest, eoj, wanted, now))

    async def get_values(self, host: Address, eoj: EOJ, epcs: Iterable[int]) -> dict[int, Any]:
        """Read ``epcs`` as ``{epc: typed value}``; a refused EPC raises :class:`SessionError`."""
        done = await self.get(host, eoj, epcs)
        if done.refused:
            refused = ", ".join(f"0x{e:02X}" for e in done.refused)
            raise SessionError(f"{eoj} refused {refused}", hint=int(done.esv))
        return {epc: value.value for epc, value in done.values.items()}

    async def set(
        self, host: Address, eoj: EOJ, values: Mapping[int, Any], *, confirm: bool = True
    ) -> RequestDone:
        """Write ``values`` (typed or EDT bytes) with SetC, or SetI when ``confirm=False``."""
        dest = self._dest(host)
        return await self._run(
            lambda now: self.driver.session.set(dest, eoj, values, now, confirm=confirm)
        )

    async def inf_req(self, host: Address, eoj: EOJ, epcs: Iterable[int]) -> RequestDone:
        dest = self._dest(host)
        wanted = list(epcs)
        return await self._run(lambda now: self.driver.session.inf_req(dest, eoj, wanted, now))

    async def discover(self, target: Address = MULTICAST) -> list[DiscoveredNode]:
        """Ask every node (or ``target``) for its instance list 0xD6; lists who answered."""
        dest = self._dest(target)
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
    group: tuple[str, int] = (IPV4_GROUP, ECHONET_PORT),
    join_group: bool = False,
    reply_port: int | None = ECHONET_PORT,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[UDPLink]:
    """Serve ``node`` on UDP until the context exits; announces its instance list at start.

    Answers go to port 3610 of the requester, whatever port the request came
    from (Part II §3.1.2: the destination port of ECHONET Lite over UDP is
    always 3610). ``reply_port=None`` answers the request's source port
    instead, for clients that listen on an ephemeral port.
    """
    session = Session(node=node)
    async with UDPLink(
        session,
        local=local,
        group=group,
        join_group=join_group,
        reply_port=reply_port,
        clock=clock,
    ) as link:
        node.start(clock())
        await link.driver.flush()
        yield link
