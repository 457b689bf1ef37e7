"""ECHONET Lite over UDP (port 3610): the client and the node server.

Multicast goes to 224.0.23.0 (IPv4) or ff02::1 (IPv6), port 3610 (ECHONET Lite
Specification Part II §3.1.2). A link joins that group by default, on the bound
address's interface or on the interfaces named; how, and how it drops its own
multicast when it loops back, is :mod:`.datagram`'s, the one UDP adapter of the library.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, Final

from ..echonet.events import (
    MULTICAST,
    Address,
    DiscoveredNode,
    Event,
    Notification,
    RequestDone,
    RequestFailed,
)
from ..echonet.frame import ECHONET_PORT, EOJ
from ..echonet.node import NODE_PROFILE, NODE_PROFILE_ANY, SELF_NODE_INSTANCE_LIST, Node
from ..echonet.session import PropertyValues, Session, resolve_epc, resolve_epcs, same_host
from ..errors import SessionError
from .datagram import ANY_IPV4, ANY_IPV6, DatagramLink, Interfaces, family_of
from .driver import SessionDriver

__all__ = [
    "ANY_IPV4",
    "ANY_IPV6",
    "ECHONET_PORT",
    "IPV4_GROUP",
    "IPV6_GROUP",
    "DiscoveredNode",
    "EchonetClient",
    "UDPLink",
    "serve_node",
]

log = logging.getLogger(__name__)

IPV4_GROUP: Final = "224.0.23.0"
IPV6_GROUP: Final = "ff02::1"


class UDPLink(DatagramLink):
    """ECHONET Lite on UDP: a :class:`Session` (and its node, if any) on a :class:`DatagramLink`.

    ``join_group`` joins the ECHONET group (see :mod:`.datagram`) on ``interface`` (a name
    or a list of names) or on the interface of ``local``; ``reuse_address`` lets another
    socket share ``local`` (off: a busy address is an error). ``group`` defaults to
    224.0.23.0 or ff02::1 by the family of ``local``, port 3610. :attr:`driver` runs the
    session's requests and queues its notifications.
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
        if group is None:
            v6 = family_of(local[0]) == socket.AF_INET6
            group = (IPV6_GROUP if v6 else IPV4_GROUP, ECHONET_PORT)
        super().__init__(
            session,
            local=local,
            group=group,
            join_group=join_group,
            interface=interface,
            reuse_address=reuse_address,
            reply_port=reply_port,
            clock=clock,
            on_events=self._dispatch,
        )
        self.driver = SessionDriver(session, carrier=self, clock=clock)

    @property
    def session(self) -> Session:
        return self.driver.session

    def _dispatch(self, events: list[Event]) -> None:
        self.driver.dispatch(events)

    async def open(self) -> None:
        await super().open()
        self.driver.start()

    async def close(self) -> None:
        await self.driver.stop()
        await super().close()

    async def __aenter__(self) -> UDPLink:
        await self.open()
        return self


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
                NODE_PROFILE_ANY if dest is MULTICAST else NODE_PROFILE,
                [SELF_NODE_INSTANCE_LIST],
                now,
            )
        )
        nodes = []
        for response in done.responses:
            for value in response.values:
                if value.epc == SELF_NODE_INSTANCE_LIST:
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
