"""The UDP link on real sockets: ECHONET multicast on loopback, busy addresses, spoofed answers.

Linux delivers multicast sent with ``IP_MULTICAST_IF`` = a loopback address over ``lo``
even though ``lo`` has no MULTICAST flag, so these tests need no namespace: every datagram
stays on 127.0.0.x. Each test uses its own loopback addresses; other ECHONET nodes on the
host may hear the group too, so results are filtered by address, never counted whole.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import pytest

from smartmeter_proto.conformance import Outcome, RunConfig, run_conformance, text_report
from smartmeter_proto.echonet import frame as el_frame
from smartmeter_proto.echonet.frame import ESV, Frame, Property
from smartmeter_proto.echonet.session import Session
from smartmeter_proto.errors import TransportError
from smartmeter_proto.sim.clock import VirtualClock
from smartmeter_proto.sim.meter import METER_EOJ, SimulatedMeter, meter_node
from smartmeter_proto.transport.udp import ECHONET_PORT, EchonetClient, UDPLink, serve_node

pytestmark = pytest.mark.e2e

_T = TypeVar("_T")
#: Generous: only guards against a hang, never decides an outcome.
_HANG_GUARD_S: Final = 30.0


def run(coro: Awaitable[_T]) -> _T:
    async def bounded() -> _T:
        return await asyncio.wait_for(coro, _HANG_GUARD_S)

    return asyncio.run(bounded())


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``, turn by turn (the hang guard bounds it)."""
    while not condition():
        await asyncio.sleep(0.005)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------- busy addresses
def test_a_busy_address_is_an_error_unless_sharing_is_asked_for() -> None:
    host = "127.0.0.71"
    port = _free_port(host)

    async def scenario() -> None:
        async with UDPLink(Session(), local=(host, port), join_group=False) as first:
            assert first.address == (host, port)
            with pytest.raises(TransportError, match=f"address {host}:{port} is already in use"):
                async with UDPLink(Session(), local=(host, port), join_group=False):
                    pass
        async with (
            UDPLink(Session(), local=(host, port), join_group=False, reuse_address=True),
            UDPLink(Session(), local=(host, port), join_group=False, reuse_address=True) as b,
        ):
            assert b.address == (host, port)

    run(scenario())


def test_an_unknown_interface_is_named() -> None:
    async def scenario() -> None:
        with pytest.raises(TransportError, match="no network interface 'nosuch0'"):
            async with UDPLink(Session(), local=("127.0.0.72", 0), interface="nosuch0"):
                pass

    run(scenario())


# ------------------------------------------------------------------- multicast on loopback
METER_HOST: Final = "127.0.0.73"
CLIENT_HOST: Final = "127.0.0.74"


def test_client_discovers_by_multicast_learns_from_the_inf_and_ignores_its_own_echo() -> None:
    async def scenario() -> None:
        async with EchonetClient.udp(local=(CLIENT_HOST, ECHONET_PORT), timeout=0.5) as client:
            assert client.link is not None
            assert client.link.joined == (CLIENT_HOST,)
            node = meter_node(SimulatedMeter(announce_fixed_time=False))
            async with serve_node(node, local=(METER_HOST, ECHONET_PORT)) as server:
                assert server.joined == (METER_HOST,)
                # The instance-list INF 0xD5 at start reached the client through the group.
                note = await client.driver.notifications.get()
                while note.source[0] != METER_HOST:
                    note = await client.driver.notifications.get()
                assert note.frame.properties[0].epc == 0xD5
                learnt = {n.address[0]: n for n in client.known_nodes}
                assert learnt[METER_HOST].instances == (METER_EOJ,)
                # A multicast Get of 0xD6 is answered by the meter.
                nodes = await client.discover()
                ours = [n for n in nodes if n.address[0] == METER_HOST]
                assert [n.instances for n in ours] == [(METER_EOJ,)]
                assert ours[0].address == (METER_HOST, ECHONET_PORT)
                # Our own multicast came back on loopback and was recognised, not dropped.
                assert client.link.own_echoes >= 1
                assert client.driver.session.dropped == 0
                assert server.own_echoes >= 1  # its INF 0xD5 came back to it too

    run(scenario())


def test_any_inf_from_an_unknown_node_is_learnt_through_a_get_of_d6() -> None:
    meter_host, client_host = "127.0.0.75", "127.0.0.76"

    async def scenario() -> None:
        node = meter_node(SimulatedMeter(announce_fixed_time=False))
        # The client starts after the meter: it missed the INF 0xD5.
        async with (
            serve_node(node, local=(meter_host, ECHONET_PORT)) as server,
            EchonetClient.udp(local=(client_host, ECHONET_PORT), timeout=1.0) as client,
        ):
            assert all(n.address[0] != meter_host for n in client.known_nodes)
            node.update(METER_EOJ, 0x80, "off", server.driver.clock())  # 0x80 is in 0x9D
            await server.driver.flush()
            await _until(lambda: any(n.address[0] == meter_host for n in client.known_nodes))
            learnt = next(n for n in client.known_nodes if n.address[0] == meter_host)
            assert learnt.instances == (METER_EOJ,)

    run(scenario())


def test_unicast_hosts_are_asked_where_multicast_does_not_reach() -> None:
    meter_host, client_host = "127.0.0.77", "127.0.0.78"

    async def scenario() -> None:
        node = meter_node(SimulatedMeter(announce_fixed_time=False))
        # The meter does not join: a network that filters multicast.
        async with (
            serve_node(node, local=(meter_host, ECHONET_PORT), join_group=False),
            EchonetClient.udp(
                local=(client_host, ECHONET_PORT), timeout=0.5, hosts=[meter_host]
            ) as client,
        ):
            nodes = await client.discover()
            ours = [n for n in nodes if n.address[0] == meter_host]
            assert [n.instances for n in ours] == [(METER_EOJ,)]

    run(scenario())


def test_conformance_passes_over_multicast_with_status_inf() -> None:
    meter_host, client_host = "127.0.0.79", "127.0.0.80"

    async def scenario() -> None:
        node = meter_node(SimulatedMeter(announce_fixed_time=False))
        async with (
            serve_node(node, local=(meter_host, ECHONET_PORT)),
            EchonetClient.udp(local=(client_host, ECHONET_PORT), timeout=0.5, retries=1) as client,
        ):
            # Answer times on a virtual clock: the bound is judged, not the machine's speed.
            report = await run_conformance(
                client,
                (meter_host, ECHONET_PORT),
                RunConfig(response_bound_s=0.2, allow_writes=True),
                clock=VirtualClock(0.0),
            )
        by_key = {(r.check_id, r.subject): r for r in report.results}
        assert report.ok, text_report(report)
        assert by_key[("object.status_inf", str(METER_EOJ))].outcome is Outcome.PASS

    run(scenario())


# --------------------------------------------------------------------------- spoofed answers
def test_a_spoofed_answer_from_another_address_is_dropped_and_the_genuine_one_wins() -> None:
    node_host, spoofer_host, client_host = "127.0.0.81", "127.0.0.3", "127.0.0.82"

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as genuine,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoofer,
        ):
            genuine.bind((node_host, 0))
            spoofer.bind((spoofer_host, 0))
            genuine.setblocking(False)
            async with EchonetClient.udp(
                local=(client_host, 0), timeout=5.0, retries=0, join_group=False
            ) as client:
                assert client.link is not None
                asked = asyncio.ensure_future(
                    client.get_values(genuine.getsockname(), METER_EOJ, [0xE7])
                )
                data, source = await loop.sock_recvfrom(genuine, 1024)
                request = el_frame.decode(data)
                assert isinstance(request, Frame)

                def answer(watts: int) -> bytes:
                    edt = watts.to_bytes(4, "big", signed=True)
                    reply = Frame(
                        request.tid, METER_EOJ, request.seoj, ESV.GET_RES, (Property(0xE7, edt),)
                    )
                    return el_frame.encode(reply)

                session = client.driver.session
                # The spoofer answers first, with the right TID and SEOJ.
                spoofer.sendto(answer(9999), source)
                await _until(lambda: session.foreign_answers == 1)
                assert not asked.done()
                genuine.sendto(answer(228), source)
                assert await asked == {0xE7: 228}
                assert session.dropped == 1

    run(scenario())
